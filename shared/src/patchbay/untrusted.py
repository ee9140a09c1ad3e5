"""Cleaning text written by people other than the user before it reaches the model.

Issue bodies, comments, chat messages, document text and file names can carry text a
person reading the same item on the service's own site never sees, but a model reads:
prompt injection hidden in invisible characters or markup. `clean(text)` removes

- tag characters: U+E0000..U+E007F (invisible ASCII look-alikes: "ASCII smuggling");
- zero-width characters: U+200B..U+200D, U+2060..U+2065, U+FEFF, and the other
  invisible formatting characters: U+00AD soft hyphen, U+034F combining grapheme
  joiner, U+115F/U+1160/U+3164/U+FFA0 Hangul fillers, U+17B4/U+17B5 Khmer inherent
  vowels, U+180E Mongolian vowel separator, U+206A..U+206F deprecated format
  characters, U+FFF9..U+FFFB interlinear annotation, U+1D173..U+1D17A musical format
  characters. (Zero-width joiners go too: an emoji family reads as its members, and
  Persian text loses its non-joiners, with no change of words);
- bidi controls: U+202A..U+202E embeddings and overrides, U+2066..U+2069 isolates,
  U+200E/U+200F/U+061C marks (text given to a model is in logical order: the marks only
  change how it is drawn, and they reorder what a person sees against what a model reads);
- variation selectors that can carry hidden data: U+FE00..U+FE0D and U+E0100..U+E01EF
  always, and U+FE0E/U+FE0F (text or emoji presentation) after another selector, so
  one emoji keeps its look but no run of selectors survives;
- HTML comments: `<!-- ... -->` (also `<!-->`, `<!--->` and `--!>` endings, as HTML
  parses them), and an unterminated `<!--` up to the end of the text.

The result says what went, per kind, and has a one-line `note` a tool may show
(`[removed from text written by others: 12 hidden tag characters, 1 HTML comment]`).
Cleaning is idempotent and linear: one regular-expression search over text with nothing
hidden (which comes back as the same object), a few passes over text with something
hidden, never a Python loop over characters.

Connectors declare which result fields are written by others with the `Untrusted`
type: such a field is cleaned when the model is built, and the base's tool pipeline
adds the note of everything a call removed to its result. `clean_untrusted_text=false`
(`PATCHBAY_<ID>_CLEAN_UNTRUSTED_TEXT`) turns cleaning off for a connector.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel

TAG = "tag characters"
ZERO_WIDTH = "zero-width characters"
BIDI = "bidi controls"
VARIATION = "variation selectors"
HTML_COMMENT = "html comments"
KINDS = (TAG, ZERO_WIDTH, BIDI, VARIATION, HTML_COMMENT)
"""The kinds of removed text, in the order a note names them."""

# Character classes (regular-expression bodies), one per kind.
_TAG_CLASS = "\U000e0000-\U000e007f"
_ZERO_WIDTH_CLASS = (
    "\u200b-\u200d\u2060-\u2065\ufeff"
    "\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180e\u206a-\u206f\u3164\ufff9-\ufffb\uffa0\U0001d173-\U0001d17a"
)
_BIDI_CLASS = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
_VARIATION_CLASS = "\ufe00-\ufe0d\U000e0100-\U000e01ef"
_PRESENTATION_CLASS = "\ufe0e\ufe0f"

REMOVED_CHARACTERS = _TAG_CLASS + _ZERO_WIDTH_CLASS + _BIDI_CLASS + _VARIATION_CLASS
"""A character-class body of every character `clean` always removes (for tests and checks)."""

# One search finds whether there is any hidden character at all (most text has none);
# text that has some loses each kind in a pass of its own, counted by `subn` in C.
_ANY_CHARACTER = re.compile(f"[{REMOVED_CHARACTERS}]")
_BY_KIND = tuple(
    (kind, re.compile(f"[{body}]"))
    for kind, body in (
        (TAG, _TAG_CLASS),
        (ZERO_WIDTH, _ZERO_WIDTH_CLASS),
        (BIDI, _BIDI_CLASS),
        (VARIATION, _VARIATION_CLASS),
    )
)
# HTML comments, after the characters (so that `<` U+200B `!--` is caught as a comment).
_COMMENT = re.compile(r"<!--(?:-?>|.*?--!?>|.*)", re.DOTALL)
_COMMENT_PASSES = 3
# A presentation selector after another selector: never in real text, a data channel.
_SELECTOR_RUN = re.compile(f"(?<=[{_PRESENTATION_CLASS}])[{_PRESENTATION_CLASS}]+")

_NOTE_NAMES = {
    TAG: ("hidden tag character", "hidden tag characters"),
    ZERO_WIDTH: ("zero-width character", "zero-width characters"),
    BIDI: ("bidi control character", "bidi control characters"),
    VARIATION: ("variation selector", "variation selectors"),
    HTML_COMMENT: ("HTML comment", "HTML comments"),
}


@dataclass(frozen=True)
class Cleaned:
    """Text with hidden content removed, and how much of each kind went."""

    text: str
    removed: Mapping[str, int] = field(default_factory=dict)
    """Kind → count (characters; comments for `html comments`), only kinds that occurred."""

    @property
    def note(self) -> str | None:
        """One line naming what was removed, for the model; None when nothing was."""
        return note(self.removed)


def note(removed: Mapping[str, int]) -> str | None:
    """`[removed from text written by others: 12 hidden tag characters, 1 HTML comment]`, or None."""
    parts = []
    for kind in KINDS:
        count = removed.get(kind, 0)
        if count:
            one, many = _NOTE_NAMES[kind]
            parts.append(f"{count} {one if count == 1 else many}")
    if not parts:
        return None
    return f"[removed from text written by others: {', '.join(parts)}]"


def clean(text: str) -> Cleaned:
    """`text` without hidden characters and HTML comments (see the module), saying what went."""
    counts: Counter[str] = Counter()
    result = text
    if _ANY_CHARACTER.search(text):
        for kind, pattern in _BY_KIND:
            result, removed = pattern.subn("", result)
            counts[kind] += removed
    if "<!--" in result:
        # Removing a comment can join the text around it into a new `<!--`; after a few
        # passes (only crafted text needs more than one) the rest from it is one comment.
        for _ in range(_COMMENT_PASSES):
            result, removed = _COMMENT.subn("", result)
            counts[HTML_COMMENT] += removed
            if "<!--" not in result:
                break
        else:
            result = result[: result.index("<!--")]
            counts[HTML_COMMENT] += 1
    if "\ufe0e" in result or "\ufe0f" in result:
        before = len(result)
        result = _SELECTOR_RUN.sub("", result)
        if len(result) != before:
            counts[VARIATION] += before - len(result)
    if not +counts:
        return Cleaned(text)  # the very same object: nothing was copied
    return Cleaned(result, {kind: counts[kind] for kind in KINDS if counts[kind]})


# Cleaning inside a tool call -------------------------------------------------------------


@dataclass
class Removals:
    """What one tool call removed from untrusted text so far (see `collecting`)."""

    enabled: bool = True
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def note(self) -> str | None:
        """The one-line note for everything removed in the call, or None."""
        return note(self.counts) if self.counts else None


_current: ContextVar[Removals | None] = ContextVar("patchbay_untrusted_removals", default=None)


class collecting:
    """Clean (or, with `enabled=False`, leave) untrusted text in this block, adding up what went.

    The base's tool pipeline wraps every call in this with the connector's
    `clean_untrusted_text` setting; worker threads started by the call share it. (A
    class rather than a generator: it runs on every tool call.)
    """

    def __init__(self, enabled: bool = True) -> None:
        self._removals = Removals(enabled=enabled)
        self._token: Token[Removals | None] | None = None

    def __enter__(self) -> Removals:
        self._token = _current.set(self._removals)
        return self._removals

    def __exit__(self, *_: object) -> None:
        assert self._token is not None
        _current.reset(self._token)


def clean_untrusted(text: str) -> str:
    """`text` cleaned, counted in the current call's note; unchanged when cleaning is off.

    Outside a tool call (no `collecting` block) text is cleaned and nothing is counted.
    """
    removals = _current.get()
    if removals is not None and not removals.enabled:
        return text
    cleaned = clean(text)
    if removals is not None and cleaned.removed:
        removals.counts.update(cleaned.removed)
    return cleaned.text


Untrusted = Annotated[str, AfterValidator(clean_untrusted)]
"""A `str` field written by someone other than the user; cleaned when the model is built.

    class Comment(BaseModel):
        author: str
        body: Untrusted
"""

M = TypeVar("M", bound=BaseModel)


def clean_fields(model: M, *names: str) -> M:
    """A copy of `model` with the `str` fields `names` cleaned (for models you cannot annotate).

    None and non-string values are left alone; removals count in the current call's note.
    """
    update = {}
    for name in names:
        value = getattr(model, name)
        if isinstance(value, str):
            cleaned = clean_untrusted(value)
            if cleaned is not value:
                update[name] = cleaned
    return model.model_copy(update=update) if update else model


__all__ = [
    "KINDS",
    "REMOVED_CHARACTERS",
    "Cleaned",
    "Removals",
    "Untrusted",
    "clean",
    "clean_fields",
    "clean_untrusted",
    "collecting",
    "note",
]
