"""The `patchbay` command: browse the catalog, add connectors to AI hosts, check the setup.

patchbay list
patchbay show ID
patchbay install ID [ARG ...] --client C [--scope user|project|local] [--env K=V ...] [--name NAME]
                 [--source pypi|PATH|git+URL] [--index URL] [--transport stdio|http --url URL]
                 [--no-verify] [--timeout S] [--dry-run]
patchbay uninstall ID --client C [--scope ...] [--name NAME] [--dry-run]
patchbay doctor [--client C] [--timeout S]
patchbay catalog build [--check]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patchbay import __version__, origin, verify
from patchbay import catalog as catalogs


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = _parser()
    options = parser.parse_args(argv)
    try:
        status: int = options.run(options)
    except CommandError as exc:
        print(f"patchbay: {exc}", file=sys.stderr)
        return 2
    return status


class CommandError(Exception):
    """A mistake the user can fix; the message says how."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patchbay", description="Patchbay MCP connectors: catalog and host setup.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="list the connectors")
    listing.set_defaults(run=_list)

    show = commands.add_parser("show", help="show one connector: tools, settings, how to run it")
    show.add_argument("id")
    show.set_defaults(run=_show)

    from patchbay.hosts import CLIENTS

    install = commands.add_parser("install", help="add a connector to an AI host's config file")
    install.add_argument("id")
    install.add_argument("args", nargs="*", metavar="ARG", help="arguments for the connector (e.g. directories)")
    _host_options(install, CLIENTS)
    install.add_argument("--env", action="append", default=[], metavar="K=V", help="set an environment variable")
    install.add_argument(
        "--source",
        help="where uvx gets the connector: pypi, a checkout PATH, or git+URL "
        "(default: where this patchbay came from: its checkout, its git URL, or pypi)",
    )
    install.add_argument(
        "--index", metavar="URL", help="with --source pypi: a package index uvx looks in first (e.g. a private one)"
    )
    install.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    install.add_argument("--url", help="the connector's MCP URL (with --transport http)")
    install.add_argument("--bearer-env", metavar="VAR", help="environment variable holding the HTTP bearer token")
    install.add_argument("--no-verify", action="store_true", help="write the entry without starting it first")
    _timeout_option(install)
    install.set_defaults(run=_install)

    uninstall = commands.add_parser("uninstall", help="remove a connector from an AI host's config file")
    uninstall.add_argument("id")
    _host_options(uninstall, CLIENTS)
    uninstall.set_defaults(run=_uninstall)

    doctor = commands.add_parser("doctor", help="start every Patchbay entry in the hosts' config files")
    doctor.add_argument("--client", choices=CLIENTS, help="check only this host's config files")
    _timeout_option(doctor)
    doctor.set_defaults(run=_doctor)

    catalog = commands.add_parser("catalog", help="build catalog.json from servers/*/server.json")
    catalog_commands = catalog.add_subparsers(required=True, metavar="ACTION")
    build = catalog_commands.add_parser("build", help="write catalog.json (root and bundled copy)")
    build.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: .)")
    build.add_argument("--check", action="store_true", help="only check that the committed catalog is current")
    build.set_defaults(run=_build)
    return parser


def _host_options(parser: argparse.ArgumentParser, clients: Sequence[str]) -> None:
    parser.add_argument("--client", required=True, choices=clients, help="the AI host")
    parser.add_argument(
        "--scope",
        choices=["user", "project", "local"],
        help="user-wide, this project (shared), or local (Claude Code: this project, only you); default per host",
    )
    parser.add_argument("--name", help="the entry's name in the host config (default: the connector id)")
    parser.add_argument("--dry-run", action="store_true", help="print the change, write nothing")


def _timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=verify.DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds an entry may take to start and list its tools (default {verify.DEFAULT_TIMEOUT:g}; "
        "the first start may download and build it)",
    )


def _entry(connector_id: str) -> dict[str, Any]:
    found = catalogs.entries(catalogs.load())
    if connector_id not in found:
        raise CommandError(f"no connector {connector_id!r}; `patchbay list` shows them: {', '.join(found)}")
    return found[connector_id]


def _meta(entry: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = entry["_meta"][catalogs.META_KEY]
    return meta


def _list(_: argparse.Namespace) -> int:
    for connector_id, entry in catalogs.entries(catalogs.load()).items():
        server = entry["server"]
        print(f"{connector_id:<12} {server['version']:<8} {server['description']}")
    return 0


def _show(options: argparse.Namespace) -> int:
    entry = _entry(options.id)
    server, meta = entry["server"], _meta(entry)
    print(f"{server['title']} ({server['name']} {server['version']})\n{server['description']}\n")
    print(f"run:      uvx {meta['package']} --help")
    print(f"image:    {meta['image']}")
    print("\ntools (read-only by default; * only with --allow-writes):")
    read_only = {tool["name"] for tool in meta["tools"]["read_only"]}
    for tool in meta["tools"]["write"]:
        mark = " " if tool["name"] in read_only else "*"
        summary = tool["description"].splitlines()[0] if tool["description"] else ""
        print(f"  {mark} {tool['name']:<26} [{tool['safety']}] {summary}")
    print("\nsettings:")
    for setting in meta["settings"]:
        flag = f" ({setting['flag']})" if setting["flag"] else ""
        secret = " [secret]" if setting["secret"] else ""
        print(f"  {setting['name']}{flag}{secret}: {setting['description']}")
    return 0


def _source_args(meta: dict[str, Any], version: str, source: str, index: str | None) -> list[str]:
    script = meta["console_script"]
    if source == "pypi":
        return [*(["--index", index] if index else []), f"{meta['package']}=={version}"]
    if index:
        raise CommandError(f"--index applies to --source pypi; the connector comes from {source}")
    if source.startswith("git+"):
        return ["--from", f"{source}#subdirectory={meta['path']}", script]
    path = Path(source).expanduser().resolve()
    folder = path / meta["path"] if (path / meta["path"]).is_dir() else path
    if not (folder / "pyproject.toml").is_file():
        raise CommandError(f"{source} is neither a Patchbay checkout nor a connector folder")
    return ["--from", str(folder), script]


def _install(options: argparse.Namespace) -> int:
    from patchbay import hosts

    entry = _entry(options.id)
    meta = _meta(entry)
    secret_names = {s["name"] for s in meta["settings"] if s["secret"]}
    given: dict[str, str] = {}
    for item in options.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CommandError(f"--env takes NAME=VALUE, got {item!r}")
        given[name] = value
    package = next(p for p in entry["server"]["packages"] if p["registryType"] == "pypi")
    required = [v["name"] for v in package.get("environmentVariables", []) if v.get("isRequired")]
    secrets = {name: given.get(name) for name in required if name in secret_names}
    secrets |= {name: value for name, value in given.items() if name in secret_names}
    plain = {name: value for name, value in given.items() if name not in secret_names}
    if options.transport == "http":
        if not options.url:
            raise CommandError("--transport http needs --url, e.g. --url http://127.0.0.1:8000/mcp")
        server = hosts.ServerEntry(
            name=options.name or options.id,
            command=None,
            args=[],
            env={},
            secrets={},
            url=options.url,
            bearer_token_env=options.bearer_env,
        )
    else:
        source = options.source or origin.default_source()
        server = hosts.ServerEntry(
            name=options.name or options.id,
            command="uvx",
            args=[*_source_args(meta, entry["server"]["version"], source, options.index), *options.args],
            env=plain,
            secrets=secrets,
        )
    try:
        planned = hosts.install(options.client, _scope(options), server, dry_run=True, **_where())
        if not options.no_verify:
            _verify(options, planned, {name: value for name, value in secrets.items() if value is not None})
        change = planned if options.dry_run else hosts.install(options.client, _scope(options), server, **_where())
    except hosts.HostConfigError as exc:
        raise CommandError(str(exc)) from None
    return _report(change, options.dry_run)


def _verify(options: argparse.Namespace, planned: Any, given: dict[str, str]) -> None:
    """Start the entry `install` is about to write; refuse when it does not start."""
    where = _where()
    name = options.name or options.id
    outcome = verify.check(
        options.client, planned.entry, environ=where["environ"] | given, cwd=where["cwd"], timeout=options.timeout
    )
    if not outcome.ok:
        raise CommandError(
            f"{name} does not start, so {planned.path} was left unchanged: {outcome.reason.rstrip('.?!')}. "
            "Fix that and run the command again, or pass --no-verify to write the entry anyway."
        )
    print(f"{name}: {outcome}")


def _uninstall(options: argparse.Namespace) -> int:
    from patchbay import hosts

    try:
        change = hosts.uninstall(
            options.client, _scope(options), options.name or options.id, dry_run=options.dry_run, **_where()
        )
    except hosts.HostConfigError as exc:
        raise CommandError(str(exc)) from None
    return _report(change, options.dry_run)


def _scope(options: argparse.Namespace) -> Any:
    """The scope asked for, or the host's default (its first: user-wide for most, project for some)."""
    from patchbay import hosts

    return options.scope or hosts.SCOPES[options.client][0]


def _where() -> dict[str, Any]:
    return {"home": Path.home(), "cwd": Path.cwd(), "platform": sys.platform, "environ": dict(os.environ)}


def _report(change: Any, dry_run: bool) -> int:
    if change.diff:
        print(change.diff, end="" if change.diff.endswith("\n") else "\n")
    if not change.changed:
        print(f"{change.path}: already up to date; nothing changed.")
    elif dry_run:
        print(f"{change.path}: not written (--dry-run).")
    else:
        backup = f" (previous version kept as {change.backup})" if change.backup else ""
        print(f"{change.path}: updated{backup}.")
    for note in change.notes:
        print(f"note: {note}")
    return 0


def _doctor(options: argparse.Namespace) -> int:
    from patchbay import hosts

    problems = 0

    def report(ok: bool, message: str, mark: str = "") -> None:
        nonlocal problems
        problems += not ok
        print(f"{mark or ('ok ' if ok else 'FIX')} {message}")

    for tool in ("uv", "uvx"):
        found = shutil.which(tool)
        report(
            found is not None,
            f"{tool}: {found}" if found else f"{tool} is not on PATH: python3 -m pip install --user uv",
        )
    known = catalogs.entries(catalogs.load())
    where = _where()
    checked = 0
    for client in [options.client] if options.client else hosts.CLIENTS:
        for scope in hosts.SCOPES[client]:
            try:
                path, servers = hosts.installed(client, scope, **where)
            except hosts.HostConfigError as exc:
                report(False, str(exc))
                continue
            for name, server in servers.items():
                if _connector_of(server, known) is None:
                    continue
                checked += 1
                outcome = verify.check(
                    client, server, environ=where["environ"], cwd=where["cwd"], timeout=options.timeout
                )
                mark = "?  " if outcome.state == "unchecked" else ""
                report(outcome.ok, f"{client} {scope} ({path}) {name}: {outcome}", mark)
    if not checked:
        print(f"no Patchbay entries found in the config files of {options.client or 'any host'}")
    print("no problems found" if not problems else f"{problems} problem(s) to fix")
    return 1 if problems else 0


def _connector_of(server: dict[str, Any], known: dict[str, dict[str, Any]]) -> str | None:
    words = [str(server.get("command", "")), *(str(a) for a in server.get("args", []) or [])]
    for connector_id, entry in known.items():
        package = _meta(entry)["package"]
        if any(word == package or word.startswith(f"{package}==") or word.endswith(f"/{package}") for word in words):
            return connector_id
        if any(word.rstrip("/").endswith(_meta(entry)["path"]) for word in words):
            return connector_id
    return None


def _build(options: argparse.Namespace) -> int:
    root: Path = options.root.resolve()
    if not (root / "servers").is_dir():
        raise CommandError(f"{root} is not the Patchbay repository root (no servers/ folder); pass --root")
    text = catalogs.render(catalogs.build(root))
    targets = [root / "catalog.json", root / "shared" / "src" / "patchbay" / catalogs.BUNDLED]
    stale = [path for path in targets if not path.exists() or path.read_text(encoding="utf-8") != text]
    if options.check:
        for path in stale:
            print(f"{path} is stale: run `make catalog`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if not stale:
        print("catalog.json is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
