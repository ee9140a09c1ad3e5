"""The sharing gates: sharing needs its own opt-in; public or outside-the-domain sharing a second one."""

from __future__ import annotations

from typing import Literal

from patchbay.errors import ToolError

Grantee = Literal["user", "group", "domain", "anyone"]


def check_allowed(
    kind: Grantee,
    target: str | None,
    *,
    allow_sharing: bool,
    allow_public: bool,
    domain: str | None,
) -> None:
    """Refuse a sharing change these settings do not allow.

    Raises:
        ToolError: sharing is off (needs --allow-sharing); or the share is public, or reaches
            outside `domain`, and --allow-public-sharing is off.
    """
    if not allow_sharing:
        raise ToolError(
            "Refused: sharing changes are off. The operator can start the server with --allow-sharing "
            "(PATCHBAY_DRIVE_ALLOW_SHARING=1). Nothing was shared."
        )
    if allow_public:
        return
    if kind == "anyone":
        raise ToolError(
            "Refused: sharing with anyone (a public link) needs --allow-public-sharing "
            "(PATCHBAY_DRIVE_ALLOW_PUBLIC_SHARING=1). Nothing was shared."
        )
    theirs = (target or "").rsplit("@", 1)[-1].strip().casefold() if kind != "domain" else (target or "").casefold()
    ours = (domain or "").casefold()
    if not ours or theirs != ours:
        where = f"the domain {domain}" if domain else "your domain (unknown: set PATCHBAY_DRIVE_DOMAIN)"
        raise ToolError(
            f"Refused: {target!r} is outside {where}; sharing outside it needs --allow-public-sharing "
            "(PATCHBAY_DRIVE_ALLOW_PUBLIC_SHARING=1). Nothing was shared."
        )
