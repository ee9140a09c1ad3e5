# Sourced by tools/ensure-*.sh: find how to run apt-get as root, or explain and stop.
# Sets `as_root` to () when root, (sudo -n) where sudo needs no password; otherwise prints
# the message given (with the script's own `say`) and exits 1.
as_root_or_exit() {
  if [[ $(id -u) -eq 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    say "$1"
    exit 1
  fi
}
