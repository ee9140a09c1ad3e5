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
    # credentials
    "Credential": "patchbay.credentials",
    "CredentialError": "patchbay.credentials",
    "RefreshRefused": "patchbay.credentials",
    "RefreshingCredential": "patchbay.credentials",
    "StaticCredential": "patchbay.credentials",
    "write_private_file": "patchbay.credentials",
    # untrusted text
    "Cleaned": "patchbay.untrusted",
    "Untrusted": "patchbay.untrusted",
    "clean_fields": "patchbay.untrusted",
    "clean_untrusted": "patchbay.untrusted",
    # scope.py
    "Allowlist": "patchbay.scope",
    "BucketAllowlist": "patchbay.scope",
    "ChannelAllowlist": "patchbay.scope",
    "DriveAllowlist": "patchbay.scope",
    "Filtered": "patchbay.scope",
    "Kind": "patchbay.scope",
    "OutOfScope": "patchbay.scope",
    "RepoAllowlist": "patchbay.scope",
    "within": "patchbay.scope",
    # upstream calls and retries (issue 10)
    "RateLimited": "patchbay.retry",
    "RetryPolicy": "patchbay.retry",
    "PerThread": "patchbay.upstream",
    "Upstream": "patchbay.upstream",
    "upstream_of": "patchbay.upstream",
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
    from patchbay.credentials import Credential as Credential
    from patchbay.credentials import CredentialError as CredentialError
    from patchbay.credentials import RefreshingCredential as RefreshingCredential
    from patchbay.credentials import RefreshRefused as RefreshRefused
    from patchbay.credentials import StaticCredential as StaticCredential
    from patchbay.credentials import write_private_file as write_private_file
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
    from patchbay.retry import RateLimited as RateLimited
    from patchbay.retry import RetryPolicy as RetryPolicy
    from patchbay.runtime import Runtime as Runtime
    from patchbay.runtime import connection_of as connection_of
    from patchbay.runtime import runtime_of as runtime_of
    from patchbay.scope import Allowlist as Allowlist
    from patchbay.scope import BucketAllowlist as BucketAllowlist
    from patchbay.scope import ChannelAllowlist as ChannelAllowlist
    from patchbay.scope import DriveAllowlist as DriveAllowlist
    from patchbay.scope import Filtered as Filtered
    from patchbay.scope import Kind as Kind
    from patchbay.scope import OutOfScope as OutOfScope
    from patchbay.scope import RepoAllowlist as RepoAllowlist
    from patchbay.scope import within as within
    from patchbay.settings import ConnectorSettings as ConnectorSettings
    from patchbay.settings import SettingsError as SettingsError
    from patchbay.untrusted import Cleaned as Cleaned
    from patchbay.untrusted import Untrusted as Untrusted
    from patchbay.untrusted import clean_fields as clean_fields
    from patchbay.untrusted import clean_untrusted as clean_untrusted
    from patchbay.upstream import PerThread as PerThread
    from patchbay.upstream import Upstream as Upstream
    from patchbay.upstream import upstream_of as upstream_of
    from patchbay.workers import Progress as Progress
    from patchbay.workers import WorkCancelled as WorkCancelled
    from patchbay.workers import checkpoint as checkpoint


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'patchbay' has no attribute {name!r}")
