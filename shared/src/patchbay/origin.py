"""Where this `patchbay` came from, so that the entries it writes come from the same place.

pip and uv record how a distribution was installed in its PEP 610 `direct_url.json`:
a local directory (a checkout, `uv run patchbay …`), a VCS URL (installed from git), or
nothing at all (installed from a package index such as PyPI).
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

__all__ = ["default_source", "source_from_direct_url"]


def default_source(distribution: str = "patchbay") -> str:
    """`--source` for `patchbay install` when none is given: where `distribution` was installed from."""
    try:
        text = importlib.metadata.distribution(distribution).read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return "pypi"
    return source_from_direct_url(text)


def source_from_direct_url(text: str | None) -> str:
    """A checkout path, `git+URL@COMMIT`, or `pypi`, from the text of a `direct_url.json` (None: none).

    A directory counts as a checkout when it, or its parent (the base lives in `shared/`),
    holds a `servers/` folder; an archive (a wheel or sdist file) gives `pypi`, the index
    the same release is published on.
    """
    if not text:
        return "pypi"
    data = json.loads(text)
    url = str(data.get("url", ""))
    vcs = data.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git":
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        return f"git+{url}@{commit}" if commit else f"git+{url}"
    if "dir_info" in data and url.startswith("file:"):
        folder = Path(url2pathname(urlparse(url).path))
        for candidate in (folder, folder.parent):
            if (candidate / "servers").is_dir():
                return str(candidate)
    return "pypi"
