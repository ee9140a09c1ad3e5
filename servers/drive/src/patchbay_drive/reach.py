"""Whether a Drive file is in scope: itself, its shared drive, or one of its ancestors is allowed.

Drive has no "descendant of" query, so the answer comes from walking parents upwards.
Each folder's parents are remembered for `scope_cache_seconds` in a bounded LRU cache
(a search of 200 files in one folder asks about that folder once); the file itself is
always read fresh by the tool, and this connector's own moves forget what they change.
A folder moved elsewhere by someone else is seen once its entry expires.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from patchbay.scope import DriveAllowlist, OutOfScope

Parents = Callable[[str], tuple[list[str], "str | None"]]
MAX_DEPTH = 64
"""Folders deeper than this are not walked (Drive allows far less in practice)."""


class Reach:
    """The scope check of every tool (see the module docstring)."""

    def __init__(
        self,
        scope: DriveAllowlist,
        parents: Parents,
        *,
        ttl: float = 30.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scope = scope
        self._parents = parents
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, list[str], str | None]] = OrderedDict()
        self._lock = threading.Lock()
        self.lookups = 0

    def admits(self, item: Mapping[str, Any]) -> bool:
        """Whether a file (metadata with `id`, `parents`, `driveId`) lies in scope. Blocking: may walk up."""
        if self.scope.everything:
            return True
        if self.scope.admits(str(item.get("id", ""))) or (item.get("driveId") and self.scope.admits(item["driveId"])):
            return True
        seen: set[str] = set()
        frontier = list(item.get("parents") or [])
        for _ in range(MAX_DEPTH):
            if not frontier:
                return False
            upper: list[str] = []
            for folder in frontier:
                if folder in seen:
                    continue
                seen.add(folder)
                if self.scope.admits(folder):
                    return True
                found = self._lookup(folder)
                if found is None:
                    continue
                parents, drive = found
                if drive and self.scope.admits(drive):
                    return True
                upper.extend(parents)
            frontier = upper
        return False

    def check(self, item: Mapping[str, Any], shown: str) -> None:
        """Refuse a file outside the scope, naming it as the client did (`shown`).

        Raises:
            OutOfScope: neither the file, its drive nor any ancestor is allowed.
        """
        if not self.admits(item):
            raise self.refusal(shown)

    def refusal(self, shown: str) -> OutOfScope:
        """The error for `shown` being out of scope, worded as every connector words it."""
        return OutOfScope(shown, self.scope.kind.noun, self.scope._hint())

    def forget(self, *ids: str) -> None:
        """Drop what is remembered about these folders (after this connector moved or changed them)."""
        with self._lock:
            for folder in ids:
                self._cache.pop(folder, None)

    def _lookup(self, folder: str) -> tuple[list[str], str | None] | None:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(folder)
            if hit is not None and now - hit[0] < self._ttl:
                self._cache.move_to_end(folder)
                return hit[1], hit[2]
        try:
            parents, drive = self._parents(folder)
        except Exception as exc:  # a folder the account cannot see leads nowhere
            if getattr(getattr(exc, "resp", None), "status", None) == 404:
                return None
            raise
        self.lookups += 1
        with self._lock:
            self._cache[folder] = (now, parents, drive)
            self._cache.move_to_end(folder)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return parents, drive
