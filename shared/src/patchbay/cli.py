"""The command line every `patchbay-<id>` shares.

Kept free of the MCP SDK so that `--help` and `--version` answer at once: the connector
module (and with it the SDK) is imported only after the arguments parse.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

AddArguments = Callable[[argparse.ArgumentParser], None]


def build_parser(
    connector_id: str, *, distribution: str, description: str = "", add_arguments: AddArguments | None = None
) -> argparse.ArgumentParser:
    """The shared parser; `add_arguments` lets a connector add its own (e.g. directories)."""
    prefix = f"PATCHBAY_{connector_id.upper()}_"
    parser = argparse.ArgumentParser(
        prog=f"patchbay-{connector_id}",
        description=description,
        epilog=f"Every option can also be set as an environment variable: {prefix}<OPTION> "
        f"(e.g. {prefix}ALLOW_WRITES=1). Command-line options win.",
        argument_default=argparse.SUPPRESS,
    )
    add = parser.add_argument
    add("--transport", choices=["stdio", "http"], help="stdio (default) for local hosts, http for Streamable HTTP")
    add("--host", help="HTTP bind address (default 127.0.0.1)")
    add("--port", type=int, help="HTTP port (default 8000)")
    add("--allow-writes", action="store_true", help="offer write and destructive tools (default: read-only)")
    add(
        "--confirm",
        choices=["elicit", "never"],
        help="confirm destructive calls by asking the user (elicit, default), or never ask and trust the "
        "host's own approval prompt",
    )
    add("--audit-log", metavar="PATH", help="append audit lines to PATH instead of stderr")
    add("--stateful", action="store_true", help="keep HTTP sessions (older clients need this for confirmations)")
    add("--public-url", metavar="URL", help="public URL of the MCP endpoint, for the URLs the server publishes")
    add("--insecure-no-auth", action="store_true", help="allow a non-loopback HTTP bind without authentication")
    add("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="server log level (default WARNING)")
    add("--workers", type=int, metavar="N", help="blocking operations run at once in worker threads (default 8)")
    add(
        "--result-text",
        choices=["compact", "json"],
        help="text block of tool results: compact text for the model (default), or the structured result as JSON",
    )
    add("--max-result-bytes", type=int, metavar="N", help="largest tool result in bytes; larger ones are cut (1 MiB)")
    add("--print-config", action="store_true", help="print the effective settings (secrets masked) and exit")
    if add_arguments is not None:
        add_arguments(parser)
    add("--version", action="version", version=f"%(prog)s {_version(distribution)}")
    return parser


def main(
    connector_id: str,
    target: str,
    *,
    distribution: str,
    description: str = "",
    add_arguments: AddArguments | None = None,
    argv: Sequence[str] | None = None,
) -> None:
    """Parse the command line, then import `target` (`module:attribute`, a `Connector`) and run it."""
    parser = build_parser(connector_id, distribution=distribution, description=description, add_arguments=add_arguments)
    overrides: dict[str, Any] = vars(parser.parse_args(argv))
    print_config = overrides.pop("print_config", False)
    module_name, _, attribute = target.partition(":")
    # Start-up (SDK, models, schemas) allocates much and frees little, so collections then only
    # cost time (about 50 ms of a connector's start): off until `Connector.run` serves.
    gc.disable()
    try:
        connector = getattr(importlib.import_module(module_name), attribute)
        from patchbay.settings import SettingsError

        try:
            settings = connector.load_settings(overrides)
            if print_config:
                print(settings.model_dump_json(indent=2))  # SecretStr fields print as **********
                return
            connector.run(settings)
        except SettingsError as exc:
            parser.exit(2, f"{parser.prog}: {exc}\n")
        except KeyboardInterrupt:
            sys.exit(130)
    finally:
        gc.enable()


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
