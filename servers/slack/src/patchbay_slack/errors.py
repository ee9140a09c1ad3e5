"""What the model reads when Slack says no (an error mapper for the connector)."""

from __future__ import annotations

import urllib.error

_BY_CODE = {
    "channel_not_found": "Slack does not know that channel, or the bot cannot see it (invite it first).",
    "not_in_channel": "The bot is not a member of that channel; invite it (/invite @bot) and try again.",
    "is_archived": "That channel is archived; nothing can be posted to it.",
    "message_not_found": "Slack has no message with that ts in that channel.",
    "thread_not_found": "Slack has no thread with that ts in that channel.",
    "cant_update_message": "Slack refused: the bot can only edit its own messages.",
    "cant_delete_message": "Slack refused: the bot can only delete its own messages.",
    "already_reacted": "The bot has already added that reaction.",
    "no_reaction": "The bot has no such reaction on that message.",
    "invalid_name": "Slack knows no emoji by that name.",
    "user_not_found": "Slack knows no such user.",
    "users_not_found": "No user has that email address.",
    "invalid_auth": "Slack rejected the token (invalid_auth); the operator checks PATCHBAY_SLACK_BOT_TOKEN.",
    "not_authed": "No token reached Slack; the operator sets PATCHBAY_SLACK_BOT_TOKEN.",
    "account_inactive": "The token's user or app was deactivated; the operator needs a new token.",
    "token_revoked": "The token was revoked; the operator needs a new one.",
    "not_allowed_token_type": "Slack does not allow this token type here (search needs a user token).",
    "msg_too_long": "The message is too long for Slack (40,000 characters at most).",
    "no_text": "The message has no text and no blocks.",
    "invalid_blocks": "Slack rejected the blocks (invalid_blocks); check them against Block Kit.",
    "file_upload_size_mismatch": "Slack received fewer bytes than announced; nothing was shared.",
    "ratelimited": "Slack's rate limit is exhausted; try again in a minute.",
}


def slack_errors(exc: BaseException) -> str | None:
    """A message for slack-sdk's `SlackApiError` (by Slack's error code) or a failed connection."""
    if type(exc).__name__ == "SlackApiError":
        response = getattr(exc, "response", None)
        code = str(response.get("error", "")) if response is not None else ""
        if code == "missing_scope":
            needed = response.get("needed", "?") if response is not None else "?"
            return f"The Slack app lacks the scope {needed}; the operator adds it and reinstalls the app."
        return _BY_CODE.get(code, f"Slack answered with the error {code or 'unknown'!r}.")
    if isinstance(exc, urllib.error.URLError | ConnectionError | TimeoutError):
        return "Could not reach Slack (the connection failed or timed out); try again later."
    return None
