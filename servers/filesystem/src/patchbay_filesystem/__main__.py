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
    parser.add_argument(
        "--client-roots",
        choices=["intersect", "ignore"],
        help="intersect (default): the client's MCP roots narrow the directories, and an empty list admits "
        "nothing; ignore: never ask the client (for hosts that send no useful roots)",
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
