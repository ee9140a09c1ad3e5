"""`patchbay-postgres`: parse the command line first, import the server only to run it."""

import argparse

from patchbay.cli import main as cli_main


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        dest="databases",
        action="append",
        metavar="NAME=DSN",
        help="a named database (repeatable); PATCHBAY_POSTGRES_DSN names one called 'default'",
    )
    parser.add_argument(
        "--require-non-superuser",
        action="store_true",
        help="refuse to start when a database role is a superuser or bypasses row security",
    )


def main() -> None:
    """Run the PostgreSQL connector."""
    cli_main(
        "postgres",
        "patchbay_postgres.server:connector",
        distribution="patchbay-postgres",
        description="MCP access to PostgreSQL databases: read-only SQL by default, writes opt-in.",
        add_arguments=_arguments,
    )


if __name__ == "__main__":
    main()
