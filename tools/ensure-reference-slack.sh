#!/usr/bin/env bash
# Make sure the two Slack MCP servers the benchmark compares against are installed, then print
# the folder they are in (its node_modules/ holds both):
#
#   - the archived reference @modelcontextprotocol/server-slack (2025.4.25, the last release;
#     Node, entry node_modules/@modelcontextprotocol/server-slack/dist/index.js);
#   - korotovsky's slack-mcp-server (1.3.0; a Go binary inside the npm package
#     slack-mcp-server-linux-amd64, run through node_modules/.bin/slack-mcp-server).
#
# Everything goes into ${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}/slack-peers-<versions>/,
# whole or not at all (tools/lib/npm-tool.sh). Idempotent and fast once installed; only the
# path goes to stdout.
# Env: PATCHBAY_TOOLS_DIR.
set -euo pipefail
# shellcheck source=tools/lib/npm-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/npm-tool.sh"

REFERENCE_VERSION="2025.4.25"
KOROTOVSKY_VERSION="1.3.0"
TOOLS_DIR="${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}"
target="$TOOLS_DIR/slack-peers-$REFERENCE_VERSION-$KOROTOVSKY_VERSION"

say() { echo "ensure-reference-slack: $*" >&2; }

installed() {
  [[ -f "$target/.complete" && -f "$target/node_modules/@modelcontextprotocol/server-slack/dist/index.js" ]]
}

npm_tool_verify() {
  local staging="$1"
  if [[ ! -f "$staging/node_modules/@modelcontextprotocol/server-slack/dist/index.js" ]]; then
    say "the reference server's entry script is missing"
    exit 1
  fi
  if [[ ! -x "$staging/node_modules/.bin/slack-mcp-server" ]]; then
    say "slack-mcp-server's launcher is missing (its Go binary ships for linux-amd64 and a few others)"
    exit 1
  fi
}

if ! installed; then
  npm_tool_require_npm
  npm_tool_install "$target" "$TOOLS_DIR/.lock-slack-peers" patchbay-slack-peers \
    "The Slack MCP servers Patchbay's benchmark compares against (made by tools/ensure-reference-slack.sh)" \
    "@modelcontextprotocol/server-slack $REFERENCE_VERSION, slack-mcp-server $KOROTOVSKY_VERSION" \
    "@modelcontextprotocol/server-slack@$REFERENCE_VERSION" "slack-mcp-server@$KOROTOVSKY_VERSION"
fi
echo "$target"
