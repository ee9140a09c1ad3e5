"""Writing a Patchbay server into an AI host's MCP config file (`patchbay install`).

`install` adds or updates one server entry, `uninstall` removes it, `config_path` says
where a host keeps the file, `installed` lists what it holds. Every function takes the
home and working directories, the platform and the environment explicitly, so nothing
here looks at the real home. Claude Code's `local` scope (its default) lives in
`~/.claude.json` under `projects["<working directory>"].mcpServers`, beside the
user-scope `mcpServers` of the same file.

What every edit guarantees:

- **Only our entry changes.** The file is edited as text: every other entry, key,
  comment, blank line and the file's indentation and line endings stay byte for byte.
  New text uses the indentation found in the file (2 spaces in a new file). When our
  entry already exists, the keys that say how the server is launched (command, args,
  env, url, headers, ...) are replaced and the keys a user added (`disabled`, timeouts,
  `trust`, ...) are kept.
- **Comments.** VS Code and Zed read JSONC (comments and trailing commas), Gemini CLI
  strips comments (no trailing commas); in those files comments are kept. Claude
  Desktop, Claude Code, Cursor and Windsurf read plain JSON: a comment or trailing
  comma there is reported as an error (the host itself could not read the file), never
  dropped. Codex's TOML keeps its comments and order (tomlkit, plus text-level insertion
  of new tables so that comments above the next table stay with it).
- **Idempotent.** Installing the same entry again changes nothing (`changed=False`, no
  backup).
- **Backups.** Before a file is changed, its previous bytes are copied to
  `<file>.patchbay-YYYYMMDD-HHMMSS.bak` (with `-2`, `-3`... if that name is taken)
  beside it, mode 0600. New files get no backup. Backups are never deleted.
- **Secrets** are written as references where the host supports them: Claude Code and
  Gemini `${VAR}`, Cursor and Windsurf `${env:VAR}`, VS Code `${input:ID}` plus an
  `inputs` entry (`promptString`, `password: true`, id = the variable in kebab case,
  shared by servers that need the same variable), Codex `env_vars = ["VAR"]` /
  `bearer_token_env_var`. A literal value given for such a host is *not* written (a
  note says so). Claude Desktop and Zed cannot reference anything: a secret is written
  only if the user gave its value, the file is then set to mode 0600, and without a
  value `install` refuses.
- **A malformed file is never overwritten**: `HostConfigError` names the file and the
  line:column. A file changed by another program while we edited it is not overwritten
  either.
- **Dry run** writes nothing and returns the diff. In diffs, literal secret values are
  masked.

Writes are atomic (a temporary file in the same directory, then a rename) and follow a
symlinked config file to its target. The file keeps its mode unless a literal secret
forces 0600.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import tomlkit
from tomlkit.exceptions import ParseError as TomlParseError
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import InlineTable, Table

from patchbay.jsonc import MISSING, JsonEditor, JsonParser, same, start_of_line
from patchbay.jsonc import ConfigFileError as HostConfigError
from patchbay.redaction import Redactor

__all__ = [
    "CLIENTS",
    "SCOPES",
    "Change",
    "HostConfigError",
    "Scope",
    "ServerEntry",
    "config_path",
    "install",
    "uninstall",
]

Scope = Literal["user", "project", "local"]

CLIENTS: Final[tuple[str, ...]] = (
    "claude-desktop",
    "claude-code",
    "vscode",
    "cursor",
    "windsurf",
    "zed",
    "codex",
    "gemini",
)

# The first scope of each client is its default: the one the host's own `mcp add` uses.
SCOPES: Final[Mapping[str, tuple[Scope, ...]]] = {
    "claude-desktop": ("user",),
    "claude-code": ("local", "user", "project"),  # `claude mcp add` defaults to local: ~/.claude.json, this project
    "vscode": ("user", "project"),
    "cursor": ("user", "project"),
    "windsurf": ("user",),
    "zed": ("user", "project"),
    "codex": ("user", "project"),
    "gemini": ("user", "project"),
}


_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ServerEntry:
    """One MCP server as a host should launch (stdio) or reach (HTTP) it."""

    name: str
    """The key of the entry in the host config."""
    command: str | None = None
    """The program to run (stdio); None for an HTTP server."""
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    """Plain (non-secret) environment values, written literally."""
    secrets: dict[str, str | None] = field(default_factory=dict)
    """Secret environment variables: name -> the value the user gave (`--env`), or None to only reference it."""
    url: str | None = None
    """The server's URL (HTTP transport)."""
    bearer_token_env: str | None = None
    """The environment variable holding the HTTP bearer token (HTTP only); its value, if given, is in `secrets`."""

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name):
            raise HostConfigError(
                f"Invalid server name {self.name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter "
                "or digit."
            )
        if (self.command is None) == (self.url is None):
            raise HostConfigError(f"Server {self.name!r} needs either a command (stdio) or a URL (HTTP), not both.")
        if self.url is not None and not re.match(r"https?://", self.url):
            raise HostConfigError(f"Server {self.name!r}: the URL must start with http:// or https://.")
        if self.url is not None and (self.args or self.env):
            raise HostConfigError(f"Server {self.name!r}: args and env apply to a command, not to an HTTP server.")
        if self.bearer_token_env is not None and self.url is None:
            raise HostConfigError(f"Server {self.name!r}: a bearer token is for HTTP servers only.")
        names = [*self.env, *self.secrets, *([self.bearer_token_env] if self.bearer_token_env else [])]
        for var in names:
            if not _ENV_NAME_RE.fullmatch(var):
                raise HostConfigError(f"Invalid environment variable name {var!r}.")
        both = sorted(set(self.env) & set(self.secrets))
        if both:
            raise HostConfigError(f"{', '.join(both)}: given both as a plain value and as a secret.")
        if self.url is not None and set(self.secrets) - {self.bearer_token_env}:
            raise HostConfigError(f"Server {self.name!r}: an HTTP server takes no environment; only its bearer token.")


@dataclass
class Change:
    """What `install` or `uninstall` did (or, with `dry_run`, would do) to one file."""

    path: Path
    changed: bool
    diff: str
    """Unified diff of the file (literal secret values masked); empty when nothing changes."""
    backup: Path | None = None
    """The copy of the previous file, when one was made."""
    mode_0600: bool = False
    """True when the file holds a literal secret we wrote and is (or would be) made private (mode 0600)."""
    notes: list[str] = field(default_factory=list)
    """What the user should know or do next."""
    entry: dict[str, Any] = field(default_factory=dict)
    """The entry as written into the host's file (`install` only): what the host will launch."""


# --------------------------------------------------------------------------- hosts


@dataclass(frozen=True)
class _Host:
    label: str
    container: str
    """The key (JSON) or table (TOML) holding the servers."""
    launch_keys: frozenset[str]
    """Keys of an entry that say how to launch or reach the server: replaced on update. Others are kept."""
    toml: bool = False
    comments: bool = False
    trailing_commas: bool = False
    reference: str | None = None
    """How a secret variable VAR is referenced (VAR replaced); None: literal values only."""
    stdio_type: bool = False
    """Write `"type": "stdio"` for commands."""
    http_type: bool = False
    """Write `"type": "http"` for URLs."""
    http_url_key: str | None = "url"
    """The key of an HTTP server's URL; None when the file cannot hold HTTP servers."""
    always_env: bool = False


_HOSTS: Final[Mapping[str, _Host]] = {
    "claude-desktop": _Host(
        "Claude Desktop", "mcpServers", frozenset({"type", "command", "args", "env"}), http_url_key=None
    ),
    "claude-code": _Host(
        "Claude Code",
        "mcpServers",
        frozenset({"type", "command", "args", "env", "url", "headers"}),
        reference="${VAR}",
        stdio_type=True,
        http_type=True,
    ),
    "vscode": _Host(
        "VS Code",
        "servers",
        frozenset({"type", "command", "args", "env", "url", "headers"}),
        comments=True,
        trailing_commas=True,
        reference="${input:VAR}",  # VAR is replaced by the input's id
        stdio_type=True,
        http_type=True,
    ),
    "cursor": _Host(
        "Cursor", "mcpServers", frozenset({"type", "command", "args", "env", "url", "headers"}), reference="${env:VAR}"
    ),
    "windsurf": _Host(
        "Windsurf",
        "mcpServers",
        frozenset({"command", "args", "env", "serverUrl", "url", "headers"}),
        reference="${env:VAR}",
        http_url_key="serverUrl",
    ),
    "zed": _Host(
        "Zed",
        "context_servers",
        frozenset({"command", "args", "env", "url", "headers"}),
        comments=True,
        trailing_commas=True,
        always_env=True,
    ),
    "codex": _Host(
        "Codex",
        "mcp_servers",
        frozenset(
            {"command", "args", "env", "env_vars", "url", "bearer_token_env_var", "bearer_token", "http_headers"}
            | {"env_http_headers"}
        ),
        toml=True,
    ),
    "gemini": _Host(
        "Gemini CLI",
        "mcpServers",
        frozenset({"command", "args", "env", "httpUrl", "url", "headers"}),
        comments=True,
        reference="${VAR}",
        http_url_key="httpUrl",
    ),
}


def _host(client: str) -> _Host:
    try:
        return _HOSTS[client]
    except KeyError:
        raise HostConfigError(f"Unknown client {client!r}; choose one of: {', '.join(CLIENTS)}.") from None


def _check_scope(client: str, scope: str) -> None:
    scopes = SCOPES[client]
    if scope not in scopes:
        valid = " or ".join(scopes)
        raise HostConfigError(f"{_HOSTS[client].label} has no {scope!r} scope; use --scope {valid}.")


# --------------------------------------------------------------------------- paths


def config_path(client: str, scope: Scope, *, home: Path, cwd: Path, platform: str, environ: Mapping[str, str]) -> Path:
    """The config file `client` reads for `scope`.

    `platform` is a `sys.platform` value (`linux`, `darwin`, `win32`; others are treated
    like Linux). `environ` supplies APPDATA (Windows), XDG_CONFIG_HOME (Linux),
    CODEX_HOME and CLAUDE_CONFIG_DIR when set.
    """
    _host(client)
    _check_scope(client, scope)

    def env_dir(name: str) -> Path | None:
        value = environ.get(name, "")
        return (cwd / value if not Path(value).is_absolute() else Path(value)) if value else None

    def appdata() -> Path:
        return env_dir("APPDATA") or home / "AppData" / "Roaming"

    def xdg_config() -> Path:
        value = environ.get("XDG_CONFIG_HOME", "")
        # The XDG spec says a relative value is to be ignored.
        return Path(value) if value and Path(value).is_absolute() else home / ".config"

    def app_support() -> Path:
        return home / "Library" / "Application Support"

    def user_dir(app: str) -> Path:
        """Where an Electron app keeps its per-user data."""
        if platform == "darwin":
            return app_support() / app
        if platform == "win32":
            return appdata() / app
        return xdg_config() / app

    project = scope == "project"
    match client:
        case "claude-desktop":
            return user_dir("Claude") / "claude_desktop_config.json"
        case "claude-code":  # local and user scopes share ~/.claude.json (local: under projects[<cwd>])
            return cwd / ".mcp.json" if project else (env_dir("CLAUDE_CONFIG_DIR") or home) / ".claude.json"
        case "vscode":
            return cwd / ".vscode" / "mcp.json" if project else user_dir("Code") / "User" / "mcp.json"
        case "cursor":
            return (cwd if project else home) / ".cursor" / "mcp.json"
        case "windsurf":
            return home / ".codeium" / "windsurf" / "mcp_config.json"
        case "zed":
            if project:
                return cwd / ".zed" / "settings.json"
            if platform == "win32":
                return appdata() / "Zed" / "settings.json"
            return (home / ".config" if platform == "darwin" else xdg_config()) / "zed" / "settings.json"
        case "codex":
            return (
                cwd / ".codex" / "config.toml"
                if project
                else (env_dir("CODEX_HOME") or home / ".codex") / "config.toml"
            )
        case _:  # gemini
            return (cwd if project else home) / ".gemini" / "settings.json"


def _servers_path(client: str, scope: str, cwd: Path) -> tuple[str, ...]:
    """The keys leading to the object that holds the servers in a JSON host file."""
    if client == "claude-code" and scope == "local":
        return ("projects", str(cwd), _HOSTS[client].container)
    return (_HOSTS[client].container,)


# --------------------------------------------------------------------------- public operations


def install(
    client: str,
    scope: Scope,
    entry: ServerEntry,
    *,
    home: Path,
    cwd: Path,
    platform: str,
    environ: Mapping[str, str],
    dry_run: bool = False,
) -> Change:
    """Add `entry` to `client`'s config for `scope`, or bring an existing entry of that name up to date."""
    host = _host(client)
    path = config_path(client, scope, home=home, cwd=cwd, platform=platform, environ=environ)
    plan = _Plan(host, client, path, entry)
    desired = plan.desired()
    original = _read(path)
    before = original.text if original else None
    if host.toml:
        after = _toml_install(path, before, entry.name, desired, plan.notes)
    else:
        servers = _servers_path(client, scope, cwd)
        after = _json_install(host, path, before, (*servers, entry.name), desired, plan.inputs, plan.notes)
    plan.notes.extend(_next_steps(client, scope, platform, plan))
    change = _commit(path, original, after, dry_run=dry_run, literals=plan.literals, notes=plan.notes)
    change.entry = desired
    return change


def uninstall(
    client: str,
    scope: Scope,
    name: str,
    *,
    home: Path,
    cwd: Path,
    platform: str,
    environ: Mapping[str, str],
    dry_run: bool = False,
) -> Change:
    """Remove the server entry `name` (and a VS Code input only it used) from `client`'s config for `scope`."""
    host = _host(client)
    path = config_path(client, scope, home=home, cwd=cwd, platform=platform, environ=environ)
    original = _read(path)
    if original is None:
        return Change(path, False, "", notes=[f"{path} does not exist; nothing to remove."])
    notes: list[str] = []
    if host.toml:
        after = _toml_uninstall(path, original.text, name, notes)
    else:
        after = _json_uninstall(client, path, original.text, (*_servers_path(client, scope, cwd), name), notes)
    return _commit(path, original, after, dry_run=dry_run, literals={}, notes=notes)


# --------------------------------------------------------------------------- building the entry


def installed(
    client: str, scope: Scope, *, home: Path, cwd: Path, platform: str, environ: Mapping[str, str]
) -> tuple[Path, dict[str, dict[str, Any]]]:
    """The host's config file and the servers it lists (none when the file does not exist).

    Raises:
        HostConfigError: the file cannot be read or parsed (the message says where).
    """
    host = _host(client)
    _check_scope(client, scope)
    path = config_path(client, scope, home=home, cwd=cwd, platform=platform, environ=environ)
    original = _read(path)
    if original is None or not original.text.strip():
        return path, {}
    if host.toml:
        data: Any = _toml_parse(path, original.text).unwrap()
    else:
        root = JsonParser(original.text, path, host).parse()
        data = root.value if root is not None else {}
    servers = data
    for key in (host.container,) if host.toml else _servers_path(client, scope, cwd):
        servers = servers.get(key) if isinstance(servers, dict) else None
    if not isinstance(servers, dict):
        return path, {}
    return path, {str(name): entry for name, entry in servers.items() if isinstance(entry, dict)}


def _input_id(var: str) -> str:
    """The VS Code input id for a secret variable: JIRA_API_TOKEN -> jira-api-token."""
    return var.lower().replace("_", "-")


class _Plan:
    """The entry a host should get for a ServerEntry, and what it implies (literals, inputs, notes)."""

    def __init__(self, host: _Host, client: str, path: Path, entry: ServerEntry) -> None:
        self.host, self.client, self.path, self.entry = host, client, path, entry
        self.literals: dict[str, str] = {}
        self.inputs: list[dict[str, Any]] = []
        self.referenced: list[str] = []
        self.notes: list[str] = []

    def desired(self) -> dict[str, Any]:
        entry, host = self.entry, self.host
        if entry.url is not None and host.http_url_key is None:
            raise HostConfigError(
                f"{host.label} does not take remote (HTTP) servers in {self.path.name}: add {entry.url} as a Custom "
                f"Connector instead (Settings → Connectors → Add custom connector), or install the server with "
                f"--transport stdio."
            )
        if self.client == "codex":
            return self._codex()
        result: dict[str, Any] = {}
        if entry.url is not None:
            if host.http_type:
                result["type"] = "http"
            result[host.http_url_key or "url"] = entry.url
            if entry.bearer_token_env:
                result["headers"] = {"Authorization": "Bearer " + self._secret(entry.bearer_token_env)}
            return result
        if host.stdio_type:
            result["type"] = "stdio"
        result["command"] = entry.command
        result["args"] = list(entry.args)
        env = dict(entry.env)
        env.update({var: self._secret(var) for var in entry.secrets})
        if env or host.always_env:
            result["env"] = env
        return result

    def _codex(self) -> dict[str, Any]:
        entry = self.entry
        result: dict[str, Any] = {}
        if entry.url is not None:
            result["url"] = entry.url
            if entry.bearer_token_env:
                result["bearer_token_env_var"] = entry.bearer_token_env
                self.referenced.append(entry.bearer_token_env)
            return result
        result["command"] = entry.command
        result["args"] = list(entry.args)
        if entry.env:
            result["env"] = dict(entry.env)
        if entry.secrets:
            result["env_vars"] = list(entry.secrets)
            for var in entry.secrets:
                self.referenced.append(var)
        return result

    def _secret(self, var: str) -> str:
        host = self.host
        if self.client == "vscode":
            input_id = _input_id(var)
            self.inputs.append(
                {
                    "type": "promptString",
                    "id": input_id,
                    "description": f"{var} for the {self.entry.name} MCP server",
                    "password": True,
                }
            )
            self.referenced.append(var)
            return "${input:" + input_id + "}"
        if host.reference is not None:
            self.referenced.append(var)
            return host.reference.replace("VAR", var)
        value = self.entry.secrets.get(var)
        if value is None:
            raise HostConfigError(
                f"{host.label} cannot read secrets from the environment or a secret store, so {var} must be written "
                f"into {self.path} as a literal value: pass --env {var}=VALUE to do that (the file is then made "
                f"readable by you only), or add {var} in {host.label}'s settings yourself."
            )
        self.literals[var] = value
        return value


def _next_steps(client: str, scope: str, platform: str, plan: _Plan) -> list[str]:
    label = plan.host.label
    notes: list[str] = []
    given = [var for var in plan.referenced if plan.entry.secrets.get(var) is not None]
    if given:
        notes.append(
            f"{', '.join(given)}: written as a reference, so the value you passed was not stored in {plan.path.name}."
        )
    others = plan.referenced if client != "vscode" else []
    if others:
        how = {
            "claude-code": "Claude Code fills in ${VAR} from its environment and rejects the config if one is unset",
            "codex": "Codex reads these variables from its environment",
            "gemini": "Gemini CLI fills in ${VAR} from its environment (or a .env file)",
        }.get(client, f"{label} fills in ${{env:VAR}} from its environment")
        notes.append(f"{how}: set {', '.join(others)} before starting {label}.")
    if plan.inputs:
        asked = ", ".join(f"{var} (input {_input_id(var)})" for var in plan.referenced)
        notes.append(f"VS Code asks for {asked} when it first starts the server and keeps it in its secret store.")
    if plan.literals:
        notes.append(f"{plan.path} holds a secret ({', '.join(plan.literals)}) and is readable by you only.")
        if scope == "project":
            notes.append(f"Keep {plan.path} out of version control: it holds a secret.")
    if client == "claude-desktop":
        if platform not in ("darwin", "win32"):
            notes.append("Claude Desktop has no official Linux build; this is the path the community builds read.")
        notes.append("Quit and reopen Claude Desktop to load the server.")
    elif client == "claude-code" and scope == "project":
        notes.append("Claude Code asks each user to approve the servers in .mcp.json the first time it starts here.")
    elif client == "claude-code" and scope == "local":
        notes.append("Local scope: Claude Code offers this server only to you, when started in this directory.")
    elif client == "codex" and scope == "project":
        notes.append("Codex reads .codex/config.toml only in projects you have marked as trusted.")
    return notes


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class _Original:
    raw: bytes
    text: str
    bom: bool


def _read(path: Path) -> _Original | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise HostConfigError(f"{path} is a directory, not a config file.", path=path) from None
    except OSError as exc:
        raise HostConfigError(f"Cannot read {path}: {exc.strerror or exc}.", path=path) from None
    bom = raw.startswith(b"\xef\xbb\xbf")
    body = raw[3:] if bom else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        column = exc.start - (body.rfind(b"\n", 0, exc.start) + 1) + 1
        raise HostConfigError(
            f"{path}:{line}:{column}: not UTF-8 text. The file was left unchanged.", path=path, line=line, column=column
        ) from None
    return _Original(raw, text, bom)


def _diff(path: Path, before: str | None, after: str, literals: Mapping[str, str]) -> str:
    if before == after:
        return ""
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=str(path) if before is not None else "/dev/null",
        tofile=str(path),
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if literals:
        forms = {form for value in literals.values() for form in (value, json.dumps(value)[1:-1])}
        text = Redactor(forms).text(text)
    return text


def _backup_path(target: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = target.with_name(f"{target.name}.patchbay-{stamp}.bak")
    counter = 2
    while candidate.exists():
        candidate = target.with_name(f"{target.name}.patchbay-{stamp}-{counter}.bak")
        counter += 1
    return candidate


def _write_private(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` atomically with `mode`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _commit(
    path: Path,
    original: _Original | None,
    after: str,
    *,
    dry_run: bool,
    literals: Mapping[str, str],
    notes: list[str],
) -> Change:
    before = original.text if original else None
    changed = before != after
    change = Change(path, changed, _diff(path, before, after, literals), mode_0600=bool(literals), notes=notes)
    if dry_run:
        return change
    target = path.resolve() if path.is_symlink() else path
    if not changed:
        if literals and (target.stat().st_mode & 0o777) != 0o600:
            os.chmod(target, 0o600)
        return change
    data = ("\ufeff" if original and original.bom else "").encode() + after.encode("utf-8")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if original is None:
            if target.exists():
                raise HostConfigError(f"{path} was created by another program meanwhile; nothing was written.")
            mode = 0o600 if literals else 0o666 & ~_umask()
        else:
            if target.read_bytes() != original.raw:
                raise HostConfigError(
                    f"{path} was changed by another program meanwhile; nothing was written. Run the command again."
                )
            mode = 0o600 if literals else stat.S_IMODE(target.stat().st_mode)
            change.backup = _backup_path(target)
            shutil.copyfile(target, change.backup)
            os.chmod(change.backup, 0o600)
        _write_private(target, data, mode)
    except OSError as exc:
        raise HostConfigError(f"Cannot write {path}: {exc.strerror or exc}.", path=path) from None
    return change


# --------------------------------------------------------------------------- JSON / JSONC


def _install_steps(
    existing: Any, desired: Mapping[str, Any], launch_keys: frozenset[str]
) -> tuple[list[tuple[str, Any]], list[str], bool]:
    """How to turn `existing` into `desired`: (keys to set, keys to delete, whether to replace it whole)."""
    if not isinstance(existing, Mapping):
        return [], [], True
    sets = [(k, v) for k, v in desired.items() if k not in existing or not same(existing[k], v)]
    deletes = [k for k in existing if k in launch_keys and k not in desired]
    return sets, deletes, False


def _json_install(
    host: _Host,
    path: Path,
    before: str | None,
    entry_path: tuple[str, ...],
    desired: dict[str, Any],
    inputs: list[dict[str, Any]],
    notes: list[str],
) -> str:
    editor = JsonEditor.open(before, path, host)
    name = entry_path[-1]
    existing = editor.get(entry_path)
    if existing is MISSING:
        editor.set(entry_path, desired)
    else:
        sets, deletes, whole = _install_steps(existing, desired, host.launch_keys)
        if whole:
            editor.set(entry_path, desired)
        for key, value in sets:
            editor.set((*entry_path, key), value)
        for key in deletes:
            editor.delete((*entry_path, key))
        if whole or sets or deletes:
            notes.append(f"Updated the existing {name!r} entry in {path} (settings you added to it were kept).")
    if inputs:
        current = editor.get(("inputs",))
        if current is not MISSING and not isinstance(current, list):
            editor.fail_at(("inputs",), '"inputs" should be an array')
        known = {i.get("id") for i in current if isinstance(i, dict)} if isinstance(current, list) else set()
        for item in inputs:
            if item["id"] not in known:
                editor.append(("inputs",), item)
                known.add(item["id"])
    return editor.finish()


_INPUT_REF_RE: Final = re.compile(r"\$\{input:([^}]+)\}")


def _json_uninstall(client: str, path: Path, before: str, entry_path: tuple[str, ...], notes: list[str]) -> str:
    host, name = _HOSTS[client], entry_path[-1]
    editor = JsonEditor.open(before, path, host)
    existing = editor.get(entry_path)
    if existing is MISSING:
        notes.append(f"{path} has no server named {name!r}; nothing to remove.")
        return before
    editor.delete(entry_path)
    if client == "vscode":
        used = set(_INPUT_REF_RE.findall(json.dumps(existing)))
        inputs = editor.get(("inputs",))
        if used and isinstance(inputs, list):
            rest = {k: v for k, v in editor.model.items() if k != "inputs"}
            unused = used - set(_INPUT_REF_RE.findall(json.dumps(rest)))
            removed = False
            for index in reversed(range(len(inputs))):
                item = inputs[index]
                # Only inputs shaped like the ones `install` adds, and that no other entry refers to.
                if isinstance(item, dict) and item.get("id") in unused and item.get("type") == "promptString":
                    editor.delete_index(("inputs",), index)
                    removed = True
            if removed and not editor.get(("inputs",)):
                editor.delete(("inputs",))
    return editor.finish()


# --------------------------------------------------------------------------- TOML (Codex)


def _toml_parse(path: Path, text: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TomlParseError as exc:
        message = str(exc).rsplit(" at line ", 1)[0]
        line, column = exc.line, exc.col + 1
        raise HostConfigError(
            f"{path}:{line}:{column}: {message}. The file was left unchanged; fix it and run the command again.",
            path=path,
            line=line,
            column=column,
        ) from None
    except TOMLKitError as exc:
        raise HostConfigError(f"{path}: {exc}. The file was left unchanged.", path=path) from None


def _toml_value(value: Any) -> Any:
    if isinstance(value, dict):
        table = tomlkit.inline_table()
        table.update(value)
        return table
    return value


def _toml_table_text(container: str, name: str, desired: Mapping[str, Any], eol: str) -> str:
    """`[container.name]` and its keys, as Codex's own `codex mcp add` would write them."""
    doc = tomlkit.document()
    outer = tomlkit.table(is_super_table=True)
    table = tomlkit.table()
    for key, value in desired.items():
        table[key] = _toml_value(value)
    outer[name] = table
    doc[container] = outer
    return doc.as_string().replace("\n", eol)


@dataclass(frozen=True)
class _TomlHeader:
    start: int
    """Offset of the header line."""
    end: int
    """Offset where the table's last key/value line ends (trailing blank and comment lines excluded)."""
    path: tuple[str, ...]


def _header_path(line: str) -> tuple[str, ...]:
    parsed: Any = tomlkit.parse(line).unwrap()
    path: list[str] = []
    while isinstance(parsed, dict) and len(parsed) == 1:
        key = next(iter(parsed))
        path.append(key)
        parsed = parsed[key]
    return tuple(path)


def _toml_headers(text: str) -> list[_TomlHeader]:
    """The table headers of a valid TOML text, with where each table's content ends."""
    lines = text.splitlines(keepends=True)
    found: list[tuple[int, int, tuple[str, ...]]] = []  # (line index, offset, path)
    offsets: list[int] = []
    pos = 0
    multiline: str | None = None  # the delimiter of the multi-line string we are in
    depth = 0  # open brackets of arrays and inline tables spanning lines
    for index, line in enumerate(lines):
        offsets.append(pos)
        pos += len(line)
        if multiline is None and depth == 0 and line.lstrip(" \t").startswith("["):
            found.append((index, offsets[index], _header_path(line)))
            continue
        i = 0
        while i < len(line):
            if multiline is not None:
                if multiline == '"""' and line[i] == "\\":
                    i += 2
                    continue
                if line.startswith(multiline, i):
                    i += 3
                    while i < len(line) and line[i] == multiline[0]:
                        i += 1
                    multiline = None
                    continue
                i += 1
                continue
            ch = line[i]
            if ch == "#":
                break
            if ch in "\"'":
                if line.startswith(ch * 3, i):
                    multiline = ch * 3
                    i += 3
                    continue
                i += 1
                while i < len(line) and line[i] != ch:
                    i += 2 if ch == '"' and line[i] == "\\" else 1
                i += 1
                continue
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            i += 1
    offsets.append(pos)
    headers: list[_TomlHeader] = []
    for number, (index, start, path) in enumerate(found):
        last = found[number + 1][0] if number + 1 < len(found) else len(lines)
        end_line = last
        while end_line > index + 1 and lines[end_line - 1].strip(" \t\r\n")[:1] in ("", "#"):
            end_line -= 1
        headers.append(_TomlHeader(start, offsets[end_line], path))
    return headers


def _toml_install(path: Path, before: str | None, name: str, desired: dict[str, Any], notes: list[str]) -> str:
    container = "mcp_servers"
    text = before or ""
    eol = "\r\n" if "\r\n" in text else "\n"
    doc = _toml_parse(path, text)
    expected = doc.unwrap()
    servers = doc.get(container)
    if servers is not None and not isinstance(servers, dict):
        raise HostConfigError(f"{path}: {container} should be a table. The file was left unchanged.", path=path)
    existing = servers.get(name) if servers is not None else None
    if existing is None:
        expected.setdefault(container, {})[name] = desired
        ours = [h for h in _toml_headers(text) if h.path[:1] == (container,)]
        table_text = _toml_table_text(container, name, desired, eol)
        after: str | None = None
        if ours:  # right after the last [mcp_servers.*] table, before any comments that introduce the next one
            at = ours[-1].end
            if at == len(text) and not text.endswith("\n"):
                table_text = eol + table_text
            after = text[:at] + eol + table_text + text[at:]
        elif servers is None:  # at the end of the file
            body = text if not text or text.endswith("\n") else text + eol
            after = body + (eol if body.strip() else "") + table_text
        if after is not None and same(_toml_parse(path, after).unwrap(), expected):
            return after
        # mcp_servers written as dotted keys or an inline table: let tomlkit place the entry.
        if servers is None:
            servers = doc[container] = tomlkit.table(is_super_table=True)
        servers[name] = _toml_entry_table(desired, inline=isinstance(servers, InlineTable))
        return _toml_checked(path, doc, expected)
    if not isinstance(existing, Table | InlineTable):
        raise HostConfigError(f"{path}: {container}.{name} should be a table. The file was left unchanged.", path=path)
    sets, deletes, _ = _install_steps(existing.unwrap(), desired, _HOSTS["codex"].launch_keys)
    for key, value in sets:
        existing[key] = _toml_value(value)
    for key in deletes:
        del existing[key]
    if sets or deletes:
        notes.append(f"Updated the existing {name!r} entry in {path} (settings you added to it were kept).")
        entry = expected[container][name]
        entry.update(dict(sets))
        for key in deletes:
            del entry[key]
    return _toml_checked(path, doc, expected)


def _toml_entry_table(desired: Mapping[str, Any], *, inline: bool) -> Table | InlineTable:
    table = tomlkit.inline_table() if inline else tomlkit.table()
    for key, value in desired.items():
        table[key] = _toml_value(value)
    return table


def _toml_checked(path: Path, doc: tomlkit.TOMLDocument, expected: Any) -> str:
    after = doc.as_string()
    if not same(_toml_parse(path, after).unwrap(), expected):  # pragma: no cover - a bug in this module or tomlkit
        raise HostConfigError(f"Internal error while editing {path}; nothing was written.", path=path)
    return after


def _toml_uninstall(path: Path, before: str, name: str, notes: list[str]) -> str:
    container = "mcp_servers"
    doc = _toml_parse(path, before)
    servers = doc.get(container)
    if not isinstance(servers, dict) or name not in servers:
        notes.append(f"{path} has no server named {name!r}; nothing to remove.")
        return before
    expected = doc.unwrap()
    del expected[container][name]
    if not expected[container]:  # an emptied [mcp_servers] that had no header of its own disappears
        del expected[container]
    ours = [h for h in _toml_headers(before) if h.path[:2] == (container, name)]
    if ours:
        after = before
        for header in reversed(ours):
            start, end = header.start, header.end
            # Drop the blank line that separated the table from the one before it (or, first in the file, after it).
            previous = start_of_line(after, start - 1) if start else 0
            following = after.find("\n", end) + 1 or len(after)
            if start and after[previous:start].strip(" \t\r\n") == "":
                start = previous
            elif not start and end < len(after) and after[end:following].strip(" \t\r\n") == "":
                end = following
            after = after[:start] + after[end:]
        parsed = _toml_parse(path, after).unwrap()
        if parsed.get(container) == {} and container not in expected:
            del parsed[container]
        if same(parsed, expected):
            return after
    del servers[name]  # dotted keys or an inline table (or the text edit failed): let tomlkit remove it
    after = doc.as_string()
    parsed = _toml_parse(path, after).unwrap()
    if parsed.get(container) == {} and container not in expected:
        del parsed[container]  # `[mcp_servers]` written as a header of its own stays
    if not same(parsed, expected):  # pragma: no cover - a bug in this module or tomlkit
        raise HostConfigError(f"Internal error while editing {path}; nothing was written.", path=path)
    return after
