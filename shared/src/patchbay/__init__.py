"""Patchbay: the shared base of every Patchbay MCP connector.

Exports are loaded on first use, so that `patchbay.cli` (and with it every
connector's `--help`) starts without importing the MCP SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Connector": "patchbay.connector",
    "Runtime": "patchbay.runtime",
    "runtime_of": "patchbay.runtime",
    "ConnectorSettings": "patchbay.settings",
    "SettingsError": "patchbay.settings",
    "Confirmed": "patchbay.confirm",
    "Cursor": "patchbay.pagination",
    "Page": "patchbay.pagination",
    "Paginated": "patchbay.pagination",
    "Question": "patchbay.confirm",
    "fingerprint": "patchbay.confirm",
    "check_unchanged": "patchbay.confirm",
    "Progress": "patchbay.workers",
    "checkpoint": "patchbay.workers",
    "WorkCancelled": "patchbay.workers",
    "InvalidArgument": "patchbay.errors",
    "ToolError": "patchbay.errors",
    "MCPError": "patchbay.errors",
    "ResourceDenied": "patchbay.errors",
    "ResourceNotFound": "patchbay.errors",
    "connection_of": "patchbay.runtime",
    # content and model text (issue 10)
    "Content": "patchbay.content",
    "ContentTooLarge": "patchbay.content",
    "aread_content": "patchbay.content",
    "fit_result": "patchbay.content",
    "read_content": "patchbay.content",
    "sniff_mime": "patchbay.content",
    "to_content": "patchbay.content",
    "ModelText": "patchbay.model_text",
    "short_size": "patchbay.model_text",
    "short_time": "patchbay.model_text",
    "table": "patchbay.model_text",
}

if TYPE_CHECKING:
    from patchbay.confirm import Confirmed as Confirmed
    from patchbay.confirm import Question as Question
    from patchbay.confirm import check_unchanged as check_unchanged
    from patchbay.confirm import fingerprint as fingerprint
    from patchbay.connector import Connector as Connector
    from patchbay.content import Content as Content
    from patchbay.content import ContentTooLarge as ContentTooLarge
    from patchbay.content import aread_content as aread_content
    from patchbay.content import fit_result as fit_result
    from patchbay.content import read_content as read_content
    from patchbay.content import sniff_mime as sniff_mime
    from patchbay.content import to_content as to_content
    from patchbay.errors import InvalidArgument as InvalidArgument
    from patchbay.errors import MCPError as MCPError
    from patchbay.errors import ResourceDenied as ResourceDenied
    from patchbay.errors import ResourceNotFound as ResourceNotFound
    from patchbay.errors import ToolError as ToolError
    from patchbay.model_text import ModelText as ModelText
    from patchbay.model_text import short_size as short_size
    from patchbay.model_text import short_time as short_time
    from patchbay.model_text import table as table
    from patchbay.pagination import Cursor as Cursor
    from patchbay.pagination import Page as Page
    from patchbay.pagination import Paginated as Paginated
    from patchbay.runtime import Runtime as Runtime
    from patchbay.runtime import connection_of as connection_of
    from patchbay.runtime import runtime_of as runtime_of
    from patchbay.settings import ConnectorSettings as ConnectorSettings
    from patchbay.settings import SettingsError as SettingsError
    from patchbay.workers import Progress as Progress
    from patchbay.workers import WorkCancelled as WorkCancelled
    from patchbay.workers import checkpoint as checkpoint


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'patchbay' has no attribute {name!r}")
