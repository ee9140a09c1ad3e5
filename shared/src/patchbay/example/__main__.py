"""`python -m patchbay.example`: parse the command line first, import the server only to run it."""

from patchbay.cli import main as cli_main


def main() -> None:
    """Run the example connector."""
    cli_main(
        "example",
        "patchbay.example.server:connector",
        distribution="patchbay",
        description="Patchbay's example connector: an in-memory notebook (needs no credentials).",
    )


if __name__ == "__main__":
    main()
