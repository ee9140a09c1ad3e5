#!/usr/bin/env bash
# Make sure the reference MCP PostgreSQL server (npm @modelcontextprotocol/server-postgres,
# pinned; archived upstream) is installed, then print the absolute path of its entry script.
# It takes the connection string as its only argument. Run it with node:
#
#     node "$(bash tools/ensure-reference-postgres.sh)" postgresql://user:pw@127.0.0.1:5432/db
#
# The pin is the npm `latest` dist-tag (0.6.2, the last release; the only other one is 0.3.0).
# It depends on @modelcontextprotocol/sdk 1.0.1 (protocol 2024-11-05) and pg ^8.13, declares
# no `engines`, and runs on the system Node 20.
# Everything goes into ${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}/server-postgres-<version>/,
# one folder per version, so a pin change installs alongside and an installed version is
# never touched. Idempotent and fast (no npm call) once installed; safe to run concurrently
# (flock). Only the path goes to stdout; progress and errors go to stderr.
#
# Options: --print-command   print two lines instead: the node binary, then the entry script.
# Env:     PATCHBAY_TOOLS_DIR, PATCHBAY_REFERENCE_POSTGRES_VERSION (override the pin),
#          PATCHBAY_REFERENCE_NODE (node binary to run it with; default: `node` on PATH).
set -euo pipefail

VERSION="${PATCHBAY_REFERENCE_POSTGRES_VERSION:-0.6.2}"
TOOLS_DIR="${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}"
PACKAGE="@modelcontextprotocol/server-postgres"

print_command=0
case "${1:-}" in
  "") ;;
  --print-command) print_command=1 ;;
  -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "ensure-reference-postgres: unknown option: $1 (try --help)" >&2; exit 2 ;;
esac

say() { echo "ensure-reference-postgres: $*" >&2; }

target="$TOOLS_DIR/server-postgres-$VERSION"
entry="$target/node_modules/$PACKAGE/dist/index.js"

find_node() {
  local node="${PATCHBAY_REFERENCE_NODE:-}"
  if [[ -z "$node" ]]; then
    node="$(command -v node || true)"
  fi
  if [[ -z "$node" || ! -x "$node" ]]; then
    say "node not found. Install Node.js >= 18 and npm (Debian: apt-get install -y nodejs npm), or set PATCHBAY_REFERENCE_NODE."
    exit 1
  fi
  local major
  major="$("$node" -p 'process.versions.node.split(".")[0]')"
  if (( major < 18 )); then
    say "$node is Node $major; the reference server needs Node >= 18 (try: PATCHBAY_REFERENCE_NODE=\"\$(bash tools/ensure-node22.sh)/node\")"
    exit 1
  fi
  echo "$node"
}

emit() {
  if [[ $print_command == 1 ]]; then
    find_node
  fi
  echo "$entry"
}

installed() {
  [[ -f "$target/.complete" && -f "$entry" ]]
}

if installed; then
  emit
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  say "npm not found. Install Node.js and npm (Debian: apt-get install -y nodejs npm), then run this again."
  exit 1
fi
node="$(find_node)"

mkdir -p "$TOOLS_DIR"
# One installer at a time: a second caller waits, then finds the work done.
exec 9>"$TOOLS_DIR/.lock-server-postgres"
if command -v flock >/dev/null 2>&1; then
  flock -w 900 9 || { say "timed out waiting for $TOOLS_DIR/.lock-server-postgres"; exit 1; }
fi
if installed; then
  emit
  exit 0
fi

say "installing $PACKAGE@$VERSION into $target"
staging="$(mktemp -d "$TOOLS_DIR/.staging.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

cat >"$staging/package.json" <<JSON
{
  "name": "patchbay-reference-postgres",
  "private": true,
  "description": "The reference MCP PostgreSQL server for Patchbay's benchmark (made by tools/ensure-reference-postgres.sh)",
  "dependencies": {
    "$PACKAGE": "$VERSION"
  }
}
JSON

(
  cd "$staging"
  npm install --no-audit --no-fund --omit=dev --loglevel=error --no-update-notifier 1>&2
)

got="$("$node" -p "require('$staging/node_modules/$PACKAGE/package.json').version")"
if [[ "$got" != "$VERSION" ]]; then
  say "installed $PACKAGE reports $got, expected $VERSION"
  exit 1
fi
# Smoke test: the entry must load on this node. Given a connection string (its pool connects
# lazily, so nothing needs to listen there) and an empty stdin, it starts, reads end-of-file
# and exits 0; a missing dependency or a syntax error fails.
if ! out="$(timeout 60 "$node" "$staging/node_modules/$PACKAGE/dist/index.js" \
  "postgresql://nobody@127.0.0.1:1/none" 2>&1 </dev/null)"; then
  say "the entry script does not start on node $("$node" --version): $out"
  exit 1
fi
touch "$staging/.complete"
chmod 755 "$staging"  # mktemp -d made it 0700

rm -rf "$target"
mv "$staging" "$target"
trap - EXIT
say "installed: $PACKAGE $VERSION (runs on node $("$node" --version))"
emit
