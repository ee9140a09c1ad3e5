"""Which conversations a call may touch: the read and write allowlists, and the DM rule.

Both allowlists are the base's `ChannelAllowlist` (ids exact, `#names` in any case),
fail-closed. A channel is admitted by its id or by the `#name` Slack reports for it now
(looked up, and cached for `directory_ttl_seconds`; a `#name` the client gives is
resolved to an id the same way). Direct and group messages are refused unless
`--allow-dms`, and even then only by id or with the `--all-...` option. The checks
block (they may ask Slack), so they run in worker threads with the tool's calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, TypeVar

from patchbay.errors import InvalidArgument, ToolError
from patchbay.scope import ChannelAllowlist, Filtered, Malformed, OutOfScope
from patchbay_slack.client import ChannelInfo, Slack

T = TypeVar("T")
Access = Literal["read", "write"]


class ChannelScopes:
    """The connector's two allowlists, asked with what Slack says about each channel."""

    def __init__(self, slack: Slack) -> None:
        self.slack = slack
        settings = slack.settings
        self.lists: dict[Access, ChannelAllowlist] = {
            "read": settings.read_channels,
            "write": settings.write_channels,
        }
        self.allow_dms = settings.allow_dms

    def check(self, channel: str, access: Access, argument: str = "channel") -> ChannelInfo:
        """The conversation `channel` (an id or `#name`) names, once it is known to be in scope.

        Raises:
            InvalidArgument: not a channel id or `#name`.
            OutOfScope: outside the allowlist for `access`, or a DM without `--allow-dms`.
            ToolError: a `#name` that no channel the bot can see has.
        """
        allowlist = self.lists[access]
        try:
            canonical = allowlist.kind.normalise(channel.strip())
        except Malformed as exc:
            raise InvalidArgument(argument, f"{channel[:200]!r} {exc}") from None
        if canonical.startswith("#"):
            by_name = allowlist.admits(canonical)
            if not by_name and all(entry.startswith("#") for entry in allowlist.entries) and not allowlist.everything:
                allowlist.check(canonical, argument=argument)  # only names are allowed, and not this one
            found = self.slack.id_for(canonical)
            if found is None:
                if not by_name:  # say no more about a name outside the scope than that it is
                    allowlist.check(canonical, argument=argument)
                raise ToolError(f"No channel named {canonical} that the bot can see; list_channels shows them.")
            canonical = found
        elif not self._has_names(allowlist):
            allowlist.check(canonical, argument=argument)  # decided by the id alone: Slack is not asked
        try:
            info = self.slack.info(canonical)
        except Exception as exc:
            response = getattr(exc, "response", None)
            unknown = response is not None and response.get("error") == "channel_not_found"
            if unknown and not allowlist.admits(canonical):
                allowlist.check(canonical, argument=argument)  # out of scope says no more than that
            raise
        if not allowlist.admits(info.id, *info.aliases):
            raise OutOfScope(channel, allowlist.kind.noun, allowlist.setting or "the connector's allowlist")
        if info.is_dm and not self.allow_dms:
            raise OutOfScope(channel, allowlist.kind.noun, "direct and group messages need --allow-dms")
        return info

    def admits(self, info: ChannelInfo, access: Access) -> bool:
        """Whether a conversation Slack described is in scope for `access`."""
        if info.is_dm and not self.allow_dms:
            return False
        return self.lists[access].admits(info.id, *info.aliases)

    def filter(self, items: Iterable[T], info: Callable[[T], ChannelInfo], access: Access = "read") -> Filtered[T]:
        """The items whose conversations are in scope, and a count of the rest (for search results, listings)."""
        kept: list[T] = []
        withheld = 0
        for item in items:
            if self.admits(info(item), access):
                kept.append(item)
            else:
                withheld += 1
        return Filtered(kept, withheld, self.lists[access].kind.noun)

    @staticmethod
    def _has_names(allowlist: ChannelAllowlist) -> bool:
        return any(entry.startswith("#") for entry in allowlist.entries)
