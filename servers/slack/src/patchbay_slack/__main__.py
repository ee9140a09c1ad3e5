"""`patchbay-slack`: parse the command line first, import the server (and slack-sdk) only to run it."""

import argparse

from patchbay.cli import main as cli_main


def _arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--read-channels", metavar="LIST", help="channels the read tools may see: ids or #names, comma-separated")
    add("--write-channels", metavar="LIST", help="channels the write tools may post to: ids or #names, comma-separated")
    add("--all-read-channels", action="store_true", help="allow reading every channel the token can see")
    add("--all-write-channels", action="store_true", help="allow writing to every channel the token can see")
    add("--allow-dms", action="store_true", help="let direct and group messages in (still subject to the allowlists)")
    add("--unfurl-domains", metavar="LIST", help="domains whose links Slack may unfurl, comma-separated")


def main() -> None:
    """Run the Slack connector."""
    cli_main(
        "slack",
        "patchbay_slack.server:connector",
        distribution="patchbay-slack",
        description="MCP access to Slack: channel-scoped reads and writes; links never unfurl unless allowed.",
        add_arguments=_arguments,
    )


if __name__ == "__main__":
    main()
