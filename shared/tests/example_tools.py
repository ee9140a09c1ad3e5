"""The example connector's tools as a client should see them, written out once for the tests."""

READ_TOOLS = [
    "echo",
    "list_notes",
    "get_note",
    "count_words",
    "export_notes",
    "check_passphrase",
    "list_shelf",
    "search_books",
    "read_book",
]
"""Offered read-only, in registration order."""

WRITE_TOOLS = ["put_note", "delete_note", "delete_notes"]
"""Offered only with writes allowed."""

ALL_TOOLS = [*READ_TOOLS[:6], *WRITE_TOOLS, *READ_TOOLS[6:]]
"""Everything with writes allowed, in registration order."""
