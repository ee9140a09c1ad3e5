"""What the Drive tools return; text written by others (names, descriptions, comments) is `Untrusted`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from patchbay.model_text import short_size, table
from patchbay.pagination import Paginated
from patchbay.untrusted import Untrusted

FOLDER = "application/vnd.google-apps.folder"
SHORTCUT = "application/vnd.google-apps.shortcut"


class FileInfo(BaseModel):
    """One file or folder."""

    id: str
    name: Untrusted
    mime_type: str
    parents: list[str] = Field(default_factory=list)
    drive_id: str | None = Field(None, description="The shared drive holding it, if any.")
    size: int | None = Field(None, description="Bytes (none for folders and Google Docs editors files).")
    modified_time: str | None = None
    owners: list[str] = Field(default_factory=list, description="Owner emails (none in shared drives).")
    shortcut_target: str | None = Field(None, description="For a shortcut: the id of the file it points to.")
    description: Untrusted | None = None
    trashed: bool = False
    web_view_link: str | None = None

    @classmethod
    def of(cls, item: dict[str, Any]) -> FileInfo:
        """From a Drive `File` resource."""
        size = item.get("size")
        return cls(
            id=item["id"],
            name=item.get("name", ""),
            mime_type=item.get("mimeType", ""),
            parents=list(item.get("parents") or []),
            drive_id=item.get("driveId"),
            size=int(size) if size is not None else None,
            modified_time=item.get("modifiedTime"),
            owners=[o.get("emailAddress", "") for o in item.get("owners", [])],
            shortcut_target=(item.get("shortcutDetails") or {}).get("targetId"),
            description=item.get("description"),
            trashed=bool(item.get("trashed", False)),
            web_view_link=item.get("webViewLink"),
        )


class Files(Paginated):
    """A page of files, and how many results outside the scope were withheld."""

    items: list[FileInfo]
    withheld: str | None = Field(None, description="How many results outside the allowed folders were left out.")

    def model_text(self) -> str:
        """A table of the files, then what was withheld and how to page on."""
        rows = [(f.id, f.name, _kind(f.mime_type), short_size(f.size), f.modified_time or "") for f in self.items]
        text = table(rows, ["id", "name", "type", "size", "modified"]) if rows else "(no files)"
        if self.withheld:
            text += f"\n{self.withheld}"
        if self.next_cursor:
            text += "\nMore: pass next_cursor as cursor."
        return text


def _kind(mime: str) -> str:
    return (
        mime.removeprefix("application/vnd.google-apps.") if mime.startswith("application/vnd.google-apps.") else mime
    )


class SharedDrive(BaseModel):
    """A shared drive the account reaches."""

    id: str
    name: Untrusted
    in_scope: bool = Field(description="Whether the tools may reach it.")


class Revision(BaseModel):
    """One revision of a file's content."""

    id: str
    modified_time: str | None = None
    size: int | None = None
    author: Untrusted | None = None
    keep_forever: bool = False

    @classmethod
    def of(cls, found: dict[str, Any]) -> Revision:
        """From a Drive `Revision` resource."""
        return cls(
            id=found["id"],
            modified_time=found.get("modifiedTime"),
            size=int(found["size"]) if found.get("size") else None,
            author=(found.get("lastModifyingUser") or {}).get("displayName"),
            keep_forever=bool(found.get("keepForever", False)),
        )


class Permission(BaseModel):
    """Who may reach a file, and how."""

    id: str
    type: str = Field(description="user, group, domain or anyone.")
    role: str
    email: str | None = None
    domain: str | None = None
    display_name: Untrusted | None = None

    @classmethod
    def of(cls, found: dict[str, Any]) -> Permission:
        """From a Drive `Permission` resource."""
        return cls(
            id=found["id"],
            type=found.get("type", ""),
            role=found.get("role", ""),
            email=found.get("emailAddress"),
            domain=found.get("domain"),
            display_name=found.get("displayName"),
        )


class Comment(BaseModel):
    """A comment on a file (written by others)."""

    id: str
    author: Untrusted | None = None
    content: Untrusted
    created_time: str | None = None
    resolved: bool = False
    replies: int = 0

    @classmethod
    def of(cls, found: dict[str, Any]) -> Comment:
        """From a Drive `Comment` resource."""
        return cls(
            id=found["id"],
            author=(found.get("author") or {}).get("displayName"),
            content=found.get("content", ""),
            created_time=found.get("createdTime"),
            resolved=bool(found.get("resolved", False)),
            replies=len(found.get("replies") or []),
        )


class Trashed(BaseModel):
    """A file moved to the trash (restorable from Drive's trash for 30 days)."""

    id: str
    name: Untrusted
