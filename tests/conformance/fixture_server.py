"""`python tests/conformance/fixture_server.py [patchbay options]`: the example connector plus the
conformance suite's fixtures (suite_fixtures.py), on the command line every connector shares."""

from __future__ import annotations

import sys
from pathlib import Path

from patchbay.cli import main as cli_main


def main() -> None:
    """Run the example connector with the suite's fixtures registered on it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # so that `suite_fixtures` imports
    cli_main(
        "example",
        "suite_fixtures:connector",
        distribution="patchbay",
        description="Patchbay's example connector with the MCP conformance suite's fixtures (tests only).",
    )


if __name__ == "__main__":
    main()
