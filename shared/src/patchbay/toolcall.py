"""What happens around every tool call, as a short pipeline of named steps.

`register(server, spec, runtime)` gives the SDK a function with the tool's own signature
(plus the confirmation parameter for tools that ask). A call then goes through:

1. `settle_confirmation` - a declined or cancelled question ends the call, nothing done;
2. `open_cursor`         - a paginated tool's cursor is checked and opened to its upstream token;
3. `invoke`              - the tool runs: `async def` on the loop, plain `def` in a worker
                           thread; exceptions become short tool errors through the mappers;
4. `seal_cursor`         - the page's upstream `next_cursor` is sealed for the client;
5. `render`              - a confirmed tool's result is wrapped in `Confirmed`, a model becomes
                           structured content plus its compact text for the model
                           (`model_text`; JSON with `result_text=json`), and the whole
                           result is cut to `max_result_bytes`, flagged (`content.fit_result`).
6. `check_output`        - structured content not made from an instance of the tool's declared
                           model is checked against that model (the SDK's own check of
                           every result is off for these tools);
7. `note_removals`       - what `untrusted.collecting` saw removed from text written by others
                           (`Untrusted` fields) during step 3 is named in one more text block.

`serve_tool_calls` replaces the SDK's `tools/call` handler so that argument
validation errors read as one sentence per argument, unexpected failures in
resolvers get an incident id, and log records reach the client.
"""

from __future__ import annotations

import inspect
import logging
import typing
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any

import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import find_resolved_parameters
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from patchbay import sdk, untrusted
from patchbay.audit import current_call
from patchbay.confirm import CONFIRM_PARAM, Asking, Confirmed, confirmation_parameter, settle
from patchbay.content import fit_result
from patchbay.errors import InvalidArgument, validation_message
from patchbay.model_text import text_of
from patchbay.pagination import InvalidCursor, Paginated
from patchbay.registry import ToolSpec
from patchbay.runtime import Runtime
from patchbay.settings import ConnectorSettings
from patchbay.unencodable import check_arguments, escape, scrub

logger = logging.getLogger("patchbay.calls")


@dataclass(frozen=True)
class ToolPlan:
    """What the pipeline needs to know about one tool, worked out once when the server is built."""

    spec: ToolSpec
    parameters: tuple[inspect.Parameter, ...]
    hints: dict[str, Any]
    arg_names: tuple[str, ...]  # what the client sends (not ctx, not resolver-filled)
    asks: bool  # the SDK asks the user before the body runs
    confirmed: bool  # the result says whether it ran (Confirmed[T])
    is_async: bool
    returns: type[BaseModel] | None  # the model the tool declares it returns, if it does

    @classmethod
    def of(cls, spec: ToolSpec, confirm: str) -> ToolPlan:
        """The plan for `spec` under the `confirm` setting."""
        fn = spec.fn
        hints = typing.get_type_hints(fn, include_extras=True)
        parameters = tuple(inspect.signature(fn).parameters.values())
        injected = find_resolved_parameters(fn)
        arg_names = tuple(p.name for p in parameters if not _is_context(hints.get(p.name)) and p.name not in injected)
        confirmed = spec.summary is not None
        returns = hints.get("return")
        model = returns if _is_model(returns) else None
        return cls(
            spec=spec,
            parameters=parameters,
            hints=hints,
            arg_names=arg_names,
            asks=confirmed and confirm == "elicit",
            confirmed=confirmed,
            is_async=inspect.iscoroutinefunction(fn),
            returns=model,
        )

    @cached_property
    def output(self) -> TypeAdapter[Any]:
        """What the tool's structured content must be: `Confirmed[returns]` or `returns` (made on
        first use: most tools never need it, see `check_output`)."""
        returns: Any = self.returns
        return TypeAdapter(Confirmed[returns] if self.confirmed else returns)

    def query(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """What a cursor is bound to: the tool and every argument but the cursor and page size."""
        return {"tool": self.spec.name, **{n: kwargs.get(n) for n in self.arg_names if n not in ("cursor", "limit")}}


# The steps ---------------------------------------------------------------------------


def settle_confirmation(plan: ToolPlan, kwargs: dict[str, Any]) -> Confirmed[Any] | None:
    """The 'nothing was done' result when the user did not say yes; None to go ahead."""
    if plan.asks:
        return settle(kwargs.pop(CONFIRM_PARAM))
    if plan.confirmed:
        current_call().confirmation = "not asked (--confirm=never)"
    return None


def open_cursor(plan: ToolPlan, runtime: Runtime[Any, Any], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """Replace a paginated tool's `cursor` by its upstream token; returns the query it is bound to.

    Raises:
        InvalidArgument: the cursor was altered, belongs to another query, or expired.
    """
    if not plan.spec.paginated:
        return None
    query = plan.query(kwargs)
    if kwargs.get("cursor") is not None:
        try:
            kwargs["cursor"] = runtime.cursors.decode(kwargs["cursor"], query)
        except InvalidCursor as exc:
            raise InvalidArgument("cursor", str(exc)) from None
    return query


async def invoke(plan: ToolPlan, runtime: Runtime[Any, Any], kwargs: dict[str, Any]) -> Any:
    """Run the tool body; every exception but a protocol error becomes a short `ToolError`."""
    fn = plan.spec.fn
    try:
        if plan.is_async:
            return await fn(**kwargs)
        return await runtime.workers.run(lambda: fn(**kwargs), kind=fn)
    except MCPError:
        raise
    except Exception as exc:
        raise runtime.errors.to_tool_error(plan.spec.name, exc) from None


def seal_cursor(runtime: Runtime[Any, Any], result: Any, query: dict[str, Any] | None) -> Any:
    """A page whose `next_cursor` (an upstream token) is sealed into an opaque cursor."""
    if query is None or not isinstance(result, Paginated) or result.next_cursor is None:
        return result
    return result.model_copy(update={"next_cursor": runtime.cursors.encode(result.next_cursor, query)})


def render(plan: ToolPlan, result: Any, settings: ConnectorSettings) -> Any:
    """The result as the SDK sends it: a model becomes structured content (all of it) plus its
    text for the model; then the whole result is held to `max_result_bytes`. Text that cannot
    be sent as UTF-8 (a lone surrogate, e.g. from a file name that is not UTF-8) is escaped
    (`unencodable.scrub`) rather than fail the call without a reason."""
    try:
        return _render(plan, result, settings)
    except PydanticSerializationError:
        if isinstance(result, BaseModel) and not isinstance(result, types.CallToolResult):
            result = type(result).model_validate(scrub(result.model_dump()))
        elif isinstance(result, types.CallToolResult):
            result = types.CallToolResult.model_validate(scrub(result.model_dump(mode="json", by_alias=True)))
        return _render(plan, result, settings)


def _render(plan: ToolPlan, result: Any, settings: ConnectorSettings) -> Any:
    if plan.confirmed and not isinstance(result, Confirmed):
        result = Confirmed(outcome="done", message="Done.", result=result)
    mode = settings.result_text
    if isinstance(result, BaseModel) and not isinstance(result, types.CallToolResult):
        model = type(result)
        data = result.model_dump(mode="json", by_alias=True)
        text = text_of(result, data, mode)
        rendered = types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=data)
        return fit_result(
            rendered, settings.max_result_bytes, rerender=lambda cut: text_of(model.model_validate(cut), cut, mode)
        )
    if isinstance(result, types.CallToolResult):
        return fit_result(result, settings.max_result_bytes)
    return result


async def run(plan: ToolPlan, runtime: Runtime[Any, Any], kwargs: dict[str, Any]) -> Any:
    """One call through every step."""
    nothing_done = settle_confirmation(plan, kwargs)
    if nothing_done is not None:
        return check_output(plan, nothing_done, render(plan, nothing_done, runtime.settings))
    query = open_cursor(plan, runtime, kwargs)
    with untrusted.collecting(runtime.settings.clean_untrusted_text) as removals:
        result = await invoke(plan, runtime, kwargs)
    rendered = check_output(plan, result, render(plan, seal_cursor(runtime, result, query), runtime.settings))
    return note_removals(rendered, removals)


def check_output(plan: ToolPlan, result: Any, rendered: Any) -> Any:
    """`rendered`, its structured content checked against the tool's output model, as the SDK
    would, unless it is the dump of an instance of the declared model (then it is that model's
    by construction, and a part cut to fit was checked when its text was made again).

    Raises:
        ValidationError: the tool returned something its output schema does not allow.
    """
    if plan.returns is None or not isinstance(rendered, types.CallToolResult) or rendered.is_error:
        return rendered
    if plan.confirmed or not isinstance(result, plan.returns):
        plan.output.validate_python(rendered.structured_content)
    return rendered


def note_removals(result: Any, removals: untrusted.Removals) -> Any:
    """A result followed by one line saying what was removed from text written by others."""
    line = removals.note
    if line is None:
        return result
    if isinstance(result, types.CallToolResult):
        return result.model_copy(update={"content": [*result.content, types.TextContent(type="text", text=line)]})
    return result  # a tool returning its own content says what it removed itself (`Cleaned.note`)


# The function the SDK registers ------------------------------------------------------


def register(server: MCPServer[Any], spec: ToolSpec, runtime: Runtime[Any, Any]) -> None:
    """Register `spec` with the SDK (`wrap`): described, annotated, and its structured content
    checked by `check_output` rather than by the SDK on every call."""
    plan = ToolPlan.of(spec, runtime.settings.confirm)
    server.add_tool(
        wrap(plan, runtime),
        name=spec.name,
        title=spec.title,
        description=inspect.getdoc(spec.fn) or "",
        annotations=spec.annotations(),
    )
    if plan.returns is not None:
        sdk.leave_output_check_to_tool(server, spec.name)


def wrap(plan: ToolPlan, runtime: Runtime[Any, Any]) -> Any:
    """The function the SDK registers for `plan`'s tool: its signature, and the pipeline as its body."""
    spec = plan.spec

    async def call_tool(**kwargs: Any) -> Any:
        return await run(plan, runtime, kwargs)

    signature = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=plan.hints.get(p.name, p.annotation))
        for p in plan.parameters
    ]
    annotations = {p.name: plan.hints[p.name] for p in plan.parameters if p.name in plan.hints}
    if plan.asks:
        assert spec.summary is not None
        asking = Asking(spec.name, spec.safety, runtime.settings.env_name("confirm"), runtime.workers, runtime.errors)
        confirm_type = confirmation_parameter(asking, spec.summary, list(plan.arg_names))
        signature.append(inspect.Parameter(CONFIRM_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=confirm_type))
        annotations[CONFIRM_PARAM] = confirm_type
    returns = plan.hints.get("return", Any)
    result_type: Any = Confirmed[returns] if plan.confirmed else returns  # type: ignore[valid-type]
    if _is_model(result_type):
        result_type = Annotated[types.CallToolResult, result_type]  # the schema still comes from the model
    call_tool.__signature__ = inspect.Signature(signature, return_annotation=result_type)  # type: ignore[attr-defined]
    call_tool.__annotations__ = {**annotations, "return": result_type}
    call_tool.__name__ = spec.name
    call_tool.__doc__ = spec.fn.__doc__
    return call_tool


def serve_tool_calls(server: MCPServer[Any], runtime: Runtime[Any, Any]) -> None:
    """Answer `tools/call` through the SDK's tool manager, with the base's errors and client log."""

    accepted = {
        spec.name: ToolPlan.of(spec, runtime.settings.confirm).arg_names
        for spec in runtime.tools.values()
        if runtime.hooks.strict_arguments
    }
    warming = Warming(runtime)

    async def call_tool(ctx: Context[Any, Any], params: types.CallToolRequestParams) -> Any:
        mark = warming.arriving(params.name)
        with runtime.client_log.collecting(ctx) as collected:
            try:
                check_arguments(params.arguments or {})
                refuse_unknown_arguments(accepted.get(params.name), params.arguments or {})
                result: Any = await server.call_tool(params.name, params.arguments or {}, ctx)
            except MCPError:
                raise
            except Exception as exc:
                result = types.CallToolResult(
                    content=[types.TextContent(type="text", text=_message(runtime, params.name, exc))], is_error=True
                )
            finally:
                warming.done(params.name, mark)
        await runtime.client_log.send(ctx, collected)
        return result

    sdk.serve_call_tool(server, call_tool)


class Warming:
    """Wakes an idle worker thread as a call arrives (`Workers.warm`), for the tools that hand
    work to one: every plain `def` tool, and an `async def` tool whose last call did (one
    that calls a blocking SDK through `Upstream`). Only registered tools are remembered."""

    def __init__(self, runtime: Runtime[Any, Any]) -> None:
        self.workers = runtime.workers
        self.tools = frozenset(runtime.tools)
        self.always = frozenset(n for n, spec in runtime.tools.items() if not inspect.iscoroutinefunction(spec.fn))
        self.threaded = set(self.always)

    def arriving(self, name: str) -> int:
        """A call of `name` arrives: wake a thread if it is likely to need one (its thread wakes
        while the arguments are checked). Returns the mark to give `done`."""
        if name in self.threaded:
            self.workers.warm()
        return self.workers.handed

    def done(self, name: str, mark: int) -> None:
        """The call of `name` is over: remember whether it handed work to a thread (a concurrent
        call's work may count too: at worst, one spare wake-up next time)."""
        if name in self.tools and name not in self.always:
            if self.workers.handed != mark:
                self.threaded.add(name)
            else:
                self.threaded.discard(name)


def refuse_unknown_arguments(accepted: tuple[str, ...] | None, arguments: dict[str, Any]) -> None:
    """Refuse names a strict connector's tool does not take, rather than let the SDK drop them.

    Raises:
        InvalidArgument: the first unknown name, with the names the tool takes.
    """
    if accepted is None:
        return
    for name in arguments:
        if name not in accepted:
            takes = ", ".join(accepted) or "no arguments"
            raise InvalidArgument(name[:100], f"is not an argument of this tool (it takes: {takes}); nothing was done")


_PREFIX = "Error executing tool "


def _message(runtime: Runtime[Any, Any], tool: str, exc: Exception) -> str:
    """The one message the client reads for a failed call."""
    cause = exc.__cause__
    if type(exc) is ToolError and isinstance(cause, ValidationError):  # not a result that broke its schema
        logger.info("tool %r rejected its arguments", tool)
        return validation_message(cause)
    if type(exc) is ToolError or isinstance(exc, InvalidArgument):
        text = str(exc)
        # The SDK prefixes our own messages with its wrapper's; the tool's name is known to the caller.
        return escape(text.split(": ", 1)[1] if text.startswith(_PREFIX) and ": " in text else text)
    failure = cause if isinstance(cause, Exception) else exc
    return escape(str(runtime.errors.to_tool_error(tool, failure)))


def _is_model(annotation: Any) -> bool:
    """A pydantic model the tool returns as structured content (not a ready-made result)."""
    return (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and not issubclass(annotation, types.CallToolResult)
    )


def _is_context(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Context)
