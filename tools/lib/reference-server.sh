# shellcheck shell=bash
# Sourced by tools/ensure-reference-fs.sh and tools/ensure-reference-postgres.sh. Each installs
# one reference MCP server, a pinned npm package whose entry script is dist/index.js, and
# prints the entry's path. The script sets PACKAGE, VERSION, TOOLS_DIR and print_command (1 for
# --print-command), defines `say`, then calls reference_server_main.
# shellcheck source=tools/lib/npm-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/npm-tool.sh"

# reference_server_main NODE_MIN NODE_NEEDS NAME DESCRIPTION [SMOKE_ARG...]
#
# The rest of the script. The server goes into $TOOLS_DIR/<package name without its scope>-VERSION
# (npm_tool_install, no npm call when it is there; NAME and DESCRIPTION go into its package.json),
# locked by $TOOLS_DIR/.lock-<the same name>. It runs on PATCHBAY_REFERENCE_NODE, else `node` on
# PATH, which must be Node >= NODE_MIN: else it stops with "... is Node N; NODE_NEEDS Node >= NODE_MIN".
# The fresh install must report VERSION and start on that node with the SMOKE_ARGs (`{}` in one
# stands for the install's folder) and an empty stdin: read end-of-file and exit 0 within 60 s.
# Prints the entry's path, after the node's for --print-command.
reference_server_main() {
  # Globals, not locals: find_node, emit, installed and npm_tool_verify below read them.
  node_min="$1" node_needs="$2"
  local name="$3" description="$4"
  shift 4
  smoke_args=("$@")
  target="$TOOLS_DIR/${PACKAGE##*/}-$VERSION"
  entry="$target/node_modules/$PACKAGE/dist/index.js"

  if ! installed; then
    npm_tool_require_npm
    node="$(find_node)"
    npm_tool_install "$target" "$TOOLS_DIR/.lock-${PACKAGE##*/}" "$name" "$description" \
      "$PACKAGE $VERSION (runs on node $("$node" --version))" "$PACKAGE@$VERSION"
  fi
  emit
}

find_node() {
  local node="${PATCHBAY_REFERENCE_NODE:-}"
  if [[ -z "$node" ]]; then
    node="$(command -v node || true)"
  fi
  if [[ -z "$node" || ! -x "$node" ]]; then
    say "node not found. Install Node.js >= $node_min and npm (Debian: apt-get install -y nodejs npm), or set PATCHBAY_REFERENCE_NODE."
    exit 1
  fi
  local major
  major="$("$node" -p 'process.versions.node.split(".")[0]')"
  if (( major < node_min )); then
    say "$node is Node $major; $node_needs Node >= $node_min (try: PATCHBAY_REFERENCE_NODE=\"\$(bash tools/ensure-node22.sh)/node\")"
    exit 1
  fi
  echo "$node"
}

# shellcheck disable=SC2154  # print_command is the script's
emit() {
  if [[ $print_command == 1 ]]; then
    find_node
  fi
  echo "$entry"
}

installed() {
  [[ -f "$target/.complete" && -f "$entry" ]]
}

# Called by npm_tool_install with the fresh install.
npm_tool_verify() {
  local staging="$1" got out arg args=()
  got="$("$node" -p "require('$staging/node_modules/$PACKAGE/package.json').version")"
  if [[ "$got" != "$VERSION" ]]; then
    say "installed $PACKAGE reports $got, expected $VERSION"
    exit 1
  fi
  # Smoke test: the entry must load on this node; a missing dependency or a syntax error fails.
  for arg in ${smoke_args[@]+"${smoke_args[@]}"}; do
    args+=("${arg//\{\}/"$staging"}")
  done
  if ! out="$(timeout 60 "$node" "$staging/node_modules/$PACKAGE/dist/index.js" ${args[@]+"${args[@]}"} 2>&1 </dev/null)"; then
    say "the entry script does not start on node $("$node" --version): $out"
    exit 1
  fi
}
