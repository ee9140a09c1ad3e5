"""`python tests/conformance/fixture_server.py [patchbay options]`: the example connector plus the
conformance suite's fixtures (suite_fixtures.py), on the command line every connector shares.

Run as a script, its own folder is first on `sys.path`, so `suite_fixtures` imports as a module."""

from __future__ import annotations

from patchbay.cli import main as cli_main


def main() -> None:
    """Run the example connector with the suite's fixtures registered on it."""
    cli_main(
        "example",
        "suite_fixtures:connector",
        distribution="patchbay",
        description="Patchbay's example connector with the MCP conformance suite's fixtures (tests only).",
    )


if __name__ == "__main__":
    main()
