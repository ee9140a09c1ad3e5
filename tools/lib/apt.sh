# shellcheck shell=bash
# Sourced by the apt-based tools/ensure-*.sh. Messages go through the script's own `say` (to
# stderr); apt-get's output goes to stderr too, as stdout is for the path the script prints.
# shellcheck source=tools/lib/as-root.sh
source "$(dirname "${BASH_SOURCE[0]}")/as-root.sh"

# apt_install PACKAGE...: install without recommends, non-interactively, keeping config files
# that were changed. Needs `as_root` (as_root_or_exit).
apt_install() {
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >&2
}

# apt_install_updating PACKAGE...: apt_install, and when that fails (a fresh machine may have
# no package lists, or stale ones) apt-get update, then apt_install again, whose errors show.
apt_install_updating() {
  if ! apt_install "$@" 2>/dev/null; then
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    apt_install "$@"
  fi
}

# apt_lock NAME: one installer at a time (dpkg has its own lock, but this avoids a failed second
# attempt). Holds ${TMPDIR:-/tmp}/patchbay-ensure-NAME.lock (flock on file descriptor 9, up to
# 15 minutes) until the script exits.
apt_lock() {
  local lock="${TMPDIR:-/tmp}/patchbay-ensure-$1.lock"
  exec 9>>"$lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 900 9 || { say "timed out waiting for $lock"; exit 1; }
  fi
}

# apt_ensure NAME INSTALL NO_APT_GET NO_APT_GET_HINT NEEDS_ROOT NOT_FOUND
#
# The rest of an ensure script whose `find_bin` prints what it looks for and returns 0 when it
# finds it. Never returns: exits 0 once find_bin finds it, else, when apt-get is missing, says
# NO_APT_GET and NO_APT_GET_HINT and exits 1; when it can't run apt-get as root, says
# NEEDS_ROOT and exits 1. Otherwise it takes the lock (apt_lock NAME), runs the function
# INSTALL unless find_bin finds it by then (another installer was first), and exits 0 if
# find_bin finds it now, or says NOT_FOUND and exits 1.
apt_ensure() {
  local name="$1" install="$2" no_apt_get="$3" no_apt_get_hint="$4" needs_root="$5" not_found="$6"
  if find_bin; then
    exit 0
  fi

  if ! command -v apt-get >/dev/null 2>&1; then
    say "$no_apt_get"
    say "$no_apt_get_hint"
    exit 1
  fi
  as_root_or_exit "$needs_root"

  apt_lock "$name"
  if find_bin; then
    exit 0
  fi

  "$install"

  if find_bin; then
    exit 0
  fi
  say "$not_found"
  exit 1
}
