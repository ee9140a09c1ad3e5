#!/usr/bin/env bash
# Make sure a Docker-free OCI engine is installed: podman, buildah, runc, and debootstrap
# (tools/build-base-image.sh uses it to make a base image where no registry is reachable).
#
#     bash tools/ensure-podman.sh          # install what is missing (apt-get), then check podman works
#     bash tools/ensure-podman.sh --check  # only check; exit 1 with the reason if podman can't work
#
# Installs Debian's packages with apt-get (as root, or through sudo) when one is missing.
# Idempotent and quick once installed. It also writes a containers.conf drop-in
# (/etc/containers/containers.conf.d/50-patchbay.conf as root, else under ~/.config) when
# there is none, with the two settings this kind of machine needs (design/TESTING.md):
# runtime runc (crun fails on hybrid cgroups) and default ulimits nofile/nproc no higher than
# the hard limits, at most 20000 (podman's default, 1048576, makes runc fail under a lower hard
# limit). The container test and tools/build-base-image.sh pass the same settings as flags,
# so they work without it; it is for `make images` and podman by hand.
# Progress and errors go to stderr.
set -euo pipefail
# shellcheck source=tools/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

say() { echo "ensure-podman: $*" >&2; }

check_only=0
case "${1:-}" in
  "") ;;
  --check) check_only=1 ;;
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) say "unknown option: $1 (try --help)"; exit 2 ;;
esac

packages=(podman buildah runc debootstrap)

missing() {
  command -v podman >/dev/null 2>&1 || echo podman
  command -v buildah >/dev/null 2>&1 || echo buildah
  command -v runc >/dev/null 2>&1 || [[ -x /usr/sbin/runc ]] || echo runc
  command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || echo debootstrap
}

mapfile -t todo < <(missing)
if ((${#todo[@]})); then
  if ((check_only)); then
    say "missing: ${todo[*]} (run: bash tools/ensure-podman.sh)"
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "missing ${todo[*]} and no apt-get to install them: install podman, buildah, runc and debootstrap yourself"
    exit 1
  fi
  as_root_or_exit "installing ${todo[*]} needs root: run as root, or: sudo apt-get install -y ${packages[*]}"
  apt_lock podman
  mapfile -t todo < <(missing)
  if ((${#todo[@]})); then
    say "installing ${packages[*]} with apt-get"
    # Not apt_install: this one installs recommends too, and is quieter (-qq).
    install_packages() {
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${packages[@]}" >&2
    }
    if ! install_packages; then
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
      install_packages
    fi
  fi
fi

# Default ulimits no higher than what this process may raise them to, and at most 20000.
limit() {
  local hard
  hard="$(ulimit -H "$1")"
  if [[ "$hard" == unlimited ]] || ((hard > 20000)); then echo 20000; else echo "$hard"; fi
}

# Root reads /etc/containers, rootless podman ~/.config/containers; a drop-in leaves the main file alone.
if [[ $(id -u) -eq 0 ]]; then
  conf=/etc/containers/containers.conf.d/50-patchbay.conf
else
  conf="${XDG_CONFIG_HOME:-$HOME/.config}/containers/containers.conf.d/50-patchbay.conf"
fi
if ((!check_only)) && [[ ! -e "$conf" ]]; then
  nofile="$(limit -n)"
  nproc="$(limit -u)"
  mkdir -p "$(dirname "$conf")"
  cat >"$conf" <<EOF
# Written by patchbay tools/ensure-podman.sh (delete it to have it rewritten).
# crun fails on hybrid cgroups; podman's default ulimits (1048576) can exceed the hard limits.
[containers]
default_ulimits = [
  "nofile=${nofile}:${nofile}",
  "nproc=${nproc}:${nproc}",
]

[engine]
runtime = "runc"
EOF
  say "wrote $conf (runtime runc, ulimits nofile=$nofile nproc=$nproc)"
fi

# Does podman work at all? `podman info` needs no image and no registry.
if ! out="$(podman --runtime runc info --format '{{.Host.OCIRuntime.Name}}' 2>&1)"; then
  say "podman is installed but \`podman info\` fails: $out"
  exit 1
fi
exit 0
