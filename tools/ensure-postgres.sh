#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl, postgres) and the contrib module
# pg_stat_statements are installed, then print the bin/ directory that holds them:
#
#     export PATCHBAY_POSTGRES_BIN="$(bash tools/ensure-postgres.sh)"
#
# Looks in $PATCHBAY_POSTGRES_BIN, /usr/lib/postgresql/*/bin (newest first) and PATH. When
# nothing fits, installs Debian's `postgresql postgresql-contrib` with apt-get (as root, or
# through sudo) without creating or starting the default cluster on port 5432: the tests
# start their own throw-away cluster on a free port. Idempotent and quick once installed.
# Only the bin path goes to stdout; progress and errors go to stderr.
set -euo pipefail
# shellcheck source=tools/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

say() { echo "ensure-postgres: $*" >&2; }

case "${1:-}" in
  "") ;;
  -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) say "unknown option: $1 (try --help)"; exit 2 ;;
esac

# Does $1 hold the server binaries, with pg_stat_statements installed for them?
usable() {
  local bin="$1" tool libdir
  for tool in initdb pg_ctl postgres; do
    [[ -x "$bin/$tool" ]] || return 1
  done
  if [[ -x "$bin/pg_config" ]] && libdir="$("$bin/pg_config" --pkglibdir 2>/dev/null)" && [[ -n "$libdir" ]]; then
    [[ -e "$libdir/pg_stat_statements.so" ]] || return 1
  elif [[ -d "$bin/../lib" ]]; then
    [[ -e "$bin/../lib/pg_stat_statements.so" ]] || return 1
  fi
  return 0
}

find_bin() {
  local candidates=() dir
  [[ -n "${PATCHBAY_POSTGRES_BIN:-}" ]] && candidates+=("$PATCHBAY_POSTGRES_BIN")
  # Newest major version first (sort -V: 9.6 < 15 < 16).
  while IFS= read -r dir; do
    candidates+=("$dir")
  done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r)
  if command -v pg_ctl >/dev/null 2>&1; then
    candidates+=("$(dirname "$(readlink -f "$(command -v pg_ctl)")")")
  fi
  for dir in "${candidates[@]}"; do
    if usable "$dir"; then
      (cd "$dir" && pwd -P)
      return 0
    fi
  done
  return 1
}

# shellcheck disable=SC2329  # apt_ensure calls it
install_postgres() {
  say "installing postgresql and postgresql-contrib with apt-get"
  apt_install_updating postgresql-common
  # No default cluster: the package would otherwise create one on 5432 and try to start it.
  local conf=/etc/postgresql-common/createcluster.conf
  if [[ -f "$conf" ]] && ! grep -Eq '^[[:space:]]*create_main_cluster[[:space:]]*=[[:space:]]*false' "$conf"; then
    "${as_root[@]}" sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*$/create_main_cluster = false/' "$conf"
    grep -Eq '^create_main_cluster = false' "$conf" || echo "create_main_cluster = false" | "${as_root[@]}" tee -a "$conf" >/dev/null
  fi
  apt_install postgresql postgresql-contrib
}

apt_ensure postgres install_postgres \
  "no PostgreSQL server binaries with pg_stat_statements found, and no apt-get to install them." \
  "Install the PostgreSQL server and its contrib modules, then set PATCHBAY_POSTGRES_BIN to its bin/ directory." \
  "PostgreSQL is missing and installing it needs root: run as root, or: sudo apt-get install -y postgresql postgresql-contrib" \
  "installed postgresql and postgresql-contrib, but found no server binaries with pg_stat_statements"
