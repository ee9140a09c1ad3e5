"""`patchbay-filesystem DIR...`: parse the command line first, import the server only to run it."""

import argparse

from patchbay.cli import main as cli_main


def _directories(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "roots",
        nargs="*",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="directories the connector may use (the ceiling; client roots can only narrow it)",
    )


def main() -> None:
    """Run the filesystem connector."""
    cli_main(
        "filesystem",
        "patchbay_filesystem.server:connector",
        distribution="patchbay-filesystem",
        description="MCP access to the directories you name, read-only unless --allow-writes.",
        add_arguments=_directories,
    )


if __name__ == "__main__":
    main()
