"""The Slack connector's tools and resources: each a short function whose docstring the model reads.

The work (scope checks, Slack calls) is in workspace.py and runs in worker threads through
the base's upstream helper; confirmation questions are in this module, next to their tools.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, TypeVar

import mcp_types as types
from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from patchbay import (
    Connector,
    Cursor,
    InvalidArgument,
    Progress,
    Question,
    Runtime,
    SettingsError,
    check_unchanged,
    fingerprint,
)
from patchbay.content import body_from
from patchbay.upstream import upstream_of
from patchbay_slack import __version__
from patchbay_slack.client import Slack
from patchbay_slack.errors import slack_errors
from patchbay_slack.links import mass_mentions
from patchbay_slack.models import Channel, Channels, Done, Messages, Permalink, Posted, Reactions, Uploaded, User, Users
from patchbay_slack.settings import SlackSettings
from patchbay_slack.workspace import Workspace

T = TypeVar("T")

ChannelArg = Annotated[
    str, Field(min_length=1, max_length=200, description="A channel id (C0123ABC) or #name, from list_channels.")
]
Ts = Annotated[str, Field(pattern=r"^\d{1,12}(\.\d{1,9})?$", description="A message's ts, e.g. 1700000001.000100.")]
Text = Annotated[str | None, Field(max_length=40_000, description="Message text in Slack mrkdwn.")]
Blocks = Annotated[list[dict[str, Any]] | None, Field(max_length=50, description="Block Kit blocks (optional).")]
Limit = Annotated[int, Field(ge=1, le=1000, description="Items per page.")]
Emoji = Annotated[str, Field(pattern=r"^:?[a-z0-9_+'-]{1,100}:?$", description="Emoji name, e.g. thumbsup.")]


async def _preflight(settings: SlackSettings) -> None:
    if settings.bot_token is None:
        raise SettingsError("no Slack token: set PATCHBAY_SLACK_BOT_TOKEN=xoxb-... (a bot token of your Slack app)")


@asynccontextmanager
async def workspace(settings: SlackSettings) -> AsyncIterator[Workspace]:
    """One workspace for the life of the server.

    The `#names` of the allowlists are looked up at start-up in a background thread (so that
    start-up never waits for Slack), and a name no channel has is logged as a warning.
    """
    found = Workspace(Slack(settings))
    names = [e for allowed in (settings.read_channels, settings.write_channels) for e in allowed if e.startswith("#")]
    if names:
        threading.Thread(target=found.check_names, args=(names,), name="slack-names", daemon=True).start()
    yield found


connector: Connector[SlackSettings, Workspace] = Connector(
    "slack",
    title="Patchbay Slack",
    version=__version__,
    settings=SlackSettings,
    description="Read and post Slack messages in allowed channels; links never unfurl unless allowed.",
    instructions="Channels are named by id (C0123ABC) or #name; list_channels shows those you may use. "
    "Messages are addressed by channel and ts.",
    lifespan=workspace,
    error_mappers=[slack_errors],
    preflight=_preflight,
)


def _ws(ctx: Context) -> Workspace:
    return connector.state(ctx)


async def _run(ctx: Context, fn: Callable[..., T], *args: Any) -> T:
    return await upstream_of(ctx, "Slack").call(fn, *args)


class FoundUsers(BaseModel):
    """Members who match."""

    users: list[User]


# Reading -------------------------------------------------------------------------------------


@connector.tool("read", paginated=True)
async def list_channels(
    ctx: Context,
    types: list[Literal["public", "private", "dm", "group_dm"]] = ["public", "private"],  # noqa: B006
    cursor: Cursor = None,
    limit: Limit = 200,
) -> Channels:
    """List the channels you may read (others are left out and counted)."""
    return await _run(ctx, _ws(ctx).channels, types or ["public"], cursor, limit)


@connector.tool("read")
async def get_channel_info(ctx: Context, channel: ChannelArg) -> Channel:
    """Get a channel's name, topic, purpose and member count."""
    return await _run(ctx, _ws(ctx).channel, channel)


@connector.tool("read", paginated=True)
async def get_channel_history(
    ctx: Context,
    channel: ChannelArg,
    cursor: Cursor = None,
    oldest: Annotated[Ts | None, Field(description="Only messages after this ts.")] = None,
    latest: Annotated[Ts | None, Field(description="Only messages before this ts.")] = None,
    limit: Limit = 50,
) -> Messages:
    """Read a channel's messages, newest first, with authors' names."""
    return await _run(ctx, _ws(ctx).history, channel, cursor, oldest, latest, limit)


@connector.tool("read", paginated=True)
async def get_thread_replies(
    ctx: Context, channel: ChannelArg, ts: Ts, cursor: Cursor = None, limit: Limit = 100
) -> Messages:
    """Read a thread: its parent message, then the replies."""
    return await _run(ctx, _ws(ctx).replies, channel, ts, cursor, limit)


@connector.tool("read", paginated=True)
async def search_messages(
    ctx: Context,
    query: Annotated[str, Field(min_length=1, max_length=500, description="Slack search syntax.")],
    cursor: Cursor = None,
    count: Annotated[int, Field(ge=1, le=100, description="Results per page.")] = 20,
) -> Messages:
    """Search messages (results from channels you may not read are left out)."""
    page = int(cursor) if cursor and cursor.isdigit() else 1
    return await _run(ctx, _ws(ctx).search, query, page, count)


@connector.tool("read", paginated=True)
async def list_users(ctx: Context, cursor: Cursor = None, limit: Limit = 200) -> Users:
    """List the workspace's members."""
    return await _run(ctx, _ws(ctx).users, cursor, limit)


@connector.tool("read")
async def get_user_profile(
    ctx: Context, user: Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,20}$", description="A user id.")]
) -> User:
    """Get a member's profile."""
    return await _run(ctx, _ws(ctx).user, user)


@connector.tool("read")
async def find_user(
    ctx: Context, query: Annotated[str, Field(min_length=1, max_length=200, description="A name or email.")]
) -> FoundUsers:
    """Find members by email address or by (part of) a name."""
    return FoundUsers(users=await _run(ctx, _ws(ctx).find_users, query))


@connector.tool("read")
async def get_permalink(ctx: Context, channel: ChannelArg, ts: Ts) -> Permalink:
    """Get a link to a message."""
    return await _run(ctx, _ws(ctx).permalink, channel, ts)


@connector.tool("read")
async def list_reactions(ctx: Context, channel: ChannelArg, ts: Ts) -> Reactions:
    """List the emoji reactions on a message."""
    return await _run(ctx, _ws(ctx).reactions, channel, ts)


# Writing -------------------------------------------------------------------------------------


def _post_question(ctx: Context, channel: str, text: str | None = None, blocks: Any = None) -> Question | None:
    """Ask before a post that notifies many people: a mass mention, or a channel over the member count."""
    ws = _ws(ctx)
    info = ws.scopes.check(channel, "write")
    reasons = []
    mentions = mass_mentions(text, blocks)
    if mentions:
        reasons.append(f"it notifies many people ({', '.join(mentions)})")
    limit = ws.settings.confirm_member_count
    if info.members is not None and info.members > limit:
        reasons.append(f"the channel has {info.members} members (more than {limit})")
    if not reasons:
        return None
    where = f"#{info.name}" if info.name else info.id
    preview = (text or json.dumps(blocks))[:300]
    return Question(f"Post to {where}: {preview!r}? Asking because " + " and ".join(reasons) + ".")


@connector.tool("write", confirm=_post_question)
async def post_message(ctx: Context, channel: ChannelArg, text: Text = None, blocks: Blocks = None) -> Posted:
    """Post a message. Links are not unfurled unless allowed; @here/@channel and big channels ask first."""
    return await _run(ctx, _ws(ctx).post, channel, text, blocks, None)


@connector.tool("write", confirm=_post_question)
async def reply_to_thread(
    ctx: Context, channel: ChannelArg, thread_ts: Ts, text: Text = None, blocks: Blocks = None
) -> Posted:
    """Reply in a thread (same rules as post_message)."""
    return await _run(ctx, _ws(ctx).post, channel, text, blocks, thread_ts)


@connector.tool("write", idempotent=True)
async def update_message(ctx: Context, channel: ChannelArg, ts: Ts, text: Text = None, blocks: Blocks = None) -> Posted:
    """Edit one of the bot's own messages (new links must be on the unfurl domains)."""
    return await _run(ctx, _ws(ctx).update, channel, ts, text, blocks)


def _delete_question(ctx: Context, channel: str, ts: str) -> Question:
    _, message = _ws(ctx).own_message(channel, ts)
    text = str(message.get("text") or "")
    return Question(f"Delete the bot's message {ts} in {channel}: {text[:200]!r}?", fingerprint(ts, text))


@connector.tool("destructive", confirm=_delete_question)
async def delete_message(ctx: Context, channel: ChannelArg, ts: Ts) -> Done:
    """Delete one of the bot's own messages. The user is asked first."""

    def unchanged(message: dict[str, Any]) -> None:
        check_unchanged(fingerprint(ts, str(message.get("text") or "")), "the message")

    return await _run(ctx, _ws(ctx).delete, channel, ts, unchanged)


@connector.tool("write", idempotent=True)
async def add_reaction(ctx: Context, channel: ChannelArg, ts: Ts, name: Emoji) -> Done:
    """Add an emoji reaction to a message."""
    return await _run(ctx, _ws(ctx).react, channel, ts, name, True)


@connector.tool("write", idempotent=True)
async def remove_reaction(ctx: Context, channel: ChannelArg, ts: Ts, name: Emoji) -> Done:
    """Remove the bot's emoji reaction from a message."""
    return await _run(ctx, _ws(ctx).react, channel, ts, name, False)


@connector.tool("write", idempotent=True)
async def mark_read(ctx: Context, channel: ChannelArg, ts: Ts) -> Done:
    """Mark a channel read up to a message."""
    return await _run(ctx, _ws(ctx).mark, channel, ts)


def _upload_question(ctx: Context, channel: str, initial_comment: str | None = None) -> Question | None:
    return _post_question(ctx, channel, initial_comment) if initial_comment else None


@connector.tool("write", confirm=_upload_question)
async def upload_file(
    ctx: Context,
    channel: ChannelArg,
    filename: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")],
    content: Annotated[str | None, Field(description="The file's text.")] = None,
    content_base64: Annotated[str | None, Field(description="The file's bytes, base64 (instead of content).")] = None,
    title: Annotated[str | None, Field(max_length=255)] = None,
    initial_comment: Text = None,
    thread_ts: Ts | None = None,
) -> Uploaded:
    """Share a file in a channel (text or base64 bytes; size-capped)."""
    data = _file_bytes(content, content_base64)
    progress = Progress(ctx, "of 3 upload stages done", every=1)
    options = {"title": title, "initial_comment": initial_comment, "thread_ts": thread_ts}
    return await _run(ctx, _ws(ctx).upload, channel, filename, data, options, progress.advance)


def _file_bytes(content: str | None, content_base64: str | None) -> bytes:
    """The file's bytes from one of the two arguments.

    Raises:
        InvalidArgument: neither or both given, or base64 that does not decode.
    """
    if (content is None) == (content_base64 is None):
        raise InvalidArgument("content", "give exactly one of content and content_base64")
    body = body_from(content, content_base64, names=("content", "content_base64"))
    assert body is not None  # one of the two was given
    return body


# Resources -----------------------------------------------------------------------------------


@connector.resource("slack://channels{?cursor}", name="channels", mime_type="application/json")
async def channels_resource(ctx: Context, cursor: str = "") -> str:
    """The channels you may read, 1,000 a page (next_cursor: read slack://channels?cursor=...)."""
    found = await _run(ctx, _ws(ctx).channels, ["public", "private"], cursor or None, 1000)
    return found.model_dump_json()


@connector.resource("slack://users{?cursor}", name="users", mime_type="application/json")
async def users_resource(ctx: Context, cursor: str = "") -> str:
    """The workspace's members, 1,000 a page (next_cursor: read slack://users?cursor=...)."""
    found = await _run(ctx, _ws(ctx).users, cursor or None, 1000)
    return found.model_dump_json()


@connector.resource("slack://channel/{channel}/history", name="channel-history", mime_type="application/json")
async def history_resource(channel: str, ctx: Context) -> str:
    """A channel's latest 100 messages."""
    found = await _run(ctx, _ws(ctx).history, channel, None, None, None, 100)
    return found.model_dump_json()


@connector.resource_list
async def _listed(runtime: Runtime[Any, Any], token: str | None) -> tuple[list[types.Resource], str | None]:
    """The two listings as resources (a channel's history is a template)."""
    resources = [
        types.Resource(uri=f"slack://{what}", name=what, mime_type="application/json") for what in ("channels", "users")
    ]
    return resources, None
