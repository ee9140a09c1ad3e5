# shellcheck shell=bash
# Sourced by the tools/ensure-*.sh that install pinned npm packages (Node 22 and the MCP
# conformance suite, the reference MCP servers) into a folder of their own under
# ${PATCHBAY_TOOLS_DIR:-$HOME/.cache/patchbay-tools}, one folder per set of pinned versions.
# Messages go through the script's own `say` (to stderr); nothing here writes to stdout.

# npm_tool_require_npm: exit 1 with a message unless npm is on PATH.
npm_tool_require_npm() {
  if ! command -v npm >/dev/null 2>&1; then
    say "npm not found. Install Node.js and npm (Debian: apt-get install -y nodejs npm), then run this again."
    exit 1
  fi
}

# npm_tool_install TARGET LOCK NAME DESCRIPTION SUMMARY PACKAGE@VERSION... [-- NPM_OPTION...]
#
# Installs the pinned packages with npm into the folder TARGET, whole or not at all: npm
# installs them into a fresh staging folder beside TARGET, which becomes TARGET in one rename
# once it is checked and marked complete (TARGET/.complete). Meanwhile it holds the lock file
# LOCK (flock on file descriptor 9, up to 15 minutes), so a second caller waits, then finds
# the work done: it returns at once when the script's `installed` says so once the lock is held.
# NAME and DESCRIPTION go into the staging folder's package.json; NPM_OPTIONs are added to
# `npm install`. When the script defines `npm_tool_verify`, it is called with the staging
# folder after npm install: it checks what npm installed (and may add to it, such as a bin/)
# and exits 1 with a message when something is wrong, which leaves TARGET as it was.
# Says what it installs, then "installed: SUMMARY". Exits 1 on errors (npm's status when npm
# fails), so call it as a plain command under `set -e`.
npm_tool_install() {
  local target="$1" lock="$2" name="$3" description="$4" summary="$5"
  shift 5
  local specs=() spec what="" dependencies="" nl=$'\n'
  while (($#)) && [[ "$1" != -- ]]; do
    specs+=("$1")
    shift
  done
  (($#)) && shift  # the --; what is left are npm options
  for spec in "${specs[@]}"; do
    # PACKAGE@VERSION: split at the last @, as a scoped package (@scope/name) starts with one.
    if [[ -z "${spec%@*}" || "${spec%@*}" == "$spec" ]]; then
      say "npm_tool_install: $spec is not PACKAGE@VERSION"
      exit 2
    fi
    what+="${what:+ and }$spec"
    dependencies+="${dependencies:+,$nl}    $(_npm_tool_json "${spec%@*}"): $(_npm_tool_json "${spec##*@}")"
  done

  npm_tool_require_npm
  mkdir -p "$(dirname "$target")"
  # One installer at a time: a second caller waits, then finds the work done.
  exec 9>"$lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 900 9 || { say "timed out waiting for $lock"; exit 1; }
  fi
  if installed; then
    return 0
  fi

  say "installing $what into $target"
  _npm_tool_staging="$(mktemp -d "$(dirname "$target")/.staging.XXXXXX")"
  trap 'rm -rf "$_npm_tool_staging"' EXIT
  local staging="$_npm_tool_staging"

  cat >"$staging/package.json" <<JSON
{
  "name": $(_npm_tool_json "$name"),
  "private": true,
  "description": $(_npm_tool_json "$description"),
  "dependencies": {
$dependencies
  }
}
JSON

  (
    cd "$staging" || exit
    npm install --no-audit --no-fund --omit=dev --loglevel=error --no-update-notifier "$@" 1>&2
  )

  if declare -F npm_tool_verify >/dev/null; then
    npm_tool_verify "$staging"
  fi
  touch "$staging/.complete"
  chmod 755 "$staging"  # mktemp -d made it 0700

  rm -rf "$target"
  mv "$staging" "$target"
  trap - EXIT
  say "installed: $summary"
}

# A JSON string holding $1 (which has no control characters).
_npm_tool_json() {
  local s="${1//\\/\\\\}"
  printf '"%s"' "${s//\"/\\\"}"
}
