"""Confirmation of destructive calls by MCP elicitation, in both protocol eras.

The base adds a resolver parameter to every destructive tool
(`Annotated[ElicitationResult[Confirmation], Resolve(...)]`). The SDK runs the resolver
before the tool body and asks the user: over the back-channel in the handshake era,
as an input-required result that the client answers by retrying in 2026-07-28. The
resolver builds the question from the tool's own arguments, through the summary
function the connector gave when it registered the tool.

A destructive tool's result is wrapped in `Confirmed[T]`, so that "nothing was done"
(declined or cancelled) is a normal, schema-valid result rather than an error.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Generic, Literal, TypeVar

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import find_resolved_parameters
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from patchbay.audit import current_call

T = TypeVar("T")

Summary = Callable[..., Awaitable[str | None] | str | None]
"""Builds the question from the tool's arguments (by name) and, if it asks, `ctx`; None: no need to ask."""

CONFIRM_PARAM = "patchbay_confirmation"
_MODERN = "2026-07-28"


class Confirmation(BaseModel):
    """What the user is asked: a single yes/no."""

    confirm: bool = Field(True, title="Confirm", description="Go ahead with this operation.")


class Confirmed(BaseModel, Generic[T]):
    """The result of a destructive tool: what happened, and the tool's result when it ran."""

    outcome: Literal["done", "declined", "cancelled"] = Field(
        description="done: the operation ran; declined/cancelled: the user said no, nothing was done."
    )
    message: str = Field(description="A short account of what happened.")
    result: T | None = Field(None, description="The operation's result when outcome is done.")


def refusal(tool: str, reason: str, setting: str) -> str:
    """The error for a destructive call that cannot be confirmed on this connection."""
    return (
        f"Refused: '{tool}' needs the user's confirmation for this call, but {reason}. Nothing was done. "
        f"An operator who trusts the host's own approval prompt can start the server with --confirm=never "
        f"({setting}=never)."
    )


def confirmation_parameter(tool: str, summary: Summary, tool_params: list[str], setting: str) -> Any:
    """The annotation of the extra parameter that makes the SDK ask before running `tool`.

    `summary` takes the tool's arguments by name, `ctx`, and values of its own resolvers
    (`Annotated[T, Resolve(fn)]`), e.g. the scope a connector resolves per call.
    """
    signature = inspect.signature(summary).parameters
    hints = typing.get_type_hints(summary, include_extras=True)
    resolved = {name: hints[name] for name in signature if name in find_resolved_parameters(summary)}
    wanted = [name for name in signature if name in tool_params or name in resolved]
    takes_ctx = "ctx" in signature

    async def ask_for_confirmation(patchbay_ctx: Context, **arguments: Any) -> Elicit[Confirmation] | None:
        kwargs = {name: arguments[name] for name in wanted}
        if takes_ctx:
            kwargs["ctx"] = patchbay_ctx
        question = summary(**kwargs)
        if inspect.isawaitable(question):
            question = await question
        if question is None:  # nothing worth asking about (only write tools may decide so)
            return None
        _check_client_can_confirm(patchbay_ctx, tool, setting)
        return Elicit(str(question), Confirmation)

    # The SDK hands a resolver the tool's arguments by parameter name, so declare them.
    annotations: dict[str, Any] = {"patchbay_ctx": Context, **dict.fromkeys(tool_params, Any), **resolved}
    ask_for_confirmation.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=a) for n, a in annotations.items()],
        return_annotation=Elicit[Confirmation],
    )
    ask_for_confirmation.__annotations__ = {**annotations, "return": Elicit[Confirmation]}
    return Annotated[ElicitationResult[Confirmation], Resolve(ask_for_confirmation)]


def _check_client_can_confirm(ctx: Context, tool: str, setting: str) -> None:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    reason = None
    # Checked first: on stateless HTTP an older client's capabilities are not known at all.
    if not _is_modern(ctx) and not ctx.request_context.session.can_send_request:
        reason = (
            "this connection has no channel to ask on (a stateless HTTP server with an older client; "
            "the operator can start the server with --stateful)"
        )
    elif elicitation is None or (elicitation.form is None and elicitation.url is not None):
        reason = "this client does not support elicitation, so it cannot ask"
    if reason is not None:
        current_call().outcome = "denied"
        current_call().confirmation = "unavailable"
        raise ToolError(refusal(tool, reason, setting))


def _is_modern(ctx: Context) -> bool:
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, _MODERN)


def settle(answer: ElicitationResult[Confirmation]) -> Confirmed[Any] | None:
    """None when the user accepted; otherwise the result that says nothing was done."""
    record = current_call()
    if answer.action == "accept" and answer.data is None:
        record.confirmation = "not needed"
        return None
    if answer.action == "accept" and answer.data.confirm:
        record.confirmation = "accepted"
        return None
    outcome: Literal["declined", "cancelled"] = "cancelled" if answer.action == "cancel" else "declined"
    record.confirmation = record.outcome = outcome
    return Confirmed(outcome=outcome, message=f"Nothing was done: the user {outcome} the operation.")
