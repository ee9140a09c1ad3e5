#!/usr/bin/env bash
# Make sure an nginx binary is installed, then print its absolute path:
#
#     export PATCHBAY_NGINX="$(bash tools/ensure-nginx.sh)"
#
# Looks in $PATCHBAY_NGINX, /usr/sbin/nginx and PATH. When nothing fits, installs
# Debian's `nginx` with apt-get (--no-install-recommends), as root or through sudo,
# without letting the package start a system nginx on port 80 (a policy-rc.d that denies
# service starts, for the install only, unless one is already in place). The tests and
# benchmarks never use a system nginx: they run their own in the foreground with a
# throw-away config, prefix, pid and log files on a free 127.0.0.1 port. Idempotent and
# quick once installed. Only the binary's path goes to stdout; progress and errors go
# to stderr.
set -euo pipefail
# shellcheck source=tools/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

say() { echo "ensure-nginx: $*" >&2; }

case "${1:-}" in
  "") ;;
  -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) say "unknown option: $1 (try --help)"; exit 2 ;;
esac

# Is $1 an nginx binary that runs? (The upstream and proxy modules are always built in.)
usable() {
  local bin="$1"
  [[ -n "$bin" && -x "$bin" ]] || return 1
  "$bin" -v >/dev/null 2>&1 || return 1
  return 0
}

find_bin() {
  local candidates=() bin
  [[ -n "${PATCHBAY_NGINX:-}" ]] && candidates+=("$PATCHBAY_NGINX")
  candidates+=(/usr/sbin/nginx)
  if command -v nginx >/dev/null 2>&1; then
    candidates+=("$(command -v nginx)")
  fi
  for bin in "${candidates[@]}"; do
    if usable "$bin"; then
      readlink -f "$bin"
      return 0
    fi
  done
  return 1
}

# Keep the package from starting a system nginx (it would grab port 80): a policy-rc.d
# that forbids service starts, only for the install, and only if none exists already.
# shellcheck disable=SC2329  # apt_ensure calls it
install_nginx() {
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
    made_policy=1
  fi
  cleanup() {
    if [[ $made_policy == 1 ]]; then "${as_root[@]}" rm -f "$policy"; fi
  }
  trap cleanup EXIT

  say "installing nginx with apt-get"
  apt_install_updating nginx
}

apt_ensure nginx install_nginx \
  "no nginx found, and no apt-get to install it." \
  "Install nginx, then set PATCHBAY_NGINX to its binary (e.g. /usr/sbin/nginx)." \
  "nginx is missing and installing it needs root: run as root, or: sudo apt-get install -y nginx" \
  "installed nginx, but found no usable nginx binary"
