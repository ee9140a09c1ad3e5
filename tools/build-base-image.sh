#!/usr/bin/env bash
# Print the base image to build the connector images on (docker/Dockerfile's BASE_IMAGE),
# making a local one with debootstrap when no registry is reachable:
#
#     BASE_IMAGE="$(bash tools/build-base-image.sh)"
#     podman build --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg CONNECTOR=filesystem -f docker/Dockerfile .
#
# The first of these wins:
#   1. $PATCHBAY_BASE_IMAGE, as given (nothing is checked or pulled);
#   2. the official image (python:3.11-slim-bookworm) when it is already in the engine's store;
#   3. localhost/patchbay-base:bookworm when it is already in the engine's store;
#   4. the official image, if pulling it works within a minute;
#   5. localhost/patchbay-base:bookworm imported from the cached root file system
#      ~/.cache/patchbay-tools/patchbay-base/bookworm-<key>.tar.gz, made first if missing with
#      `debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,netbase`
#      from the machine's Debian mirror (about 2 minutes; needs root and debootstrap:
#      bash tools/ensure-podman.sh).
#
# Options: --local skips 1, 2 and 4 (always the debootstrap image); --rebuild makes the
# debootstrap image afresh (new Debian packages) even when one is cached.
# The engine is podman, or $PATCHBAY_CONTAINER_ENGINE (podman or docker). podman runs with
# runtime runc when it is installed (crun fails on hybrid cgroups), or $PATCHBAY_PODMAN_RUNTIME.
# Only the image name goes to stdout; progress and errors go to stderr.
set -euo pipefail

say() { echo "build-base-image: $*" >&2; }

OFFICIAL="${PATCHBAY_OFFICIAL_BASE_IMAGE:-docker.io/library/python:3.11-slim-bookworm}"
LOCAL="localhost/patchbay-base"
SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates,netbase
CACHE="${PATCHBAY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/patchbay-tools}/patchbay-base"

local_only=0
rebuild=0
for arg in "$@"; do
  case "$arg" in
    --local) local_only=1 ;;
    --rebuild) rebuild=1; local_only=1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) say "unknown option: $arg (try --help)"; exit 2 ;;
  esac
done

engine_name="${PATCHBAY_CONTAINER_ENGINE:-podman}"
case "$engine_name" in
  podman)
    runtime="${PATCHBAY_PODMAN_RUNTIME:-}"
    if [[ -z "$runtime" ]] && { command -v runc >/dev/null 2>&1 || [[ -x /usr/sbin/runc ]]; }; then
      runtime=runc
    fi
    engine=(podman ${runtime:+--runtime "$runtime"})
    ;;
  docker) engine=(docker) ;;
  *) say "PATCHBAY_CONTAINER_ENGINE must be podman or docker, not $engine_name"; exit 2 ;;
esac
command -v "$engine_name" >/dev/null 2>&1 || { say "$engine_name is not installed (bash tools/ensure-podman.sh)"; exit 1; }

have() { "${engine[@]}" image inspect "$1" >/dev/null 2>&1; }

if ((!local_only)); then
  if [[ -n "${PATCHBAY_BASE_IMAGE:-}" ]]; then
    echo "$PATCHBAY_BASE_IMAGE"
    exit 0
  fi
  if have "$OFFICIAL"; then
    echo "$OFFICIAL"
    exit 0
  fi
fi
if ((!rebuild)) && have "$LOCAL:$SUITE"; then
  echo "$LOCAL:$SUITE"
  exit 0
fi
if ((!local_only)); then
  if timeout 60 "${engine[@]}" pull -q "$OFFICIAL" >/dev/null 2>&1; then
    say "pulled $OFFICIAL"
    echo "$OFFICIAL"
    exit 0
  fi
  say "cannot pull $OFFICIAL (no registry reachable?): making $LOCAL:$SUITE with debootstrap"
fi

# The Debian mirror this machine uses: deb822 sources first, then sources.list, then the default.
mirror() {
  local file line
  for file in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$file" ]] || continue
    # The first stanza that carries the suite itself (not -security / -updates only).
    if awk -v suite="$SUITE" '
        BEGIN { RS = ""; FS = "\n" }
        {
          uri = ""; ok = 0
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uri = u[1] }
            if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
          }
          if (ok && uri != "") { print uri; found = 1; exit }
        }
        END { exit !found }' "$file"; then
      return 0
    fi
  done
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$file" ]] || continue
    line="$(grep -E "^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[a-z]+://[^[:space:]]+[[:space:]]+$SUITE([[:space:]]|$)" "$file" | head -n1)" || true
    if [[ -n "$line" ]]; then
      awk '{ for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' <<<"$line"
      return 0
    fi
  done
  echo "http://deb.debian.org/debian"
}

MIRROR="$(mirror)"
KEY="$(printf '%s\n' "$SUITE" "$PACKAGES" "$MIRROR" "v1" | sha256sum | cut -c1-12)"
TARBALL="$CACHE/$SUITE-$KEY.tar.gz"
mkdir -p "$CACHE"

exec 9>>"$CACHE/.lock"
if command -v flock >/dev/null 2>&1; then
  flock -w 1200 9 || { say "timed out waiting for $CACHE/.lock"; exit 1; }
fi

if ((rebuild)) || [[ ! -s "$TARBALL" ]]; then
  command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] \
    || { say "debootstrap is not installed (bash tools/ensure-podman.sh)"; exit 1; }
  if [[ $(id -u) -ne 0 ]]; then
    say "debootstrap needs root: run as root, or set PATCHBAY_BASE_IMAGE to an image with Python 3.11"
    exit 1
  fi
  rootfs="$(mktemp -d "${TMPDIR:-/var/tmp}/patchbay-rootfs.XXXXXX")"
  trap 'rm -rf "$rootfs"' EXIT
  began=$SECONDS
  say "debootstrap --variant=minbase --include=$PACKAGES $SUITE $rootfs $MIRROR"
  if ! PATH="/usr/sbin:/sbin:$PATH" debootstrap --variant=minbase --include="$PACKAGES" \
      "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1; then
    tail -n 30 "$rootfs.log" >&2
    say "debootstrap failed (full log: $rootfs.log)"
    exit 1
  fi
  rm -f "$rootfs.log"
  # Slim like the official image: no package caches, lists, docs, man pages or locales.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/log/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/tmp/* "$rootfs"/var/tmp/*
  echo "deb $MIRROR $SUITE main" >"$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" --numeric-owner -cf - . | gzip -1 >"$TARBALL.tmp"
  mv "$TARBALL.tmp" "$TARBALL"
  rm -rf "$rootfs"
  trap - EXIT
  # Older root file systems of other keys are not needed any more.
  find "$CACHE" -maxdepth 1 -name "$SUITE-*.tar.gz" ! -name "$(basename "$TARBALL")" -delete
  say "root file system ready in $((SECONDS - began)) s: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
fi

quiet=()
[[ "$engine_name" == podman ]] && quiet=(--quiet)
"${engine[@]}" import "${quiet[@]}" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  --message "debootstrap --variant=minbase --include=$PACKAGES $SUITE ($MIRROR)" \
  "$TARBALL" "$LOCAL:$SUITE" >/dev/null
"${engine[@]}" tag "$LOCAL:$SUITE" "$LOCAL:latest" >/dev/null
say "imported $LOCAL:$SUITE from the root file system $TARBALL"
echo "$LOCAL:$SUITE"
