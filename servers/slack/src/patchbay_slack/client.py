"""The thin wrapper over slack-sdk's `WebClient`: one client per token and call kind, and a channel directory.

Every method here blocks (slack-sdk's `WebClient` is synchronous and thread-safe: each
call opens its own request); tools run them through the base's upstream helper. Retries
are slack-sdk's own handlers, bounded by the shared policy (`RetryPolicy.slack_handlers`):
reads are retried, posting is tried once (a retried post could appear twice).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from patchbay.errors import ToolError
from patchbay.retry import RetryPolicy
from patchbay_slack.settings import SlackSettings

if TYPE_CHECKING:
    from slack_sdk import WebClient

SEARCH_NEEDS_USER_CREDENTIAL = (
    "search_messages needs a user token (Slack does not let bot tokens search); "
    "the operator sets PATCHBAY_SLACK_USER_TOKEN (scope search:read)."
)


@dataclass(frozen=True)
class ChannelInfo:
    """What the scope checks need to know of a conversation."""

    id: str
    name: str | None
    is_dm: bool
    is_private: bool
    members: int | None = None

    @property
    def aliases(self) -> list[str]:
        """The `#name` the allowlists may name it by (DMs have none)."""
        return [f"#{self.name}"] if self.name and not self.is_dm else []

    @classmethod
    def of(cls, data: dict[str, Any]) -> ChannelInfo:
        """From a conversation object of conversations.list/info or a search match."""
        dm = bool(data.get("is_im") or data.get("is_mpim")) or str(data["id"]).startswith("D")
        return cls(
            id=str(data["id"]),
            name=data.get("name"),
            is_dm=dm,
            is_private=bool(data.get("is_private")),
            members=data.get("num_members"),
        )


class Slack:
    """The connector's Slack clients (bot reads, bot writes, user-token search) and its caches."""

    def __init__(self, settings: SlackSettings) -> None:
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings, "Slack")
        self._clients: dict[str, WebClient] = {}
        self._lock = threading.Lock()
        self._info: dict[str, tuple[float, ChannelInfo]] = {}
        self._names: tuple[float, dict[str, str]] | None = None
        self._me: dict[str, Any] | None = None
        self.team = {"team_id": settings.team_id} if settings.team_id else {}

    def client(self, kind: str = "read") -> WebClient:
        """The `WebClient` for `kind`: read (retried), write (one attempt), or search (user token)."""
        with self._lock:
            if kind not in self._clients:
                self._clients[kind] = self._make(kind)
            return self._clients[kind]

    def _make(self, kind: str) -> WebClient:
        from slack_sdk import WebClient  # slack-sdk loads at the first call, not at start-up

        secret = self.settings.user_token if kind == "search" else self.settings.bot_token
        if secret is None:
            if kind == "search":
                raise ToolError(SEARCH_NEEDS_USER_CREDENTIAL)
            raise ToolError("No Slack bot token is configured; the operator sets PATCHBAY_SLACK_BOT_TOKEN (xoxb-...).")
        handlers = self.policy.slack_handlers(idempotent=kind != "write", write=kind == "write")
        return WebClient(
            token=secret.get_secret_value(),
            base_url=self.settings.api_url.rstrip("/") + "/",
            timeout=30,
            retry_handlers=handlers,
        )

    def call(self, method: str, kind: str = "read", **args: Any) -> dict[str, Any]:
        """One Web API call through slack-sdk's method for it (`chat.postMessage` -> `chat_postMessage`).

        Returns the answer's data; an `ok: false` answer raises slack-sdk's `SlackApiError`.
        """
        clean = {k: v for k, v in args.items() if v is not None}
        response = getattr(self.client(kind), method.replace(".", "_"))(**clean)
        data: dict[str, Any] = dict(response.data) if isinstance(response.data, dict) else {}
        return data

    def me(self) -> dict[str, Any]:
        """auth.test of the bot token (cached): its user id and bot id."""
        if self._me is None:
            self._me = self.call("auth.test")
        return self._me

    # -- the channel directory -----------------------------------------------------------------

    def info(self, channel_id: str) -> ChannelInfo:
        """A conversation's name and kind (cached for `directory_ttl_seconds`), with its member count."""
        now = time.monotonic()
        cached = self._info.get(channel_id)
        if cached is not None and now - cached[0] < self.settings.directory_ttl_seconds:
            return cached[1]
        data = self.call("conversations.info", channel=channel_id, include_num_members=True)
        found = ChannelInfo.of(data["channel"])
        self._info[channel_id] = (now, found)
        return found

    def id_for(self, name: str) -> str | None:
        """The id of the channel called `#name` (any case), looked up again when the cache is old or misses."""
        key = name.removeprefix("#").casefold()
        now = time.monotonic()
        if self._names is not None and now - self._names[0] < self.settings.directory_ttl_seconds:
            found = self._names[1].get(key)
            if found is not None:
                return found
        names: dict[str, str] = {}
        cursor: str | None = None
        while True:
            page = self.call(
                "conversations.list",
                types="public_channel,private_channel",
                limit=1000,
                cursor=cursor,
                exclude_archived=True,
                **self.team,
            )
            for channel in page.get("channels", []):
                if channel.get("name"):
                    names[str(channel["name"]).casefold()] = str(channel["id"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                break
        self._names = (now, names)
        return names.get(key)
