#!/usr/bin/env bash
# Make sure `uv` is on PATH (in ~/.local/bin), installing it from PyPI if needed.
# Works with a plain Debian python3 too, whose pip refuses --user installs (PEP 668)
# unless told otherwise, and falls back to a private virtual environment.
set -euo pipefail
export PATH="$HOME/.local/bin:$PATH"
command -v uv >/dev/null 2>&1 && exit 0

echo "ensure-uv: installing uv from PyPI into ~/.local" >&2
if python3 -m pip --version >/dev/null 2>&1; then
  python3 -m pip install --user --quiet uv 2>/dev/null \
    || python3 -m pip install --user --quiet --break-system-packages uv
else
  venv="$HOME/.local/share/patchbay-uv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet uv
  mkdir -p "$HOME/.local/bin"
  ln -sf "$venv/bin/uv" "$venv/bin/uvx" "$HOME/.local/bin/"
fi
command -v uv >/dev/null 2>&1 || { echo "ensure-uv: uv did not install; see https://docs.astral.sh/uv/" >&2; exit 1; }
