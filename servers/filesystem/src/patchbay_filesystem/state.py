"""What the filesystem connector keeps for as long as it runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from patchbay_filesystem import capabilities
from patchbay_filesystem.paths import Root
from patchbay_filesystem.scope import RootsTracker
from patchbay_filesystem.settings import FilesystemSettings
from patchbay_filesystem.watch import Watchers

logger = logging.getLogger("patchbay.filesystem")


@dataclass
class FilesystemState:
    """The operator's directories (the ceiling), the clients' roots, and the watchers."""

    settings: FilesystemSettings
    ceiling: tuple[Root, ...]
    roots: RootsTracker
    watchers: Watchers


@asynccontextmanager
async def filesystem_state(settings: FilesystemSettings) -> AsyncIterator[FilesystemState]:
    """The connector's lifespan: watchers stop when it ends.

    At start-up, each race-free primitive this platform lacks is named, with what the
    connector does instead (`capabilities.Capabilities.notes`).
    """
    for note in capabilities.CURRENT.notes():
        logger.warning(note)
    ceiling = tuple(Root(str(path), "operator directory") for path in settings.roots)
    async with Watchers() as watchers:
        yield FilesystemState(settings, ceiling, RootsTracker(settings.roots_timeout_seconds), watchers)
