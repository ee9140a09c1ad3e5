"""A stateful fake of the Slack Web API on the base's fake service, for slack-sdk over loopback.

Every method answers at `/api/<method>` as Slack does: HTTP 200 with `{"ok": true, ...}`,
or `{"ok": false, "error": "<code>"}`; arguments come as the query string, a form body or
a JSON body (slack-sdk uses all three), the token as a bearer header. The methods and
their argument names are those of Slack's published descriptions (slack_methods.json,
checked by test_fake_contract.py): an argument Slack does not document is answered with
`invalid_arguments`, so the connector cannot drift into sending made-up ones. Injected
429s carry Slack's `ratelimited` body.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchbay.testing import FakeRequest, FakeService, Response, json_response, route

BOT_TOKEN = "xoxb-fake-bot-token"
USER_TOKEN = "xoxp-fake-user-token"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
TEAM = "T0FAKE"
METHODS_FILE = Path(__file__).with_name("slack_methods.json")
METHODS: dict[str, dict[str, Any]] = json.loads(METHODS_FILE.read_text())["methods"]
EXTRA_ARGUMENTS = {"team_id"}
"""Documented on Slack's method pages for org-wide apps, after the 2021 description was written."""


class SlackFailure(Exception):
    """An `ok: false` answer."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class Channel:
    """One conversation as the fake keeps it."""

    id: str
    name: str = ""
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=list)
    user: str | None = None  # the other person of a DM
    last_read: str = "0000000000.000000"

    def as_json(self, num_members: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "created": 1_700_000_000,
            "is_channel": not (self.is_im or self.is_mpim or self.is_private),
            "is_group": self.is_private,
            "is_im": self.is_im,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private or self.is_im or self.is_mpim,
            "is_archived": self.is_archived,
            "is_member": BOT_USER in self.members,
        }
        if self.is_im:
            data["user"] = self.user
        else:
            data["name"] = self.name
            data["topic"] = {"value": f"Topic of {self.name}", "creator": "U001", "last_set": 0}
            data["purpose"] = {"value": f"Purpose of {self.name}", "creator": "U001", "last_set": 0}
        if num_members:
            data["num_members"] = len(self.members)
        return data


def _user(uid: str, name: str, real: str, email: str, **more: Any) -> dict[str, Any]:
    return {
        "id": uid,
        "team_id": TEAM,
        "name": name,
        "real_name": real,
        "deleted": False,
        "is_bot": False,
        "tz": "Europe/London",
        "profile": {"real_name": real, "display_name": name, "email": email, "title": "", "status_text": ""},
        **more,
    }


class FakeSlack(FakeService):
    """Channels, messages, threads, users, user groups, reactions, files; see the module docstring."""

    def __init__(self, *, strict: bool = True) -> None:
        super().__init__(name="slack")
        self.lock = threading.RLock()
        self.strict = strict
        """Refuse undocumented arguments (tests); Slack itself ignores them (benchmarks of other servers)."""
        self.undocumented: set[str] = set()
        for method in METHODS:
            handler = getattr(self, "m_" + method.replace(".", "_"))
            for verb in ("GET", "POST"):  # slack-sdk sends POST; Slack answers GET as well
                self.add_route(verb, f"/api/{method}", self._method(method, handler))
        self.reset()

    # -- state -----------------------------------------------------------------------------------

    def reset(self) -> None:
        """The standard workspace: #general, #random, #secret (private), #big, a DM and a group DM."""
        self.clock = itertools.count(1)
        self.users: dict[str, dict[str, Any]] = {
            BOT_USER: _user(BOT_USER, "patchbay", "Patchbay Bot", "", is_bot=True, profile={"bot_id": BOT_ID}),
            "U001": _user("U001", "alice", "Alice Archer", "alice@example.com"),
            "U002": _user("U002", "bob", "Bob Baker", "bob@example.com"),
            "U003": _user("U003", "carol", "Carol Cook", "carol@example.com"),
        }
        self.users[BOT_USER]["profile"] = {"real_name": "Patchbay Bot", "display_name": "patchbay", "bot_id": BOT_ID}
        people = ["U001", "U002", "U003", BOT_USER]
        self.channels: dict[str, Channel] = {
            c.id: c
            for c in (
                Channel("C0GENERAL", "general", members=people),
                Channel("C0RANDOM", "random", members=people),
                Channel("C0SECRET", "secret", is_private=True, members=["U003", BOT_USER]),
                Channel("C0BIG", "big", members=[*people, *(f"U9{i:04d}" for i in range(120))]),
                Channel("D0ALICE", is_im=True, user="U001", members=["U001", BOT_USER]),
                Channel("G0GROUP", "mpdm-alice--bob--patchbay-1", is_mpim=True, members=people),
            )
        }
        self.usergroups = [{"id": "S0ONCALL", "handle": "oncall", "name": "On call", "user_count": 2}]
        self.messages: dict[str, list[dict[str, Any]]] = {cid: [] for cid in self.channels}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}

    def ts(self) -> str:
        """A new message timestamp, later than every earlier one."""
        return f"{1_700_000_000 + next(self.clock)}.000100"

    def add_message(self, channel: str, text: str, user: str = "U001", **more: Any) -> dict[str, Any]:
        """Put a message into a channel (a reply when `thread_ts` is given) and return it."""
        with self.lock:
            message = {"type": "message", "user": user, "text": text, "ts": self.ts(), **more}
            if user == BOT_USER:
                message["bot_id"] = BOT_ID
            thread = message.get("thread_ts")
            if thread is not None:
                parent = self.find(channel, thread)
                parent["thread_ts"] = thread
                parent["reply_count"] = parent.get("reply_count", 0) + 1
            self.messages[channel].append(message)
            return message

    def find(self, channel: str, ts: str) -> dict[str, Any]:
        """The message `ts` of `channel`, or `message_not_found`."""
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise SlackFailure("message_not_found")

    def calls(self, method: str) -> list[dict[str, Any]]:
        """The arguments of every call of `method` the fake answered, in order."""
        return [self.arguments(r) for r in self.requests("*", f"/api/{method}")]

    # -- plumbing --------------------------------------------------------------------------------

    @staticmethod
    def arguments(request: FakeRequest) -> dict[str, Any]:
        """Query, form and JSON body arguments together, as Slack reads them."""
        args: dict[str, Any] = {k: v[0] for k, v in request.query.items()}
        if request.content_type.startswith("application/json"):
            args.update(request.json() or {})
        elif request.content_type.startswith("application/x-www-form-urlencoded"):
            args.update(request.form())
        return args

    def _method(self, method: str, handler: Callable[..., dict[str, Any]]) -> Callable[[FakeRequest], Response]:
        allowed = set(METHODS[method]["parameters"]) | EXTRA_ARGUMENTS

        def answer(request: FakeRequest) -> Response:
            args = self.arguments(request)
            # A bearer header, or (as Slack also accepts) a `token` argument.
            token = str(args.pop("token", "")) or request.headers.get("authorization", "").removeprefix("Bearer ")
            if token not in (BOT_TOKEN, USER_TOKEN):
                return json_response(200, {"ok": False, "error": "invalid_auth"})
            unknown = sorted(set(args) - allowed)
            if unknown:
                with self.lock:
                    self.undocumented.update(f"{method}({name})" for name in unknown)
                if self.strict:
                    return json_response(200, {"ok": False, "error": "invalid_arguments", "unknown": unknown})
            try:
                with self.lock:
                    body = handler(args, token)
            except SlackFailure as exc:
                return json_response(200, {"ok": False, "error": exc.error})
            return json_response(200, {"ok": True, **body})

        return answer

    def fault_response(self, request: FakeRequest, status: int, body: Any) -> Response:
        """Slack's own shape for an injected error."""
        error = "ratelimited" if status == 429 else "fatal_error"
        return json_response(status, body if body is not None else {"ok": False, "error": error})

    def channel(self, args: dict[str, Any], key: str = "channel") -> Channel:
        found = self.channels.get(str(args.get(key, "")))
        if found is None:
            raise SlackFailure("channel_not_found")
        return found

    @staticmethod
    def _page(items: list[Any], args: dict[str, Any], default: int = 100) -> tuple[list[Any], dict[str, Any]]:
        start = int(str(args.get("cursor") or "offset:0").removeprefix("offset:"))
        limit = min(int(args.get("limit") or default), 1000)
        page = items[start : start + limit]
        following = f"offset:{start + limit}" if start + limit < len(items) else ""
        return page, {"response_metadata": {"next_cursor": following}}

    # -- methods ---------------------------------------------------------------------------------

    def m_auth_test(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        user = BOT_USER if token == BOT_TOKEN else "U001"
        extra = {"bot_id": BOT_ID} if token == BOT_TOKEN else {}
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "x",
            "team_id": TEAM,
            "user_id": user,
            **extra,
        }

    def m_conversations_list(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        types = str(args.get("types") or "public_channel").split(",")
        kinds = {
            "public_channel": lambda c: not (c.is_private or c.is_im or c.is_mpim),
            "private_channel": lambda c: c.is_private,
            "im": lambda c: c.is_im,
            "mpim": lambda c: c.is_mpim,
        }
        wanted = [c for c in self.channels.values() if any(kinds[t](c) for t in types if t in kinds)]
        page, meta = self._page(wanted, args)
        return {"channels": [c.as_json() for c in page], **meta}

    def m_conversations_info(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self.channel(args)
        return {"channel": channel.as_json(num_members=str(args.get("include_num_members")) in ("true", "1"))}

    def m_conversations_members(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        page, meta = self._page(self.channel(args).members, args)
        return {"members": page, **meta}

    def _window(self, messages: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
        inclusive = str(args.get("inclusive")) in ("true", "1")
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or 9e12)

        def inside(ts: float) -> bool:
            return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

        return [m for m in messages if inside(float(m["ts"]))]

    def m_conversations_history(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self.channel(args)
        top = [m for m in self.messages[channel.id] if m.get("thread_ts") in (None, m["ts"])]
        newest_first = list(reversed(self._window(top, args)))
        page, meta = self._page(newest_first, args)
        return {"messages": page, "has_more": bool(meta["response_metadata"]["next_cursor"]), **meta}

    def m_conversations_replies(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self.channel(args)
        parent = self.find(channel.id, str(args.get("ts")))
        thread = parent.get("thread_ts", parent["ts"])
        found = [m for m in self.messages[channel.id] if m["ts"] == thread or m.get("thread_ts") == thread]
        page, meta = self._page(self._window(found, args), args)
        return {"messages": page, "has_more": bool(meta["response_metadata"]["next_cursor"]), **meta}

    def m_conversations_mark(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self.channel(args)
        channel.last_read = str(args.get("ts"))
        return {}

    def m_search_messages(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        if token != USER_TOKEN:
            raise SlackFailure("not_allowed_token_type")
        words = str(args.get("query", "")).lower().split()
        matches = [
            {
                "type": "message",
                "channel": self._search_channel(self.channels[cid]),
                "user": m.get("user"),
                "username": self.users.get(m.get("user", ""), {}).get("name", ""),
                "ts": m["ts"],
                "text": m["text"],
                "permalink": f"https://fake.slack.com/archives/{cid}/p{m['ts'].replace('.', '')}",
            }
            for cid, messages in self.messages.items()
            for m in messages
            if all(w in m["text"].lower() for w in words)
        ]
        count, page = int(args.get("count") or 20), int(args.get("page") or 1)
        pages = max(1, -(-len(matches) // count))
        paging = {"count": count, "total": len(matches), "page": page, "pages": pages}
        shown = matches[(page - 1) * count : page * count]
        return {"query": args.get("query"), "messages": {"matches": shown, "total": len(matches), "paging": paging}}

    @staticmethod
    def _search_channel(channel: Channel) -> dict[str, Any]:
        keys = ("id", "name", "is_channel", "is_group", "is_im", "is_mpim", "is_private")
        return {k: v for k, v in channel.as_json().items() if k in keys}

    def m_search_all(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        found = self.m_search_messages(args, token)
        paging = {"count": int(args.get("count") or 20), "total": 0, "page": 1, "pages": 0}
        return {**found, "files": {"matches": [], "total": 0, "paging": paging}}

    def m_users_list(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        page, meta = self._page(list(self.users.values()), args)
        return {"members": page, **meta}

    def _user(self, uid: Any) -> dict[str, Any]:
        user = self.users.get(str(uid))
        if user is None:
            raise SlackFailure("user_not_found")
        return user

    def m_users_info(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        return {"user": self._user(args.get("user"))}

    def m_users_lookupByEmail(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        email = str(args.get("email", "")).lower()
        for user in self.users.values():
            if user["profile"].get("email", "").lower() == email:
                return {"user": user}
        raise SlackFailure("users_not_found")

    def m_users_profile_get(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        return {"profile": self._user(args.get("user"))["profile"]}

    def m_usergroups_list(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        return {"usergroups": self.usergroups}

    def _writable(self, args: dict[str, Any]) -> Channel:
        channel = self.channel(args)
        if channel.is_archived:
            raise SlackFailure("is_archived")
        if BOT_USER not in channel.members:
            raise SlackFailure("not_in_channel")
        return channel

    def m_chat_postMessage(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._writable(args)
        if not args.get("text") and not args.get("blocks"):
            raise SlackFailure("no_text")
        blocks = args.get("blocks")
        extra: dict[str, Any] = {"blocks": json.loads(blocks) if isinstance(blocks, str) else blocks} if blocks else {}
        if args.get("thread_ts"):
            extra["thread_ts"] = str(args["thread_ts"])
        message = self.add_message(channel.id, str(args.get("text") or ""), BOT_USER, **extra)
        return {"channel": channel.id, "ts": message["ts"], "message": message}

    def _own(self, args: dict[str, Any], refusal: str) -> tuple[Channel, dict[str, Any]]:
        channel = self.channel(args)
        message = self.find(channel.id, str(args.get("ts")))
        if message.get("user") != BOT_USER:
            raise SlackFailure(refusal)
        return channel, message

    def m_chat_update(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel, message = self._own(args, "cant_update_message")
        message["text"] = str(args.get("text") or "")
        message["edited"] = {"user": BOT_USER, "ts": self.ts()}
        return {"channel": channel.id, "ts": message["ts"], "text": message["text"]}

    def m_chat_delete(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel, message = self._own(args, "cant_delete_message")
        self.messages[channel.id].remove(message)
        return {"channel": channel.id, "ts": message["ts"]}

    def m_chat_getPermalink(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self.channel(args)
        message = self.find(channel.id, str(args.get("message_ts")))
        link = f"https://fake.slack.com/archives/{channel.id}/p{message['ts'].replace('.', '')}"
        return {"channel": channel.id, "permalink": link}

    def _reacted(self, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        channel = self.channel(args)
        return self.find(channel.id, str(args.get("timestamp"))), str(args.get("name", ""))

    def m_reactions_add(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        message, name = self._reacted(args)
        reactions = message.setdefault("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry is None:
            reactions.append({"name": name, "users": [BOT_USER], "count": 1})
        elif BOT_USER in entry["users"]:
            raise SlackFailure("already_reacted")
        else:
            entry["users"].append(BOT_USER)
            entry["count"] += 1
        return {}

    def m_reactions_remove(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        message, name = self._reacted(args)
        reactions = message.get("reactions", [])
        entry = next((r for r in reactions if r["name"] == name and BOT_USER in r["users"]), None)
        if entry is None:
            raise SlackFailure("no_reaction")
        entry["users"].remove(BOT_USER)
        entry["count"] -= 1
        message["reactions"] = [r for r in reactions if r["count"] > 0]
        return {}

    def m_reactions_get(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self.channel(args)
        message = self.find(channel.id, str(args.get("timestamp")))
        return {"type": "message", "channel": channel.id, "message": message}

    def m_files_getUploadURLExternal(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            raise SlackFailure("invalid_arguments")
        file_id = f"F{len(self.uploads) + 1:07d}"
        self.uploads[file_id] = {"filename": args["filename"], "length": int(args["length"]), "data": None}
        return {"upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    @route("POST", "/upload/v1/{file_id}")
    def upload(self, request: FakeRequest) -> Response:
        with self.lock:
            pending = self.uploads.get(request.params["file_id"])
            if pending is None:
                return Response(404, b"no such upload", {"Content-Type": "text/plain"})
            pending["data"] = request.body
            pending["authorization"] = request.headers.get("authorization")
        return Response(200, b"OK - " + str(len(request.body)).encode(), {"Content-Type": "text/plain"})

    def m_files_completeUploadExternal(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        files = args.get("files")
        listed = json.loads(files) if isinstance(files, str) else files
        done = []
        for item in listed or []:
            pending = self.uploads.get(item.get("id", ""))
            if pending is None or pending["data"] is None or len(pending["data"]) != pending["length"]:
                raise SlackFailure("file_upload_size_mismatch" if pending else "file_not_found")
            record = {
                "id": item["id"],
                "name": pending["filename"],
                "title": item.get("title") or "",
                "size": pending["length"],
            }
            self.files[item["id"]] = {**record, "data": pending["data"]}
            done.append(record)
        if args.get("channel_id"):
            channel = self._writable({"channel": args["channel_id"]})
            extra = {"thread_ts": str(args["thread_ts"])} if args.get("thread_ts") else {}
            self.add_message(channel.id, str(args.get("initial_comment") or ""), BOT_USER, files=done, **extra)
        return {"files": done}
