"""`patchbay-drive`: parse the command line first, import the server only to run it.

`patchbay-drive auth` signs a user in (the installed-app flow) and stores the token.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from patchbay.cli import main as cli_main


def _arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--folders", metavar="IDS", help="folder ids the tools may reach, with everything under them (comma-separated)")
    add("--shared-drives", metavar="IDS", help="shared-drive ids the tools may reach (comma-separated)")
    add("--all-files", action="store_true", help="allow every file the credentials reach (not recommended)")
    add("--allow-sharing", action="store_true", help="offer share_file and remove_permission (with --allow-writes)")
    add("--allow-public-sharing", action="store_true", help="also allow public links and sharing outside the domain")


def auth(argv: list[str]) -> None:
    """`patchbay-drive auth`: sign in and store the token (0600)."""
    from patchbay_drive.settings import DEFAULT_TOKEN_FILE

    parser = argparse.ArgumentParser(prog="patchbay-drive auth", description="Sign in to Google Drive (OAuth).")
    parser.add_argument(
        "--client-secrets",
        type=Path,
        default=os.environ.get("PATCHBAY_DRIVE_CLIENT_SECRETS"),
        help="the OAuth client JSON (Desktop app) from Google Cloud console; or $PATCHBAY_DRIVE_CLIENT_SECRETS",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=Path(os.environ.get("PATCHBAY_DRIVE_TOKEN_FILE", str(DEFAULT_TOKEN_FILE))),
        help=f"where to store the token (default {DEFAULT_TOKEN_FILE})",
    )
    parser.add_argument("--allow-writes", action="store_true", help="ask for full Drive access, not read-only")
    parser.add_argument("--no-browser", action="store_true", help="print the URL only")
    args = parser.parse_args(argv)
    if args.client_secrets is None:
        parser.exit(2, "patchbay-drive auth: give --client-secrets (the OAuth client JSON)\n")
    from patchbay_drive.credentials import READ_SCOPE, WRITE_SCOPE
    from patchbay_drive.oauth import AuthError, authorize

    try:
        scopes = [WRITE_SCOPE if args.allow_writes else READ_SCOPE]
        authorize(args.client_secrets, args.token_file.expanduser(), scopes, open_browser=not args.no_browser)
    except AuthError as exc:
        parser.exit(1, f"patchbay-drive auth: {exc}\n")


def main() -> None:
    """Run the Google Drive connector (or `auth`)."""
    if sys.argv[1:2] == ["auth"]:
        auth(sys.argv[2:])
        return
    cli_main(
        "drive",
        "patchbay_drive.server:connector",
        distribution="patchbay-drive",
        description="MCP access to Google Drive within allowed folders and shared drives; writes and sharing "
        "opt-in. `patchbay-drive auth` signs in.",
        add_arguments=_arguments,
    )


if __name__ == "__main__":
    main()
