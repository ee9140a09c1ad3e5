#!/usr/bin/env bash
# Make sure the reference MCP filesystem server (npm @modelcontextprotocol/server-filesystem,
# pinned) is installed, then print the absolute path of its entry script. Run it with node:
#
#     node "$(bash tools/ensure-reference-fs.sh)" /some/dir
#
# The pin is the npm `latest` dist-tag when it was chosen (2026.8.31; it declares no
# `engines`, its dependencies need Node >= 20, so the system Node 20 runs it). 2.0.1 exists
# on npm but is not `latest` and needs Node >= 24, which this machine does not have.
# Everything goes into ${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}/server-filesystem-<version>/,
# one folder per version, so a pin change installs alongside and an installed version is
# never touched. Idempotent and fast (no npm call) once installed; safe to run concurrently
# (flock). Only the path goes to stdout; progress and errors go to stderr.
#
# Options: --print-command   print two lines instead: the node binary, then the entry script.
# Env:     PATCHBAY_TOOLS_DIR, PATCHBAY_REFERENCE_FS_VERSION (override the pin),
#          PATCHBAY_REFERENCE_NODE (node binary to run it with; default: `node` on PATH).
set -euo pipefail
# shellcheck source=tools/lib/reference-server.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/reference-server.sh"

VERSION="${PATCHBAY_REFERENCE_FS_VERSION:-2026.8.31}"
TOOLS_DIR="${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}"
PACKAGE="@modelcontextprotocol/server-filesystem"

print_command=0
case "${1:-}" in
  "") ;;
  --print-command) print_command=1 ;;
  -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "ensure-reference-fs: unknown option: $1 (try --help)" >&2; exit 2 ;;
esac

say() { echo "ensure-reference-fs: $*" >&2; }

# Its dependencies need Node >= 20. Smoke test: given a directory ({}: the fresh install) and an
# empty stdin, the entry starts, reads end-of-file and exits 0.
reference_server_main 20 "the reference server's dependencies need" patchbay-reference-fs \
  "The reference MCP filesystem server for Patchbay's benchmark (made by tools/ensure-reference-fs.sh)" \
  {}
