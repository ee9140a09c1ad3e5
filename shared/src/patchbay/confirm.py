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

import hashlib
import inspect
import json
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import find_resolved_parameters
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from patchbay.audit import current_call
from patchbay.errors import ErrorMapper
from patchbay.model_text import compact, text_of
from patchbay.workers import Workers

T = TypeVar("T")


@dataclass(frozen=True)
class Question:
    """What to ask, and a fingerprint of the facts it shows (a count, a listing digest, an ETag).

    The action checks the fingerprint again (`check_unchanged`) and refuses when the
    facts changed after the user said yes, so what the user confirmed is what runs.
    """

    text: str
    fingerprint: str | None = None


Summary = Callable[..., Awaitable[str | Question | None] | str | Question | None]
"""Builds the question from the tool's arguments (by name) and, if it asks, `ctx`; None: no need to ask.

A plain `def` runs in a worker thread (it may walk a tree); an `async def` on the loop."""

CONFIRM_PARAM = "patchbay_confirmation"
_MODERN = "2026-07-28"


def fingerprint(*facts: Any) -> str:
    """A short digest of JSON-able facts, for `Question.fingerprint`."""
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def check_unchanged(current: str, what: str) -> None:
    """Refuse the action when `current` differs from the fingerprint the user confirmed.

    Call it from the tool body right before acting, with the fingerprint of the same
    facts computed again. A no-op when the call was not confirmed with a fingerprint.

    Raises:
        ToolError: the facts changed since the user confirmed; nothing was done.
    """
    confirmed = current_call().fingerprint
    if confirmed is not None and confirmed != current:
        current_call().outcome = "denied"
        raise ToolError(
            f"Refused: {what} changed after you confirmed, so what you confirmed is no longer what would run. "
            "Nothing was done; call the tool again to confirm the current state."
        )


class Confirmation(BaseModel):
    """What the user is asked: a single yes/no, with no answer given in advance."""

    confirm: bool = Field(False, title="Confirm", description="Check to go ahead with this operation.")


class Confirmed(BaseModel, Generic[T]):
    """The result of a destructive tool: what happened, and the tool's result when it ran."""

    outcome: Literal["done", "declined", "cancelled"] = Field(
        description="done: the operation ran; declined/cancelled: the user said no, nothing was done."
    )
    message: str = Field(description="A short account of what happened.")
    result: T | None = Field(None, description="The operation's result when outcome is done.")

    def model_text(self) -> str:
        """The result's own text when the operation ran; otherwise what happened."""
        if self.outcome != "done" or self.result is None:
            return self.message
        if isinstance(self.result, BaseModel):
            return text_of(self.result, self.result.model_dump(mode="json", by_alias=True))
        return compact(self.result)


def refusal(tool: str, reason: str, setting: str) -> str:
    """The error for a destructive call that cannot be confirmed on this connection."""
    return (
        f"Refused: '{tool}' needs the user's confirmation for this call, but {reason}. Nothing was done. "
        f"An operator who trusts the host's own approval prompt can start the server with --confirm=never "
        f"({setting}=never)."
    )


@dataclass(frozen=True)
class Asking:
    """Who asks about one tool: its name and safety class, the setting that turns asking off,
    and the connector's workers and error mappers (a question function may walk a tree or fail)."""

    tool: str
    safety: str
    setting: str
    workers: Workers
    errors: ErrorMapper


def confirmation_parameter(asking: Asking, summary: Summary, tool_params: list[str]) -> Any:
    """The annotation of the extra parameter that makes the SDK ask before running the tool.

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
        tool = asking.tool
        question = await _question(asking, summary, kwargs)
        if question is None:
            if asking.safety == "destructive":
                current_call().outcome = "denied"
                raise ToolError(
                    f"Refused: '{tool}' is destructive and must be confirmed, but no question could be "
                    "put to the user. Nothing was done."
                )
            current_call().confirmation = "not needed"  # a write tool decided there is nothing to ask
            return None
        _check_client_can_confirm(patchbay_ctx, tool, asking.setting)
        current_call().fingerprint = question.fingerprint
        text = question.text if question.fingerprint is None else f"{question.text} (ref {question.fingerprint[:8]})"
        return Elicit(text, Confirmation)

    # The SDK hands a resolver the tool's arguments by parameter name, so declare them.
    annotations: dict[str, Any] = {"patchbay_ctx": Context, **dict.fromkeys(tool_params, Any), **resolved}
    ask_for_confirmation.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=a) for n, a in annotations.items()],
        return_annotation=Elicit[Confirmation],
    )
    ask_for_confirmation.__annotations__ = {**annotations, "return": Elicit[Confirmation]}
    return Annotated[ElicitationResult[Confirmation], Resolve(ask_for_confirmation)]


async def _question(asking: Asking, summary: Summary, kwargs: dict[str, Any]) -> Question | None:
    """Run the connector's question function (off the loop when it is a plain `def`), errors mapped."""
    try:
        if inspect.iscoroutinefunction(summary):
            question = await summary(**kwargs)
        else:
            question = await asking.workers.run(lambda: summary(**kwargs))
            if inspect.isawaitable(question):
                question = await question
    except Exception as exc:
        raise asking.errors.to_tool_error(asking.tool, exc) from None
    if question is None or isinstance(question, Question):
        return question
    return Question(str(question))


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
    """None when the call may go ahead; otherwise the result that says nothing was done.

    Only an explicit yes goes ahead: an accept whose content lacks `confirm: true`
    (e.g. `{}` from a client that applied defaults itself) counts as declined.
    """
    record = current_call()
    if answer.action == "accept" and answer.data is None and record.confirmation == "not needed":
        return None  # the question function decided there was nothing to ask
    if answer.action == "accept" and answer.data is not None and answer.data.confirm is True:
        record.confirmation = "accepted"
        return None
    outcome: Literal["declined", "cancelled"] = "cancelled" if answer.action == "cancel" else "declined"
    record.confirmation = record.outcome = outcome
    return Confirmed(outcome=outcome, message=f"Nothing was done: the user {outcome} the operation.")
