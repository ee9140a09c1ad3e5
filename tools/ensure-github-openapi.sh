#!/usr/bin/env bash
# Make sure the official GitHub REST API description (npm @octokit/openapi, pinned:
# generated/api.github.com.json, OpenAPI 3, about 13 MB) is on this machine, then print the
# absolute path of that file. Tests validate the GitHub fake against it:
#
#     export PATCHBAY_GITHUB_OPENAPI="$(bash tools/ensure-github-openapi.sh)"
#
# The npm package is 28 MB packed and 400 MB unpacked (one description per GitHub product),
# so this does not `npm install` it: `npm pack` fetches the pinned tarball (npm checks its
# integrity), its SHA-1 is compared with the pin below, and only api.github.com.json is
# extracted into ${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}/octokit-openapi-<version>/,
# one folder per version, so a pin change installs alongside and an installed version is never
# touched. Idempotent and fast (no npm call) once installed; safe to run concurrently (flock).
# Only the path goes to stdout; progress and errors go to stderr.
#
# Env: PATCHBAY_TOOLS_DIR; PATCHBAY_OCTOKIT_OPENAPI_VERSION and PATCHBAY_OCTOKIT_OPENAPI_SHA1
#      (override the pin; give both).
set -euo pipefail
# shellcheck source=tools/lib/npm-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/npm-tool.sh"

VERSION="${PATCHBAY_OCTOKIT_OPENAPI_VERSION:-23.0.2}"
SHA1="${PATCHBAY_OCTOKIT_OPENAPI_SHA1:-743435033357133786d56271b48a67991a614b0a}"
TOOLS_DIR="${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}"
PACKAGE="@octokit/openapi"
FILE="api.github.com.json"

case "${1:-}" in
  "") ;;
  -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "ensure-github-openapi: unknown option: $1 (try --help)" >&2; exit 2 ;;
esac

say() { echo "ensure-github-openapi: $*" >&2; }

target="$TOOLS_DIR/octokit-openapi-$VERSION"

installed() {
  [[ -f "$target/.complete" && -s "$target/$FILE" ]]
}

if ! installed; then
  npm_tool_require_npm
  mkdir -p "$TOOLS_DIR"
  exec 9>"$TOOLS_DIR/.lock-octokit-openapi"
  if command -v flock >/dev/null 2>&1; then
    flock -w 900 9 || { say "timed out waiting for $TOOLS_DIR/.lock-octokit-openapi"; exit 1; }
  fi
  if ! installed; then
    say "fetching $PACKAGE@$VERSION (28 MB) and keeping generated/$FILE in $target"
    staging="$(mktemp -d "$TOOLS_DIR/.staging.XXXXXX")"
    trap 'rm -rf "$staging"' EXIT
    tarball="$(cd "$staging" && npm pack "$PACKAGE@$VERSION" --silent --no-update-notifier 2>/dev/null | tail -n 1)"
    if [[ -z "$tarball" || ! -f "$staging/$tarball" ]]; then
      say "npm pack $PACKAGE@$VERSION failed"
      exit 1
    fi
    got="$(sha1sum "$staging/$tarball" | cut -d' ' -f1)"
    if [[ "$got" != "$SHA1" ]]; then
      say "$tarball has SHA-1 $got, expected $SHA1"
      exit 1
    fi
    tar -xzf "$staging/$tarball" -C "$staging" "package/generated/$FILE"
    mv "$staging/package/generated/$FILE" "$staging/$FILE"
    rm -rf "$staging/package" "${staging:?}/$tarball"
    # An OpenAPI 3 document of this version, not an error page.
    if ! grep -q '"openapi": *"3\.' <(head -c 200 "$staging/$FILE"); then
      say "$FILE from $PACKAGE@$VERSION does not start as an OpenAPI 3 document"
      exit 1
    fi
    touch "$staging/.complete"
    chmod 755 "$staging"  # mktemp -d made it 0700
    rm -rf "$target"
    mv "$staging" "$target"
    trap - EXIT
    say "installed: $PACKAGE $VERSION ($FILE)"
  fi
fi
echo "$target/$FILE"
