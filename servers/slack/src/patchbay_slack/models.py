"""What the Slack tools return. Text written by other people is `Untrusted` (cleaned as the model is built)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from patchbay.pagination import Paginated
from patchbay.untrusted import Untrusted


class Channel(BaseModel):
    """A conversation the connector may read."""

    id: str
    name: str | None = None
    is_private: bool = False
    is_dm: bool = Field(False, description="A direct or group direct message.")
    topic: Untrusted | None = None
    purpose: Untrusted | None = None
    members: int | None = Field(None, description="Member count, when Slack said.")

    @classmethod
    def of(cls, data: dict[str, Any]) -> Channel:
        """From a Slack conversation object."""
        return cls(
            id=data["id"],
            name=data.get("name") or (f"DM with {data['user']}" if data.get("user") else None),
            is_private=bool(data.get("is_private")),
            is_dm=bool(data.get("is_im") or data.get("is_mpim")),
            topic=(data.get("topic") or {}).get("value") or None,
            purpose=(data.get("purpose") or {}).get("value") or None,
            members=data.get("num_members"),
        )


class Reaction(BaseModel):
    """An emoji reaction on a message."""

    name: str
    count: int
    users: list[str] = Field(default_factory=list)


class Message(BaseModel):
    """One message; `user_name` is the author's name as Slack shows it."""

    channel: str
    ts: str = Field(description="The message's id within the channel (for replies, reactions, permalinks).")
    user: str | None = None
    user_name: Untrusted | None = None
    text: Untrusted = ""
    thread_ts: str | None = None
    reply_count: int | None = None
    reactions: list[Reaction] = Field(default_factory=list)
    files: list[Untrusted] = Field(default_factory=list, description="Names of attached files.")


class Messages(Paginated):
    """A page of messages, and what was left out."""

    messages: list[Message]
    withheld: str | None = Field(None, description="How many results from channels outside the scope were left out.")


class Channels(Paginated):
    """A page of channels the connector may read."""

    channels: list[Channel]
    withheld: str | None = None


class User(BaseModel):
    """A member of the workspace."""

    id: str
    name: Untrusted
    real_name: Untrusted | None = None
    display_name: Untrusted | None = None
    title: Untrusted | None = None
    email: str | None = None
    is_bot: bool = False
    deleted: bool = False
    time_zone: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> User:
        """From a Slack user object."""
        profile = data.get("profile") or {}
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            real_name=data.get("real_name") or profile.get("real_name") or None,
            display_name=profile.get("display_name") or None,
            title=profile.get("title") or None,
            email=profile.get("email") or None,
            is_bot=bool(data.get("is_bot")),
            deleted=bool(data.get("deleted")),
            time_zone=data.get("tz"),
        )


class Users(Paginated):
    """A page of workspace members."""

    users: list[User]


class Permalink(BaseModel):
    """A link to one message."""

    channel: str
    ts: str
    permalink: str


class Reactions(BaseModel):
    """The reactions on one message."""

    channel: str
    ts: str
    reactions: list[Reaction]


class Posted(BaseModel):
    """A message the bot posted or changed."""

    channel: str
    ts: str
    thread_ts: str | None = None
    unfurled: bool = Field(description="Whether Slack was allowed to unfurl its links.")


class Done(BaseModel):
    """What a small write did."""

    channel: str
    ts: str
    action: str


class Uploaded(BaseModel):
    """A file shared into a channel."""

    channel: str
    file_id: str
    name: str
    size: int
