"""The filesystem connector driven by the MCP Inspector CLI and the TypeScript SDK client.

Over stdio, stateless HTTP and stateful HTTP: tools, resource templates, resources and
prompts listed and used; the Inspector's --strict schema check finds nothing; a
destructive call confirmed and declined through the TypeScript client's elicitation
handler; client roots narrowing the scope, Inspector's empty roots explained, and
`--client-roots ignore` through Inspector's config.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_clients import Clients, Servers, Target, console_script, serve, text_of

pytestmark = pytest.mark.integration

TOOLS = {
    "read_text_file", "read_media_file", "read_multiple_files", "list_directory", "directory_tree", "search_files",
    "search_file_contents", "get_file_info", "list_allowed_directories", "write_file", "edit_file",
    "create_directory", "copy_file", "move_file", "delete_file", "delete_directory",
}  # fmt: skip
TOOL_ERROR = 5  # the Inspector CLI's exit code for a result with isError


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fs-interop")
    (root / "notes.txt").write_text("hello from patchbay\n")
    (root / "sub").mkdir()
    (root / "sub" / "inner.txt").write_text("inner\n")
    return root


@pytest.fixture(scope="module")
def servers(tree: Path) -> Iterator[Servers]:
    yield from serve([console_script("patchbay-filesystem"), "--allow-writes", str(tree)], {})


def test_inspector_lists_and_calls_with_a_clean_strict_schema_check(
    clients: Clients, target: Target, tree: Path
) -> None:
    entry = target.inspector_entry(roots=[str(tree)])
    listed = clients.inspector(entry, "--method", "tools/list", "--strict")
    assert listed.code == 0, listed.stderr
    assert {tool["name"] for tool in listed.result["tools"]} == TOOLS
    assert "schemaFindings" not in listed.answer, listed.answer.get("schemaFindings")

    read = clients.inspector(entry, "--method", "tools/call", "--tool-name", "read_text_file", "--tool-arg",
                             f"path={tree}/notes.txt")  # fmt: skip
    assert read.code == 0, read.stderr
    assert read.result["structuredContent"]["content"] == "hello from patchbay\n"

    templates = clients.inspector(entry, "--method", "resources/templates/list")
    assert [t["uriTemplate"] for t in templates.result["resourceTemplates"]] == ["file://{+path}"]
    resource = clients.inspector(entry, "--method", "resources/read", "--uri", f"file://{tree}/sub/inner.txt")
    assert resource.result["contents"][0]["text"] == "inner\n"
    prompts = clients.inspector(entry, "--method", "prompts/list")
    assert prompts.code == 0 and prompts.result["prompts"] == []


def test_typescript_client_lists_calls_and_confirms(clients: Clients, target: Target, tree: Path) -> None:
    doomed = tree / f"doomed-{target.transport}.txt"
    doomed.write_text("bye\n")
    report = clients.typescript(
        {
            "server": target.ts_server(),
            "roots": [{"uri": f"file://{tree}"}],
            "elicit": ["decline", "accept"],
            "steps": [
                {"op": "listTools"},
                {"op": "listResourceTemplates"},
                {"op": "listPrompts"},
                {"op": "callTool", "name": "list_directory", "arguments": {"path": str(tree / "sub")}},
                {"op": "readResource", "uri": f"file://{tree}/notes.txt"},
                {"op": "callTool", "name": "delete_file", "arguments": {"path": str(doomed)}},
                {"op": "callTool", "name": "delete_file", "arguments": {"path": str(doomed)}},
            ],
        }
    )
    tools, templates, prompts, listing, resource, first, second = (step.get("result") for step in report["steps"])
    assert report["server"]["name"] == "patchbay-filesystem"
    assert {tool["name"] for tool in tools["tools"]} == TOOLS
    assert templates["resourceTemplates"][0]["uriTemplate"] == "file://{+path}"
    # No prompts: the capability is not offered, and the client's prompts/list is refused.
    assert "prompts" not in report["capabilities"] and prompts is None
    assert "prompts" in report["steps"][2]["error"] or "Method not found" in report["steps"][2]["error"]
    assert [e["name"] for e in listing["structuredContent"]["items"]] == ["inner.txt"]
    assert resource["contents"][0]["text"] == "hello from patchbay\n"
    if target.stateless:  # no channel to ask on: refused, and nothing done
        assert first["isError"] and "--stateful" in text_of(first), first
        assert report["questions"] == [] and doomed.exists()
        return
    assert first["structuredContent"]["outcome"] == "declined", first
    assert second["structuredContent"]["outcome"] == "done", second
    assert report["questions"] == [f"Delete the file '{doomed}' (4 bytes)? This cannot be undone."] * 2
    assert not doomed.exists()


@pytest.mark.parametrize("transport", ["stdio", "http-stateful"])
def test_inspector_roots_narrow_the_scope(clients: Clients, servers: Servers, tree: Path, transport: str) -> None:
    entry = servers.target(transport).inspector_entry(roots=[str(tree / "sub")])
    listed = clients.inspector(entry, "--method", "tools/call", "--tool-name", "list_allowed_directories")
    assert listed.result["structuredContent"]["directories"] == [
        {"path": str(tree / "sub"), "source": f"client root file://{tree}/sub (within operator directory {tree})"}
    ]
    outside = clients.inspector(
        entry, "--method", "tools/call", "--tool-name", "read_text_file", "--tool-arg", f"path={tree}/notes.txt"
    )
    assert outside.code == TOOL_ERROR
    assert "is outside the allowed directories" in text_of(outside.result)


def test_inspector_without_roots_is_told_the_cause_and_the_remedy(clients: Clients, tree: Path) -> None:
    """As in the issue: `inspector --cli patchbay-filesystem DIR` sends an empty roots list."""
    command = [console_script("patchbay-filesystem"), str(tree)]
    read = clients.inspector_args(*command, "--", "--method", "tools/call", "--tool-name", "read_text_file",
                                  "--tool-arg", "path=notes.txt")  # fmt: skip
    assert read.code == TOOL_ERROR
    text = text_of(read.result)
    assert "the client sent no roots" in text and "Configure roots in the client" in text, text
    assert "--client-roots ignore" in text and "notes.txt" not in text
    listed = clients.inspector_args(*command, "--", "--method", "tools/call", "--tool-name", "list_allowed_directories")
    assert listed.code == 0, listed.stderr
    assert listed.result["structuredContent"]["directories"] == []
    assert listed.result["structuredContent"]["empty_because"].startswith("the client sent no roots")


def test_inspector_with_client_roots_ignore_uses_the_operator_directories(clients: Clients, tree: Path) -> None:
    entry = Target("stdio", [console_script("patchbay-filesystem"), str(tree)], {}).inspector_entry(
        args=["--client-roots", "ignore"]
    )
    read = clients.inspector(entry, "--method", "tools/call", "--tool-name", "read_text_file", "--tool-arg",
                             "path=notes.txt")  # fmt: skip
    assert read.code == 0, (read.answer, read.stderr)
    assert read.result["structuredContent"]["content"] == "hello from patchbay\n"
