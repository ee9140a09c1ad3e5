"""`patchbay-github`: parse the command line first, import the server (and PyGithub later) only to run it."""

import argparse

from patchbay.cli import main as cli_main


def _arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--repos", metavar="LIST", help="repositories every tool may touch: owner/name or owner/*, comma-separated")
    add("--all-repos", action="store_true", help="allow every repository the token reaches (not recommended)")
    add("--toolsets", metavar="LIST", help="toolsets to offer (default context,repos,issues,pull_requests; or all)")
    add("--tools", metavar="LIST", help="offer only these tools")
    add("--exclude-tools", metavar="LIST", help="never offer these tools")
    add("--lockdown", action="store_true", help="withhold text by authors without push access")
    add("--api-url", metavar="URL", help="REST API root (GitHub Enterprise: https://HOST/api/v3)")


def main() -> None:
    """Run the GitHub connector."""
    cli_main(
        "github",
        "patchbay_github.server:connector",
        distribution="patchbay-github",
        description="MCP access to GitHub repositories, issues, pull requests and Actions, limited to allowed repos.",
        add_arguments=_arguments,
    )


if __name__ == "__main__":
    main()
