"""The blocking work behind each tool: scope checks, Slack calls, and the results built from them.

Each method runs in a worker thread (the tools call it through `upstream_of(ctx).call`).
Every channel a call names is checked against the allowlist for what it does before any
call that reads or changes it; every message that comes back from elsewhere (search) is
filtered by its channel. Posting always sends `unfurl_links`/`unfurl_media` explicitly.
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from patchbay.errors import ToolError
from patchbay_slack.client import ChannelInfo, Slack
from patchbay_slack.errors import slack_errors
from patchbay_slack.links import may_unfurl, off_domain_links
from patchbay_slack.models import (
    Channel,
    Channels,
    Done,
    Message,
    Messages,
    Permalink,
    Posted,
    Reaction,
    Reactions,
    Uploaded,
    User,
    Users,
)
from patchbay_slack.scopes import ChannelScopes

logger = logging.getLogger("patchbay.slack")
CHANNEL_TYPES = {"public": "public_channel", "private": "private_channel", "dm": "im", "group_dm": "mpim"}


class Workspace:
    """One Slack workspace as the connector's tools see it."""

    def __init__(self, slack: Slack) -> None:
        self.slack = slack
        self.scopes = ChannelScopes(slack)
        self.settings = slack.settings
        self._names: dict[str, str | None] = {}
        self._names_lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------------

    def channels(self, types: list[str], cursor: str | None, limit: int) -> Channels:
        """A page of the conversations the bot is in or can see, those out of scope left out."""
        kinds = ",".join(CHANNEL_TYPES[t] for t in types)
        data = self.slack.call(
            "conversations.list", types=kinds, cursor=cursor, limit=limit, exclude_archived=True, **self.slack.team
        )
        found = self.scopes.filter(data.get("channels", []), ChannelInfo.of)
        return Channels(channels=[Channel.of(c) for c in found.kept], next_cursor=_next(data), withheld=found.note)

    def channel(self, channel: str) -> Channel:
        """One conversation's details."""
        info = self.scopes.check(channel, "read")
        data = self.slack.call("conversations.info", channel=info.id, include_num_members=True)
        return Channel.of(data["channel"])

    def history(self, channel: str, cursor: str | None, oldest: str | None, latest: str | None, limit: int) -> Messages:
        """A page of a channel's messages, newest first."""
        info = self.scopes.check(channel, "read")
        data = self.slack.call(
            "conversations.history", channel=info.id, cursor=cursor, oldest=oldest, latest=latest, limit=limit
        )
        return Messages(messages=self._messages(info.id, data.get("messages", [])), next_cursor=_next(data))

    def replies(self, channel: str, ts: str, cursor: str | None, limit: int) -> Messages:
        """A page of a thread: the parent first, then the replies."""
        info = self.scopes.check(channel, "read")
        data = self.slack.call("conversations.replies", channel=info.id, ts=ts, cursor=cursor, limit=limit)
        return Messages(messages=self._messages(info.id, data.get("messages", [])), next_cursor=_next(data))

    def search(self, query: str, page: int, count: int) -> Messages:
        """A page of search results (user token), each one's channel checked against the read allowlist."""
        data = self.slack.call("search.messages", kind="search", query=query, page=page, count=count, **self.slack.team)
        found = data.get("messages") or {}
        matches = self.scopes.filter(found.get("matches", []), lambda m: ChannelInfo.of(m["channel"]))
        messages = [self._message(m["channel"]["id"], m) for m in matches.kept]
        paging = found.get("paging") or {}
        more = str(page + 1) if page < int(paging.get("pages") or 1) else None
        return Messages(messages=messages, next_cursor=more, withheld=matches.note)

    def permalink(self, channel: str, ts: str) -> Permalink:
        """A link to a message of a channel in scope."""
        info = self.scopes.check(channel, "read")
        data = self.slack.call("chat.getPermalink", channel=info.id, message_ts=ts)
        return Permalink(channel=info.id, ts=ts, permalink=data["permalink"])

    def reactions(self, channel: str, ts: str) -> Reactions:
        """The reactions on a message."""
        info = self.scopes.check(channel, "read")
        data = self.slack.call("reactions.get", channel=info.id, timestamp=ts, full=True)
        message = data.get("message") or {}
        return Reactions(channel=info.id, ts=ts, reactions=[Reaction(**r) for r in message.get("reactions", [])])

    def users(self, cursor: str | None, limit: int) -> Users:
        """A page of the workspace's members."""
        data = self.slack.call("users.list", cursor=cursor, limit=limit, **self.slack.team)
        return Users(users=[User.of(u) for u in data.get("members", [])], next_cursor=_next(data))

    def user(self, user: str) -> User:
        """One member's profile."""
        return User.of(self.slack.call("users.info", user=user)["user"])

    def find_users(self, query: str, limit: int = 20) -> list[User]:
        """Members by email (exact) or by name, real name or display name (any case, part of it)."""
        if "@" in query:
            return [User.of(self.slack.call("users.lookupByEmail", email=query)["user"])]
        wanted = query.casefold().lstrip("@")
        found: list[User] = []
        cursor: str | None = None
        while len(found) < limit:
            data = self.slack.call("users.list", cursor=cursor, limit=200, **self.slack.team)
            for raw in data.get("members", []):
                profile = raw.get("profile") or {}
                names = (raw.get("name"), raw.get("real_name"), profile.get("display_name"), profile.get("real_name"))
                if any(wanted in str(n).casefold() for n in names if n):
                    found.append(User.of(raw))
            cursor = _next(data)
            if cursor is None:
                break
        return found[:limit]

    # -- writing ---------------------------------------------------------------------------------

    def post(self, channel: str, text: str | None, blocks: list[Any] | None, thread_ts: str | None) -> Posted:
        """Post a message (a reply when `thread_ts` is given); Slack unfurls only links on the allowed domains."""
        info = self.scopes.check(channel, "write")
        unfurl = may_unfurl(text, blocks, self.settings.unfurl_domains)
        data = self.slack.call(
            "chat.postMessage",
            kind="write",
            channel=info.id,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            unfurl_links=unfurl,
            unfurl_media=unfurl,
        )
        return Posted(channel=info.id, ts=data["ts"], thread_ts=thread_ts, unfurled=unfurl)

    def own_message(self, channel: str, ts: str) -> tuple[ChannelInfo, dict[str, Any]]:
        """A message of the bot's own in a channel it may write to.

        Raises:
            ToolError: no such message, or someone else wrote it.
        """
        info = self.scopes.check(channel, "write")
        data = self.slack.call("conversations.replies", channel=info.id, ts=ts, limit=1000)
        message = next((m for m in data.get("messages", []) if m.get("ts") == ts), None)
        if message is None:
            raise ToolError(f"No message {ts} in {channel}; get_channel_history shows the messages and their ts.")
        me = self.slack.me()
        if message.get("user") != me.get("user_id") and message.get("bot_id") != me.get("bot_id"):
            raise ToolError(f"Refused: message {ts} was not written by this bot; it can only change its own messages.")
        return info, message

    def update(self, channel: str, ts: str, text: str | None, blocks: list[Any] | None) -> Posted:
        """Change the text of one of the bot's messages (chat.update cannot turn unfurling off)."""
        outside = off_domain_links(text, blocks, self.settings.unfurl_domains)
        if outside:
            raise ToolError(
                f"Refused: the new text links to {outside[0]!r}, and Slack may unfurl links in an edited message "
                "(chat.update cannot turn that off). Post a new message instead; nothing was changed."
            )
        info, _ = self.own_message(channel, ts)
        self.slack.call("chat.update", kind="write", channel=info.id, ts=ts, text=text, blocks=blocks)
        return Posted(channel=info.id, ts=ts, unfurled=False)

    def delete(self, channel: str, ts: str, verify: Callable[[dict[str, Any]], None]) -> Done:
        """Delete one of the bot's messages; `verify` sees the message first (the confirmed fingerprint)."""
        info, message = self.own_message(channel, ts)
        verify(message)
        self.slack.call("chat.delete", kind="write", channel=info.id, ts=ts)
        return Done(channel=info.id, ts=ts, action="deleted")

    def react(self, channel: str, ts: str, name: str, add: bool) -> Done:
        """Add or remove the bot's emoji reaction on a message."""
        info = self.scopes.check(channel, "write")
        method = "reactions.add" if add else "reactions.remove"
        self.slack.call(method, kind="write", channel=info.id, timestamp=ts, name=name.strip(":"))
        return Done(channel=info.id, ts=ts, action=f"reaction :{name.strip(':')}: {'added' if add else 'removed'}")

    def mark(self, channel: str, ts: str) -> Done:
        """Move the bot's read marker in a channel it may read."""
        info = self.scopes.check(channel, "read")
        self.slack.call("conversations.mark", kind="write", channel=info.id, ts=ts)
        return Done(channel=info.id, ts=ts, action="marked read")

    def upload(
        self, channel: str, name: str, data: bytes, options: dict[str, Any], step: Callable[[], None]
    ) -> Uploaded:
        """Share a file through the files v2 flow: an upload URL, the bytes, then completion into the channel.

        `options` may hold `title`, `initial_comment` and `thread_ts`; `step` is called after each stage.
        """
        if len(data) > self.settings.max_upload_bytes:
            raise ToolError(
                f"Refused: the file is {len(data)} bytes, over the {self.settings.max_upload_bytes}-byte cap "
                "(PATCHBAY_SLACK_MAX_UPLOAD_BYTES); nothing was uploaded."
            )
        comment = options.get("initial_comment")
        outside = off_domain_links(comment, None, self.settings.unfurl_domains)
        if outside:
            raise ToolError(
                f"Refused: initial_comment links to {outside[0]!r}, which Slack could unfurl; nothing was uploaded."
            )
        info = self.scopes.check(channel, "write")
        slot = self.slack.call("files.getUploadURLExternal", kind="write", filename=name, length=len(data))
        step()
        _send(str(slot["upload_url"]), data, self.slack.settings.upstream_timeout_seconds)
        step()
        title = options.get("title") or name
        files = [{"id": slot["file_id"], "title": title}]
        self.slack.call(
            "files.completeUploadExternal",
            kind="write",
            files=files,
            channel_id=info.id,
            initial_comment=comment,
            thread_ts=options.get("thread_ts"),
        )
        step()
        return Uploaded(channel=info.id, file_id=slot["file_id"], name=name, size=len(data))

    def check_names(self, names: list[str]) -> None:
        """Look up the allowlists' `#names` (at start-up), warning about any no channel has."""
        try:
            missing = [name for name in dict.fromkeys(names) if self.slack.id_for(name) is None]
        except Exception as exc:
            logger.warning("Could not look up the allowed channel names at start-up: %s", slack_errors(exc) or exc)
            return
        for name in missing:
            logger.warning("No channel the bot can see is called %s (an allowlist names it); check the spelling.", name)

    # -- helpers ---------------------------------------------------------------------------------

    def _messages(self, channel: str, raw: list[dict[str, Any]]) -> list[Message]:
        return [self._message(channel, m) for m in raw]

    def _message(self, channel: str, m: dict[str, Any]) -> Message:
        user = m.get("user")
        return Message(
            channel=channel,
            ts=m["ts"],
            user=user,
            user_name=self.user_name(user) if user else m.get("username"),
            text=m.get("text") or "",
            thread_ts=m.get("thread_ts"),
            reply_count=m.get("reply_count"),
            reactions=[Reaction(**r) for r in m.get("reactions", [])],
            files=[str(f.get("name") or f.get("title") or f.get("id")) for f in m.get("files", [])],
        )

    def user_name(self, user: str) -> str | None:
        """A member's display name (cached for the life of the server; None when Slack does not know them)."""
        with self._names_lock:
            if user in self._names:
                return self._names[user]
        try:
            found = User.of(self.slack.call("users.info", user=user)["user"])
            name: str | None = found.display_name or found.real_name or found.name
        except Exception as exc:  # a deleted or foreign user: show the id alone
            if getattr(exc, "response", None) is None:
                raise
            name = None
        with self._names_lock:
            self._names[user] = name
        return name


def _next(data: dict[str, Any]) -> str | None:
    return (data.get("response_metadata") or {}).get("next_cursor") or None


def _send(url: str, data: bytes, timeout: float) -> None:
    """POST the file's bytes to the upload URL Slack gave (no token: the URL is the credential)."""
    if urlsplit(url).scheme not in ("https", "http"):
        raise ToolError("Slack gave an upload URL that is not http(s); nothing was uploaded.")
    request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 - scheme checked above
    request.add_header("Content-Type", "application/octet-stream")
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - scheme checked above
        answer.read()


__all__ = ["CHANNEL_TYPES", "Workspace"]
