#!/usr/bin/env bash
# Make sure the archived reference MCP GitHub server (npm @modelcontextprotocol/server-github,
# pinned) is installed, then print the absolute path of its entry script. It reads its token
# from GITHUB_PERSONAL_ACCESS_TOKEN and its API root from GITHUB_API_URL (the benchmark points
# that at the in-repo fake GitHub):
#
#     GITHUB_PERSONAL_ACCESS_TOKEN=... GITHUB_API_URL=http://127.0.0.1:PORT \
#         node "$(bash tools/ensure-reference-github.sh)"
#
# The pin is the npm `latest` dist-tag (2025.4.8, the last release before it was archived).
# Everything goes into ${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}/server-github-<version>/,
# one folder per version, so a pin change installs alongside and an installed version is
# never touched. Idempotent and fast (no npm call) once installed; safe to run concurrently
# (flock). Only the path goes to stdout; progress and errors go to stderr.
#
# Options: --print-command   print two lines instead: the node binary, then the entry script.
# Env:     PATCHBAY_TOOLS_DIR, PATCHBAY_REFERENCE_GITHUB_VERSION (override the pin),
#          PATCHBAY_REFERENCE_NODE (node binary to run it with; default: `node` on PATH).
set -euo pipefail
# shellcheck source=tools/lib/reference-server.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/reference-server.sh"

VERSION="${PATCHBAY_REFERENCE_GITHUB_VERSION:-2025.4.8}"
TOOLS_DIR="${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}"
PACKAGE="@modelcontextprotocol/server-github"

print_command=0
case "${1:-}" in
  "") ;;
  --print-command) print_command=1 ;;
  -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "ensure-reference-github: unknown option: $1 (try --help)" >&2; exit 2 ;;
esac

say() { echo "ensure-reference-github: $*" >&2; }

export GITHUB_PERSONAL_ACCESS_TOKEN="${GITHUB_PERSONAL_ACCESS_TOKEN:-smoke-test-token}"  # it exits at once without one
reference_server_main 18 "the reference server needs" patchbay-reference-github \
  "The reference MCP GitHub server for Patchbay's benchmark (made by tools/ensure-reference-github.sh)"
