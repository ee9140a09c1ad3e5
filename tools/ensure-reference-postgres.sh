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
# shellcheck source=tools/lib/reference-server.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/reference-server.sh"

VERSION="${PATCHBAY_REFERENCE_POSTGRES_VERSION:-0.6.2}"
TOOLS_DIR="${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}"
PACKAGE="@modelcontextprotocol/server-postgres"

print_command=0
case "${1:-}" in
  "") ;;
  --print-command) print_command=1 ;;
  -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "ensure-reference-postgres: unknown option: $1 (try --help)" >&2; exit 2 ;;
esac

say() { echo "ensure-reference-postgres: $*" >&2; }

# It needs Node >= 18. Smoke test: given a connection string (its pool connects lazily, so
# nothing needs to listen there) and an empty stdin, the entry starts, reads end-of-file and
# exits 0.
reference_server_main 18 "the reference server needs" patchbay-reference-postgres \
  "The reference MCP PostgreSQL server for Patchbay's benchmark (made by tools/ensure-reference-postgres.sh)" \
  "postgresql://nobody@127.0.0.1:1/none"
