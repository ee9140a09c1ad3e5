"""Resources, subscriptions, client roots, progress and cancellation; the command line."""

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from fs_observe import inotify_instances, seconds_until_idle, wait_until
from mcp import Client
from mcp.shared.exceptions import MCPError

from patchbay.testing import connect, stdio_server
from patchbay_filesystem.server import connector

pytestmark = pytest.mark.anyio


def roots_answering(*paths: Path) -> Any:
    async def list_roots(context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=f"file://{p}", name=p.name) for p in paths])  # type: ignore[arg-type]

    return list_roots


async def test_file_resource_reads_text_and_binary(tree: Path, era: str) -> None:
    async with connect(connector, {"roots": [str(tree)]}, era=era) as client:
        templates = await client.list_resource_templates()
        text = await client.read_resource(f"file://{tree}/README.md")
        binary = await client.read_resource(f"file://{tree}/blob.bin")
    assert [t.uri_template for t in templates.resource_templates] == ["file://{+path}"]
    assert text.contents[0].text.startswith("# Project")  # type: ignore[union-attr]
    assert binary.contents[0].blob  # type: ignore[union-attr]


async def test_file_resource_errors_say_not_found_or_access_denied(tree: Path, tmp_path: Path, era: str) -> None:
    (tmp_path / "secret.txt").write_text("outside\n")
    async with connect(connector, {"roots": [str(tree)]}, era=era) as client:
        with pytest.raises(MCPError) as missing:
            await client.read_resource(f"file://{tree}/nope.txt")
        with pytest.raises(MCPError) as outside:
            await client.read_resource(f"file://{tmp_path}/secret.txt")
    # MCP's resource-not-found code: -32002 up to 2025-11-25, INVALID_PARAMS (-32602) from 2026-07-28.
    not_found = -32002 if era == "legacy" else -32602
    assert (missing.value.code, missing.value.message) == (not_found, f"No such file or directory: '{tree}/nope.txt'.")
    assert (outside.value.code, outside.value.message) == (
        -32602,
        f"Access denied: '{tmp_path}/secret.txt' is outside the allowed directories "
        "(list_allowed_directories shows them).",
    )


async def test_subscribers_hear_about_changes_to_a_file_and_a_directory(tree: Path) -> None:
    heard: list[str] = []
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            heard.append(str(message.params.uri))
            changed.set()

    file_uri, dir_uri = f"file://{tree}/README.md", f"file://{tree}/docs"
    async with connect(connector, {"roots": [str(tree)]}, era="legacy", message_handler=on_message) as client:
        await client.subscribe_resource(file_uri)
        await client.subscribe_resource(dir_uri)
        await anyio.sleep(0.3)  # let the watchers start
        (tree / "README.md").write_text("changed\n")
        with anyio.fail_after(10):
            await changed.wait()
        assert file_uri in heard
        changed = anyio.Event()
        (tree / "docs" / "new.txt").write_text("new\n")
        with anyio.fail_after(10):
            while dir_uri not in heard:
                await changed.wait()
                changed = anyio.Event()
        await client.unsubscribe_resource(file_uri)
        await client.unsubscribe_resource(dir_uri)
        heard.clear()
        (tree / "README.md").write_text("changed again\n")
        await anyio.sleep(0.6)
    assert heard == []


async def test_subscribing_outside_the_scope_is_refused(tree: Path, tmp_path: Path) -> None:
    async with connect(connector, {"roots": [str(tree)]}, era="legacy") as client:
        with pytest.raises(Exception, match="outside the allowed directories"):
            await client.subscribe_resource(f"file://{tmp_path}")


async def test_client_roots_narrow_the_scope(tree: Path, era: str) -> None:
    async with connect(
        connector, {"roots": [str(tree)]}, era=era, list_roots_callback=roots_answering(tree / "src")
    ) as client:
        allowed = (await client.call_tool("list_allowed_directories", {})).structured_content
        inside = await client.call_tool("read_text_file", {"path": "main.py"})  # relative to the first root: src
        outside = await client.call_tool("read_text_file", {"path": str(tree / "README.md")})
    assert allowed == {
        "directories": [
            {"path": str(tree / "src"), "source": f"client root file://{tree}/src (within operator directory {tree})"}
        ],
        "narrowed_by_client_roots": True,
        "empty_because": None,
    }
    assert not inside.is_error
    assert outside.is_error
    assert "Access denied" in outside.content[0].text


async def test_an_empty_roots_list_is_refused_with_its_cause_and_remedy(tree: Path, era: str) -> None:
    """MCP Inspector answers roots/list with []: the refusal names that, not the path."""
    async with connect(connector, {"roots": [str(tree)]}, era=era, list_roots_callback=roots_answering()) as client:
        refused = await client.call_tool("read_text_file", {"path": "README.md"})
        listed = (await client.call_tool("list_allowed_directories", {})).structured_content
        with pytest.raises(Exception, match="the client sent no roots"):
            await client.read_resource(f"file://{tree}/README.md")
    text = refused.content[0].text  # type: ignore[union-attr]
    assert refused.is_error
    assert "Access denied: the client sent no roots" in text
    assert "Configure roots in the client" in text
    assert "--client-roots ignore" in text
    assert "README.md" not in text  # the path is not what is wrong
    assert listed is not None
    assert listed["directories"] == []
    assert listed["narrowed_by_client_roots"] is True
    assert listed["empty_because"].startswith("the client sent no roots")


async def test_roots_that_miss_every_directory_are_named_in_the_refusal(tree: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    async with connect(
        connector, {"roots": [str(tree)]}, era="legacy", list_roots_callback=roots_answering(elsewhere)
    ) as client:
        refused = await client.call_tool("read_text_file", {"path": "README.md"})
        listed = (await client.call_tool("list_allowed_directories", {})).structured_content
    text = refused.content[0].text  # type: ignore[union-attr]
    assert refused.is_error
    assert f"none of the client's roots (file://{elsewhere})" in text
    assert f"within the operator's directories ({tree})" in text
    assert "--client-roots ignore" in text
    assert listed is not None
    assert listed["empty_because"] is not None


async def test_client_roots_ignore_uses_the_operator_directories(tree: Path, era: str) -> None:
    asked: list[int] = []

    async def empty_roots(context: Any) -> types.ListRootsResult:
        asked.append(1)
        return types.ListRootsResult(roots=[])

    settings = {"roots": [str(tree)], "client_roots": "ignore"}
    async with connect(connector, settings, era=era, list_roots_callback=empty_roots) as client:
        read = await client.call_tool("read_text_file", {"path": "README.md"})
        listed = (await client.call_tool("list_allowed_directories", {})).structured_content
    assert not read.is_error
    assert listed == {
        "directories": [{"path": str(tree), "source": "operator directory"}],
        "narrowed_by_client_roots": False,
        "empty_because": None,
    }
    assert asked == []  # the client is never asked


def test_client_roots_setting_from_flag_and_environment(tree: Path) -> None:
    from_flag = run_cli("--client-roots", "ignore", "--print-config", str(tree))
    from_env = run_cli("--print-config", str(tree), env={"PATCHBAY_FILESYSTEM_CLIENT_ROOTS": "ignore"})
    default = run_cli("--print-config", str(tree))
    assert '"client_roots": "ignore"' in from_flag.stdout, from_flag.stderr
    assert '"client_roots": "ignore"' in from_env.stdout, from_env.stderr
    assert '"client_roots": "intersect"' in default.stdout, default.stderr
    bad = run_cli("--print-config", str(tree), env={"PATCHBAY_FILESYSTEM_CLIENT_ROOTS": "widen"})
    assert bad.returncode == 2
    assert "PATCHBAY_FILESYSTEM_CLIENT_ROOTS (--client-roots)" in bad.stderr
    assert "'intersect' or 'ignore'" in bad.stderr


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("directory_tree", {"path": "many", "max_entries": 5000}),
        ("search_files", {"path": "many", "pattern": "*.absent"}),
        ("search_file_contents", {"path": "many", "query": "absent"}),
    ],
)
async def test_long_walks_report_progress(tree: Path, era: str, tool: str, args: dict[str, Any]) -> None:
    for i in range(30):
        folder = tree / "many" / f"d{i}"
        folder.mkdir(parents=True)
        for j in range(100):
            (folder / f"f{j}.txt").write_text("x")
    updates: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        updates.append(done)

    async with connect(connector, {"roots": [str(tree)]}, era=era) as client:
        result = await client.call_tool(tool, args, progress_callback=progress)
    assert not result.is_error
    assert updates == [2000.0]  # 3,030 entries: one report, from the worker thread


async def test_a_cancelled_search_stops_and_frees_its_worker(tree: Path) -> None:
    """The search stops at its next checkpoint: its worker slot is free and the process idle within 1 s."""
    for i in range(40):  # 40,000 files of 200 lines, hard links of one file each: cheap to make, slow to search
        folder = tree / "big" / f"d{i}"
        folder.mkdir(parents=True)
        (folder / "f0").write_text("needle in a haystack\n" * 200)
        for j in range(1, 1000):
            os.link(folder / "f0", folder / f"f{j}")
    server = connector.build(connector.load_settings({"roots": [str(tree)]}))
    workers = server.settings.lifespan.__self__.workers  # type: ignore[union-attr]
    progress: list[tuple[float, float]] = []
    async with Client(server, mode="legacy") as client:
        async with anyio.create_task_group() as group:
            group.start_soon(_search_everything, client, progress)
            began = time.perf_counter()
            await wait_until(lambda: bool(progress), 20)  # the first report comes after 2,000 entries
            busy_while_searching = workers.busy
            group.cancel_scope.cancel()  # the client sends notifications/cancelled
            cancelled_at = time.perf_counter()
        await wait_until(lambda: workers.busy == 0, 5)
        freed_after = time.perf_counter() - cancelled_at
        stopped_after = await seconds_until_idle(os.getpid(), cancelled_at)
        after = await client.call_tool("read_text_file", {"path": "README.md"})
    searched, at = progress[-1]
    left = (40_040 - searched) / (searched / (at - began))  # seconds the search would still have run
    assert left > 2, f"the search was nearly done ({left:.1f} s left): its stop would not show"
    assert busy_while_searching == 1
    print(f"cancelled search: idle after {stopped_after * 1000:.0f} ms, slot free after {freed_after * 1000:.0f} ms")
    assert stopped_after < 1.0  # a search that ran on would keep the process busy for seconds
    # The base frees a slot after 1 s even if its thread runs on; sooner means the thread ended.
    assert freed_after < 1.0
    assert not after.is_error


async def _search_everything(client: Client, progress: list[tuple[float, float]]) -> None:
    async def record(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, time.perf_counter()))

    args = {"query": "absent", "case_sensitive": False, "path": "big"}  # every line of every file is matched
    await client.call_tool("search_file_contents", args, progress_callback=record)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchbay_filesystem", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_without_directories_it_refuses_to_start_and_says_how() -> None:
    result = run_cli(env={"PATCHBAY_FILESYSTEM_ROOTS": ""})
    assert result.returncode == 2
    assert "no directories given" in result.stderr
    assert "patchbay-filesystem DIR..." in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    result = run_cli(str(tmp_path / "nope"))
    assert result.returncode == 2
    assert f"{tmp_path}/nope is not an existing directory" in result.stderr


async def test_the_console_script_serves_directories_over_stdio(tree: Path, era: str) -> None:
    params = stdio_server([sys.executable, "-m", "patchbay_filesystem", str(tree)])
    async with Client(params, mode=era) as client:
        listed = await client.call_tool("list_allowed_directories", {})
        read = await client.call_tool("read_text_file", {"path": "README.md"})
    assert listed.structured_content is not None
    assert listed.structured_content["directories"][0]["path"] == str(tree)
    assert read.structured_content is not None
    assert read.structured_content["content"].startswith("# Project")


async def test_directories_can_come_from_the_environment(tree: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    params = stdio_server(
        [sys.executable, "-m", "patchbay_filesystem"], env={"PATCHBAY_FILESYSTEM_ROOTS": f"{tree}:{other}"}
    )
    async with Client(params) as client:
        listed = await client.call_tool("list_allowed_directories", {})
    assert listed.structured_content is not None
    assert [d["path"] for d in listed.structured_content["directories"]] == [str(tree), str(other)]


async def test_watchers_stop_when_the_server_shuts_down(tree: Path) -> None:
    server = connector.build(connector.load_settings({"roots": [str(tree)]}))
    before = inotify_instances()
    async with Client(server, mode="legacy") as client:
        await client.subscribe_resource(f"file://{tree}/README.md")
        await client.subscribe_resource(f"file://{tree}/docs")
        # One watcher each, once their threads have started.
        await wait_until(lambda: inotify_instances() == before + 2, 5)
    # The kernel's view: when the server stopped, each watcher closed its inotify instance.
    await wait_until(lambda: inotify_instances() == before, 2)
