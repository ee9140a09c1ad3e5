"""Contracts for fakes: check what a `FakeService` sees against the service's official API description.

    with FakeGitHub(contract=github_contract()) as fake:      # OpenAPI 3, npm @octokit/openapi
        ...
    with FakeDrive(contract=drive_contract()) as fake:        # the Drive v3 discovery document
        ...

Either contract finds, for every request: an endpoint the description does not have, a
parameter it does not know or a required one missing, a request body that does not fit;
and for every answer: a status the operation does not document (OpenAPI), a body that does
not fit the documented schema, and any field the schema does not declare (so a fake can
neither invent fields nor leave out required ones). Each finding names the operation and
the field, as `$.owner.login: 'login' is a required property`.

`OpenAPIContract` uses openapi-core for parameters, bodies and statuses, plus its own walk
for undeclared fields (openapi-core's `additionalProperties` policy cannot see through
`allOf`, which the GitHub description uses). `DiscoveryContract` turns the discovery
document's schemas into JSON Schema (every declared object closed) and uses jsonschema.

Descriptions are loaded once per process and cached: the GitHub one is 13 MB.
`github_contract()` finds it through $PATCHBAY_GITHUB_OPENAPI or the folder that
`tools/ensure-github-openapi.sh` installs into; `github_contract_or_skip()` skips the
calling test with how to install it (the root conftest turns that skip into a failure
under CI=true).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patchbay.fakes import FakeRequest, Response

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = [
    "GITHUB_DESCRIPTION_ENV",
    "DescriptionMissing",
    "DiscoveryContract",
    "OpenAPIContract",
    "drive_contract",
    "drive_discovery_document",
    "github_contract",
    "github_contract_or_skip",
    "github_description_path",
    "undeclared_fields",
]

GITHUB_DESCRIPTION_ENV = "PATCHBAY_GITHUB_OPENAPI"
_GITHUB_INSTALL_HINT = (
    "The official GitHub REST description (npm @octokit/openapi, generated/api.github.com.json, 13 MB) "
    "is not installed: run `bash tools/ensure-github-openapi.sh` (it prints the file's path), "
    f"or set {GITHUB_DESCRIPTION_ENV} to that file."
)
_MESSAGE_LIMIT = 240


class DescriptionMissing(FileNotFoundError):
    """An API description a contract needs is not on this machine; the message says how to get it."""


# -- shared helpers ------------------------------------------------------------------------------


def _shorten(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_path(parts: Iterable[Any]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _schema_error_lines(error: ValidationError) -> list[str]:
    """One line per jsonschema error, naming where it is; for anyOf/oneOf, the closest branch's error."""
    from jsonschema.exceptions import best_match

    if error.context:
        inner = best_match(error.context)
        if inner is not None:
            return [f"{_json_path(inner.absolute_path)}: {_shorten(inner.message)}"]
    return [f"{_json_path(error.absolute_path)}: {_shorten(error.message)}"]


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(content_type: str) -> bool:
    media = _media_type(content_type)
    return media == "application/json" or media.endswith("+json")


def _template_regex(template: str) -> tuple[re.Pattern[str], int]:
    """A regex for a path template: `{x}` is one segment, `{+x}` (RFC 6570 reserved) the rest."""
    regex, last, params = "", 0, 0
    for match in re.finditer(r"\{(\+?)([^}]+)\}", template):
        regex += re.escape(template[last : match.start()])
        regex += ".+" if match.group(1) else "[^/]+"
        last, params = match.end(), params + 1
    return re.compile(regex + re.escape(template[last:])), params


def undeclared_fields(
    value: Any, schema: Mapping[str, Any], resolve: Callable[[str], Mapping[str, Any]], where: str = "$"
) -> list[str]:
    """Fields of `value` that `schema` does not declare, as `$.a.b: undeclared field 'c'` lines.

    An object's declared fields are the union of `properties` over the schema and its `allOf`,
    `anyOf` and `oneOf` branches (`$ref`s resolved by `resolve`); an object is open (anything
    goes) when a branch allows `additionalProperties` or is a free-form object."""
    return _undeclared(value, [schema], resolve, where, depth=0)


def _leaves(schema: Any, resolve: Callable[[str], Mapping[str, Any]], depth: int = 0) -> list[Mapping[str, Any]]:
    if not isinstance(schema, Mapping) or depth > 32:
        return []
    while "$ref" in schema:
        schema = resolve(str(schema["$ref"]))
    found = [schema]
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key, ()):
            found += _leaves(branch, resolve, depth + 1)
    return found


def _undeclared(
    value: Any, schemas: list[Any], resolve: Callable[[str], Mapping[str, Any]], where: str, depth: int
) -> list[str]:
    if depth > 64:
        return []
    leaves = [leaf for schema in schemas for leaf in _leaves(schema, resolve)]
    if isinstance(value, list):
        items = [leaf["items"] for leaf in leaves if isinstance(leaf.get("items"), Mapping)]
        if not items:
            return []
        return [
            message
            for i, item in enumerate(value)
            for message in _undeclared(item, items, resolve, f"{where}[{i}]", depth + 1)
        ]
    if not isinstance(value, Mapping):
        return []
    open_object = False
    declared: dict[str, list[Any]] = {}
    extra: list[Any] = []
    for leaf in leaves:
        additional = leaf.get("additionalProperties")
        if additional is True or (isinstance(additional, Mapping) and not additional):
            open_object = True
        elif isinstance(additional, Mapping):
            extra.append(additional)
        properties = leaf.get("properties")
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                declared.setdefault(name, []).append(sub)
        elif (
            additional is None
            and not any(k in leaf for k in ("allOf", "anyOf", "oneOf"))
            and leaf.get("type") in (None, "object")
        ):
            open_object = True  # a free-form object (or a schema that says nothing)
    found: list[str] = []
    for name, item in value.items():
        subs = declared.get(name)
        if subs is None and extra:
            subs = extra
        if subs is None:
            if not open_object:
                found.append(f"{where}: undeclared field {name!r}")
            continue
        found += _undeclared(item, subs, resolve, f"{where}.{name}", depth + 1)
    return found


# -- OpenAPI 3 -----------------------------------------------------------------------------------


class _OpenAPIRequest:
    """A `FakeRequest` in openapi-core's request protocol."""

    def __init__(self, request: FakeRequest, host_url: str, path: str) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.host_url = host_url
        self.path = path
        self.method = request.method.lower()
        self.body: bytes | None = request.body
        self.content_type = request.content_type.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict([(k, v) for k, vs in request.query.items() for v in vs]),
            header=Headers(list(request.headers.items())),
        )


class _OpenAPIResponse:
    """A fake's `Response` in openapi-core's response protocol."""

    def __init__(self, response: Response) -> None:
        from werkzeug.datastructures import Headers

        self.status_code = response.status
        self.data: bytes | None = response.body
        self.content_type = response.content_type.lower()
        self.headers = Headers(list(response.headers.items()))


class OpenAPIContract:
    """Checks requests and answers against an OpenAPI 3 description (with openapi-core), and
    finds fields the documented schemas do not declare.

    `prefix` is a path prefix the fake serves under and the description does not have (e.g.
    `/api/v3` for a GitHub Enterprise-style base URL). A path parameter named in `slash_params`
    that ends a path may hold slashes (`/repos/{owner}/{repo}/contents/{path}` takes `a/b.txt`)."""

    def __init__(
        self,
        description: Mapping[str, Any],
        *,
        name: str = "OpenAPI",
        prefix: str = "",
        slash_params: Iterable[str] = ("path", "ref", "branch"),
    ) -> None:
        from openapi_core import OpenAPI
        from openapi_core.configurations import Config

        self.name = name
        self.prefix = prefix.rstrip("/")
        self.slash_params = frozenset(slash_params)
        self._description = description
        servers = description.get("servers") or [{"url": "http://localhost"}]
        self._host_url = str(servers[0]["url"]).rstrip("/")
        # spec_validator_cls=None: trust the official description instead of checking all of it first.
        config = Config(spec_validator_cls=None)  # type: ignore[arg-type]
        self._app = OpenAPI.from_dict(dict(description), config=config)
        self._lock = threading.Lock()
        paths = []
        for template in description.get("paths", {}):
            regex, params = _template_regex(template)
            # GitHub takes slashes in some last parameters (contents paths, refs, branch names).
            tail = None
            last = re.search(r"\{([^}]+)\}$", template)
            if last is not None and last.group(1) in self.slash_params:
                head = template[: template.rindex("{")]
                tail = re.compile(_template_regex(head)[0].pattern + "(?P<tail>.+)")
            paths.append((params, template, regex, tail))
        self._paths = sorted(paths, key=lambda p: p[0])

    def _path(self, request: FakeRequest) -> str | None:
        if not self.prefix:
            return request.path
        if request.path == self.prefix or request.path.startswith(self.prefix + "/"):
            return request.path[len(self.prefix) :] or "/"
        return None

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported: {ref}")
        node: Any = self._description
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node  # type: ignore[no-any-return]

    def _deref(self, node: Any) -> Any:
        while isinstance(node, Mapping) and "$ref" in node:
            node = self._resolve(str(node["$ref"]))
        return node

    def _operation(self, method: str, path: str) -> tuple[str, Mapping[str, Any], str] | None:
        """(template, operation, the path for openapi-core): a last parameter that spans
        slashes is given to openapi-core with them encoded, as its templates take one segment."""
        for _, template, regex, _ in self._paths:
            if regex.fullmatch(path):
                operation = self._description["paths"][template].get(method.lower())
                if operation is not None:
                    return template, operation, path
        for _, template, _, tail in self._paths:
            found = tail.fullmatch(path) if tail is not None else None
            if found is not None:
                operation = self._description["paths"][template].get(method.lower())
                if operation is not None:
                    return template, operation, path[: found.start("tail")] + found["tail"].replace("/", "%2F")
        return None

    @staticmethod
    def _schema_for(content: Any, content_type: str) -> Mapping[str, Any] | None:
        if not isinstance(content, Mapping):
            return None
        media = content.get(_media_type(content_type)) or next((v for k, v in content.items() if _is_json(k)), None)
        schema = media.get("schema") if isinstance(media, Mapping) else None
        return schema if isinstance(schema, Mapping) else None

    def _describe(self, error: BaseException, what: str) -> list[str]:
        chain: list[BaseException] = []
        current: BaseException | None = error
        while current is not None and len(chain) < 8:
            chain.append(current)
            current = current.__cause__ or current.__context__
        for link in chain:
            schema_errors = getattr(link, "schema_errors", None)
            if schema_errors:
                return [f"{what} {line}" for se in schema_errors for line in _schema_error_lines(se)]
        reasons = "; ".join(dict.fromkeys(_shorten(str(link) or type(link).__name__) for link in chain))
        return [f"{what}: {type(error).__name__}: {reasons}"]

    def check_request(self, request: FakeRequest) -> list[str]:
        path = self._path(request)
        what = f"{self.name} {request.method} {request.path}"
        if path is None:
            return [f"{what}: outside the prefix {self.prefix!r} the fake serves the description under"]
        operation = self._operation(request.method, path)
        seen_as = path if operation is None else operation[2]
        with self._lock:
            errors = list(self._app.iter_request_errors(_OpenAPIRequest(request, self._host_url, seen_as)))
        found = [line for e in errors for line in self._describe(e, f"{what} request")]
        if operation is not None and request.body and _is_json(request.content_type):
            body = self._deref(operation[1].get("requestBody"))
            schema = self._schema_for(body.get("content") if isinstance(body, Mapping) else None, request.content_type)
            if schema is not None:
                found += [f"{what} request body {m}" for m in undeclared_fields(request.json(), schema, self._resolve)]
        return found

    def check_response(self, request: FakeRequest, response: Response) -> list[str]:
        path = self._path(request)
        operation = None if path is None else self._operation(request.method, path)
        if path is None or operation is None:
            return []  # the request side has said so
        what = f"{self.name} {request.method} {request.path} → {response.status}"
        with self._lock:
            errors = list(
                self._app.iter_response_errors(
                    _OpenAPIRequest(request, self._host_url, operation[2]),
                    _OpenAPIResponse(response),
                )
            )
        found = [line for e in errors for line in self._describe(e, f"{what} body")]
        if not response.body or not _is_json(response.content_type):
            return found
        responses = operation[1].get("responses", {})
        status = str(response.status)
        documented = self._deref(
            responses.get(status) or responses.get(f"{status[0]}XX") or responses.get("default") or {}
        )
        schema = self._schema_for(documented.get("content"), response.content_type)
        if schema is not None:
            found += [f"{what} body {m}" for m in undeclared_fields(response.json(), schema, self._resolve)]
        return found


def github_description_path() -> Path:
    """The official GitHub REST description (api.github.com.json from npm @octokit/openapi):
    $PATCHBAY_GITHUB_OPENAPI, else the newest complete install of tools/ensure-github-openapi.sh
    under ${PATCHBAY_TOOLS_DIR:-~/.cache/patchbay-tools}. Raises `DescriptionMissing` saying how to get it."""
    explicit = os.environ.get(GITHUB_DESCRIPTION_ENV, "").strip()
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise DescriptionMissing(f"{GITHUB_DESCRIPTION_ENV}={explicit} is not a file. {_GITHUB_INSTALL_HINT}")
        return path
    tools = Path(os.environ.get("PATCHBAY_TOOLS_DIR") or Path.home() / ".cache" / "patchbay-tools")

    def version(folder: Path) -> tuple[int, ...]:
        numbers = folder.name.removeprefix("octokit-openapi-").split(".")
        return tuple(int(n) if n.isdigit() else -1 for n in numbers)

    installs = [f for f in tools.glob("octokit-openapi-*") if (f / ".complete").is_file()]
    for folder in sorted(installs, key=version, reverse=True):
        if (folder / "api.github.com.json").is_file():
            return folder / "api.github.com.json"
    raise DescriptionMissing(_GITHUB_INSTALL_HINT)


@functools.lru_cache(maxsize=4)
def _openapi_contract(path: str, name: str, prefix: str) -> OpenAPIContract:
    with open(path, encoding="utf-8") as file:
        return OpenAPIContract(json.load(file), name=name, prefix=prefix)


def github_contract(path: str | Path | None = None, *, prefix: str = "") -> OpenAPIContract:
    """The contract of the GitHub REST API, loaded once per process (see `github_description_path`)."""
    return _openapi_contract(str(path or github_description_path()), "GitHub", prefix)


def github_contract_or_skip(prefix: str = "") -> OpenAPIContract:
    """`github_contract()`, or skip the calling test saying how to install the description
    (under CI=true the root conftest turns that skip into a failure)."""
    import pytest

    try:
        return github_contract(prefix=prefix)
    except DescriptionMissing as missing:
        pytest.skip(str(missing))


# -- Google discovery documents ------------------------------------------------------------------

_DISCOVERY_DROP = frozenset({"id", "description", "annotations", "enumDescriptions", "deprecated", "location"})


def _discovery_to_json_schema(node: Any) -> Any:
    """A discovery schema as JSON Schema: `$ref` by name → `#/$defs/name`, type `any` dropped,
    every object with declared properties closed (`additionalProperties: false`)."""
    if isinstance(node, list):
        return [_discovery_to_json_schema(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    converted: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DISCOVERY_DROP or (key == "required" and isinstance(value, bool)):
            continue
        if key == "$ref":
            converted["$ref"] = f"#/$defs/{value}"
        elif key == "type" and value == "any":
            continue
        elif key == "properties":
            converted["properties"] = {name: _discovery_to_json_schema(sub) for name, sub in value.items()}
        else:
            converted[key] = _discovery_to_json_schema(value)
    if "properties" in converted and "additionalProperties" not in converted:
        converted["additionalProperties"] = False
    return converted


class DiscoveryContract:
    """Checks requests and answers against a Google API discovery document: the method exists,
    its query parameters are known and the required ones present, and JSON bodies (the request's
    `request.$ref`, a 2xx answer's `response.$ref`) fit their schemas with no undeclared field;
    an error answer has Google's shape (`{"error": {"code", "message", ...}}`)."""

    def __init__(self, document: Mapping[str, Any], *, name: str | None = None) -> None:
        from jsonschema import Draft202012Validator

        self.name = name or f"{document.get('title', document.get('name', 'API'))}"
        self._document = document
        definitions = {key: _discovery_to_json_schema(schema) for key, schema in document.get("schemas", {}).items()}
        self._validators: dict[str, Any] = {
            key: Draft202012Validator({"$defs": definitions, "$ref": f"#/$defs/{key}"}) for key in definitions
        }
        self._globals = {k for k, v in document.get("parameters", {}).items() if v.get("location") == "query"}
        service = "/" + str(document.get("servicePath", "")).strip("/")
        self._methods: list[tuple[int, str, re.Pattern[str], Mapping[str, Any], bool]] = []
        for method in _discovery_methods(document.get("resources", {})):
            templates = [(f"{service}/{method['path']}".replace("//", "/"), False)]
            for protocol in method.get("mediaUpload", {}).get("protocols", {}).values():
                templates.append((str(protocol["path"]), True))
            for template, upload in templates:
                regex, params = _template_regex(template)
                self._methods.append((params, str(method["httpMethod"]).upper(), regex, method, upload))
        self._methods.sort(key=lambda m: m[0])

    def _method(self, request: FakeRequest) -> tuple[Mapping[str, Any], bool] | None:
        session = request.arg("upload_id") is not None  # a resumable session's chunks are PUT to its URI
        for _, http_method, regex, method, upload in self._methods:
            if (http_method == request.method or (session and upload)) and regex.fullmatch(request.path):
                return method, upload
        return None

    def _validate(self, schema: str, value: Any, what: str) -> list[str]:
        validator = self._validators.get(schema)
        if validator is None:
            return [f"{what}: the document has no schema {schema!r}"]
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        return [f"{what} ({schema}) {line}" for e in errors for line in _schema_error_lines(e)]

    def check_request(self, request: FakeRequest) -> list[str]:
        found = self._method(request)
        what = f"{self.name} {request.method} {request.path}"
        if found is None:
            return [f"{what}: no method of the discovery document has this path and HTTP method"]
        method, upload = found
        what = f"{self.name} {method.get('id', '?')} ({request.method} {request.path})"
        parameters = method.get("parameters", {})
        known = self._globals | {k for k, v in parameters.items() if v.get("location") == "query"}
        if upload:
            known |= {"upload_id"}  # the session URI Google returns in `Location` for resumable uploads
        messages = [f"{what}: unknown query parameter {name!r}" for name in request.query if name not in known]
        messages += [
            f"{what}: missing required query parameter {name!r}"
            for name, spec in parameters.items()
            if spec.get("location") == "query" and spec.get("required") and name not in request.query
        ]
        schema = method.get("request", {}).get("$ref")
        if schema and not upload and request.body and _is_json(request.content_type):
            messages += self._validate(str(schema), request.json(), f"{what} request body")
        return messages

    def check_response(self, request: FakeRequest, response: Response) -> list[str]:
        found = self._method(request)
        if found is None or not response.body or not _is_json(response.content_type):
            return []
        method, _ = found
        what = f"{self.name} {method.get('id', '?')} ({request.method} {request.path}) → {response.status} body"
        if response.status >= 400:
            body = response.json()
            error = body.get("error") if isinstance(body, dict) else None
            if not isinstance(error, dict) or error.get("code") != response.status or "message" not in error:
                return [f"{what}: not a Google error body ({{'error': {{'code': {response.status}, 'message': ...}}}})"]
            return []
        schema = method.get("response", {}).get("$ref")
        if not schema or request.arg("alt") == "media" or not 200 <= response.status < 300:
            return []
        return self._validate(str(schema), response.json(), what)


def _discovery_methods(resources: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for resource in resources.values():
        yield from resource.get("methods", {}).values()
        yield from _discovery_methods(resource.get("resources", {}))


@functools.lru_cache(maxsize=1)
def _drive_document() -> Mapping[str, Any]:
    from importlib import resources

    text = (resources.files("googleapiclient") / "discovery_cache" / "documents" / "drive.v3.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def drive_discovery_document(root_url: str | None = None) -> dict[str, Any]:
    """A copy of the Drive v3 discovery document shipped in google-api-python-client, with
    `rootUrl` set to `root_url` (e.g. a fake's URL) when given: build a client with
    `googleapiclient.discovery.build_from_document(doc, http=...)`."""
    document = copy.deepcopy(dict(_drive_document()))
    if root_url is not None:
        document["rootUrl"] = root_url.rstrip("/") + "/"
    return document


@functools.lru_cache(maxsize=1)
def drive_contract() -> DiscoveryContract:
    """The contract of the Drive v3 API, from the discovery document google-api-python-client ships."""
    return DiscoveryContract(_drive_document(), name="Drive v3")
