"""The read tools, in both protocol eras."""

import base64
from pathlib import Path
from typing import Any

import anyio
import pytest

from patchbay.testing import connect
from patchbay_filesystem.server import connector

pytestmark = pytest.mark.anyio


async def call(tree: Path, era: str, tool: str, settings: dict[str, Any] | None = None, **args: Any) -> Any:
    async with connect(connector, {"roots": [str(tree)], **(settings or {})}, era=era) as client:
        return await client.call_tool(tool, args)


async def data(tree: Path, era: str, tool: str, **args: Any) -> Any:
    result = await call(tree, era, tool, **args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def error(tree: Path, era: str, tool: str, **args: Any) -> str:
    result = await call(tree, era, tool, **args)
    assert result.is_error
    return str(result.content[0].text)


async def test_read_text_file_whole_and_relative_to_the_first_root(tree: Path, era: str) -> None:
    read = await data(tree, era, "read_text_file", path="README.md")
    assert read == {
        "path": str(tree / "README.md"),
        "encoding": "utf-8",
        "content": "# Project\nIntro line\nTODO: write docs\n",
        "lines": 3,
        "truncated": False,
        "size": 38,
    }
    assert (await data(tree, era, "read_text_file", path=str(tree / "README.md")))["content"] == read["content"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"head": 2}, ["line 1", "line 2"]),
        ({"tail": 2}, ["line 99", "line 100"]),
        ({"offset": 10, "limit": 3}, ["line 11", "line 12", "line 13"]),
        ({"offset": 98}, ["line 99", "line 100"]),
    ],
)
async def test_read_text_file_parts(tree: Path, era: str, args: dict[str, int], expected: list[str]) -> None:
    read = await data(tree, era, "read_text_file", path="docs/guide.txt", **args)
    assert read["content"].splitlines() == expected
    assert read["lines"] == len(expected)


async def test_byte_cap_truncates_and_says_so(tree: Path, era: str) -> None:
    read = await data(tree, era, "read_text_file", path="docs/guide.txt", max_bytes=20)
    assert read["truncated"] is True
    assert read["content"] == "line 1\nline 2\nline 3"
    tail = await data(tree, era, "read_text_file", path="docs/guide.txt", tail=2, max_bytes=20)
    assert tail["content"].splitlines() == ["line 99", "line 100"]


async def test_encoding_is_detected_or_taken_as_given(tree: Path, era: str) -> None:
    # Detection on a short sample is a guess (it names the encoding it used), so the
    # model can always re-read with the right one.
    detected = await data(tree, era, "read_text_file", path="docs/latin1.txt")
    assert detected["encoding"] != "utf-8"
    assert detected["content"].startswith("caf")
    given = await data(tree, era, "read_text_file", path="docs/latin1.txt", encoding="latin-1")
    assert given["content"].startswith("café crème brûlée")
    assert given["encoding"] == "latin-1"
    assert "Unknown encoding" in await error(tree, era, "read_text_file", path="README.md", encoding="klingon")


async def test_binary_files_and_directories_are_refused_clearly(tree: Path, era: str) -> None:
    assert "is a binary file; use read_media_file" in await error(tree, era, "read_text_file", path="blob.bin")
    assert "is a directory; use list_directory" in await error(tree, era, "read_text_file", path="src")
    assert "cannot be combined with head" in await error(tree, era, "read_text_file", path="README.md", head=1, tail=1)
    assert "No such file or directory: 'nope.txt'" in await error(tree, era, "read_text_file", path="nope.txt")


async def test_a_link_inside_the_scope_is_followed(tree: Path, era: str) -> None:
    read = await data(tree, era, "read_text_file", path="main-link.py")
    assert read["path"] == str(tree / "src" / "main.py")


async def test_read_media_file_gives_image_audio_or_blob_content(tree: Path, era: str) -> None:
    (tree / "beep.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    image = await call(tree, era, "read_media_file", path="pixel.png")
    assert image.content[0].type == "image"
    assert image.content[0].mime_type == "image/png"
    assert base64.b64decode(image.content[0].data) == (tree / "pixel.png").read_bytes()
    audio = await call(tree, era, "read_media_file", path="beep.wav")
    assert (audio.content[0].type, audio.content[0].mime_type) == ("audio", "audio/wav")  # sniffed from the bytes
    blob = await call(tree, era, "read_media_file", path="blob.bin")
    assert blob.content[0].type == "resource"
    assert blob.content[0].resource.uri == f"file://{tree}/blob.bin"
    capped = await call(tree, era, "read_media_file", {"max_media_bytes": 10}, path="pixel.png")
    assert capped.is_error
    assert "over the 10-byte cap" in capped.content[0].text


async def test_read_multiple_files_reports_each_file(tree: Path, era: str) -> None:
    read = await data(tree, era, "read_multiple_files", paths=["README.md", "missing.txt", "blob.bin", "/etc/hostname"])
    files = read["files"]
    assert files[0]["content"].startswith("# Project")
    assert "No such file" in files[1]["error"]
    assert "binary file" in files[2]["error"]
    assert "Access denied" in files[3]["error"]
    assert files[3]["content"] is None


async def test_list_directory_with_types_sizes_sorting_and_pages(tree: Path, era: str) -> None:
    listing = await data(tree, era, "list_directory", path=".")
    by_name = {entry["name"]: entry for entry in listing["items"]}
    assert [e["name"] for e in listing["items"]] == sorted(by_name)
    assert by_name["src"]["type"] == "directory"
    assert by_name["main-link.py"]["type"] == "symlink"
    assert by_name["README.md"]["size"] == 38
    by_size = await data(tree, era, "list_directory", path=".", sort="size", reverse=True)
    expected = sorted(by_name, key=lambda name: (by_name[name]["size"], name), reverse=True)
    assert expected != sorted(by_name, reverse=True)  # so sorting by name could not pass for sorting by size
    assert [e["name"] for e in by_size["items"]] == expected
    names = []
    cursor = None
    async with connect(connector, {"roots": [str(tree)]}, era=era) as client:
        while True:
            page = await client.call_tool("list_directory", {"limit": 3} | ({"cursor": cursor} if cursor else {}))
            assert page.structured_content is not None
            names += [e["name"] for e in page.structured_content["items"]]
            cursor = page.structured_content["next_cursor"]
            if cursor is None:
                break
        first = await client.call_tool("list_directory", {"path": ".", "limit": 3})
        assert first.structured_content is not None
        issued = first.structured_content["next_cursor"]  # a real cursor, for path "."
        forged = await client.call_tool("list_directory", {"cursor": "3"})
        other = await client.call_tool("list_directory", {"path": "src", "cursor": issued})
    assert names == sorted(by_name)
    assert forged.is_error
    assert "Invalid argument 'cursor'" in forged.content[0].text
    assert other.is_error
    assert "this cursor belongs to a different query" in other.content[0].text


async def test_directory_tree_depth_entries_exclusions_and_links(tree: Path, era: str) -> None:
    full = await data(tree, era, "directory_tree", max_depth=5)
    assert full["tree"].splitlines() == [
        "README.md",
        "blob.bin",
        "docs/",
        "  guide.txt",
        "  latin1.txt",
        "main-link.py@",
        "node_modules/",
        "  dep/",
        "    index.js",
        "pixel.png",
        "src/",
        "  main.py",
        "  pkg/",
        "    util.py",
    ]
    assert (full["path"], full["entries"], full["truncated"]) == (str(tree), 14, False)
    shallow = await data(tree, era, "directory_tree", max_depth=1)
    assert all(not line.startswith(" ") for line in shallow["tree"].splitlines())
    excluded = await data(tree, era, "directory_tree", exclude=["node_modules/", "*.png"])
    assert "node_modules/" not in excluded["tree"]
    assert "pixel.png" not in excluded["tree"]
    assert "  guide.txt" in excluded["tree"]
    capped = await data(tree, era, "directory_tree", max_entries=3)
    assert (capped["entries"], capped["truncated"]) == (3, True)


async def test_search_files_by_glob_with_exclusions_and_pages(tree: Path, era: str) -> None:
    found = await data(tree, era, "search_files", pattern="*.py")
    assert sorted(m["path"] for m in found["items"]) == sorted(
        [str(tree / "main-link.py"), str(tree / "src/main.py"), str(tree / "src/pkg/util.py")]
    )
    anchored = await data(tree, era, "search_files", pattern="src/**/*.py", exclude=["pkg/"])
    assert [m["path"] for m in anchored["items"]] == [str(tree / "src/main.py")]
    async with connect(connector, {"roots": [str(tree)]}, era=era) as client:
        first = (await client.call_tool("search_files", {"pattern": "*.py", "max_results": 2})).structured_content
        assert first is not None
        second = (
            await client.call_tool(
                "search_files", {"pattern": "*.py", "max_results": 2, "cursor": first["next_cursor"]}
            )
        ).structured_content
    assert second is not None
    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None


async def test_search_file_contents_like_grep(tree: Path, era: str) -> None:
    plain = await data(tree, era, "search_file_contents", query="TODO")
    paths = {m["path"] for m in plain["matches"]}
    assert paths == {str(tree / "README.md"), str(tree / "src/main.py"), str(tree / "node_modules/dep/index.js")}
    assert plain["files_skipped"] >= 2  # the binary and the image
    assert str(tree / "blob.bin") not in paths
    folded = await data(
        tree, era, "search_file_contents", query="todo", case_sensitive=False, exclude=["node_modules/"]
    )
    assert {m["path"] for m in folded["matches"]} == {
        str(tree / "README.md"),
        str(tree / "src/main.py"),
        str(tree / "src/pkg/util.py"),
    }
    context = await data(
        tree,
        era,
        "search_file_contents",
        query=r"line 5\d",
        regex=True,
        include=["*.txt"],
        context_lines=1,
        max_matches_per_file=2,
    )
    assert [(m["line"], m["text"], m["before"], m["after"]) for m in context["matches"]] == [
        (50, "line 50", ["line 49"], ["line 51"]),
        (51, "line 51", ["line 50"], ["line 52"]),
    ]
    capped = await data(tree, era, "search_file_contents", query="line", max_matches=5)
    assert (len(capped["matches"]), capped["truncated"]) == (5, True)
    assert "not a valid regular expression" in await error(tree, era, "search_file_contents", query="(", regex=True)


@pytest.mark.parametrize(
    ("query", "feature"),
    [
        (r"(\w+) \1", "backreferences (\\1, (?P=name))"),
        (r"TODO(?=:)", "lookahead and lookbehind ((?=...), (?!...), (?<=...), (?<!...))"),
        (r"(?<!# )TODO", "lookahead and lookbehind ((?=...), (?!...), (?<=...), (?<!...))"),
    ],
)
async def test_search_file_contents_refuses_what_linear_matching_cannot_do(
    tree: Path, era: str, query: str, feature: str
) -> None:
    message = await error(tree, era, "search_file_contents", query=query, regex=True)
    assert message.startswith(
        f"Invalid argument 'query': uses {feature}, which this server's regular-expression engine (RE2) "
        "does not support: it matches in time linear in the text, so no query can stall the server ("
    ), message


async def test_search_file_contents_speaks_re2_syntax(tree: Path, era: str) -> None:
    # Python-only syntax RE2 lacks would be refused; RE2's own (\z, \pL, (?i)) works.
    found = await data(tree, era, "search_file_contents", query=r"(?i)^todo:\s\pL+ docs\z", regex=True)
    assert [(m["path"], m["line"]) for m in found["matches"]] == [(str(tree / "README.md"), 3)]
    folded = await data(tree, era, "search_file_contents", query="intro LINE", case_sensitive=False)
    assert [m["text"] for m in folded["matches"]] == ["Intro line"]
    literal = await data(tree, era, "search_file_contents", query="def main():")  # not a pattern: '(' is text
    assert [m["line"] for m in literal["matches"]] == [4]


async def test_get_file_info_describes_without_following(tree: Path, era: str) -> None:
    info = await data(tree, era, "get_file_info", path="main-link.py")
    assert (info["type"], info["link_target"]) == ("symlink", str(tree / "src/main.py"))
    readme = await data(tree, era, "get_file_info", path="README.md")
    assert (readme["type"], readme["size"], readme["link_target"]) == ("file", 38, None)
    assert readme["permissions"].startswith("0o")


async def test_list_allowed_directories_shows_each_and_its_source(tree: Path, tmp_path: Path, era: str) -> None:
    other = tmp_path / "other"
    other.mkdir()
    listed = await data(tree, era, "list_allowed_directories", settings={"roots": [str(tree), str(other)]})
    assert listed == {
        "directories": [
            {"path": str(tree), "source": "operator directory"},
            {"path": str(other), "source": "operator directory"},
        ],
        "narrowed_by_client_roots": False,
        "empty_because": None,
    }


async def test_a_named_pipe_is_refused_without_stalling_the_server(tree: Path, era: str) -> None:
    import os

    os.mkfifo(tree / "pipe")
    async with connect(connector, {"roots": [str(tree)]}, era=era) as client:
        with anyio.fail_after(5):
            refused = await client.call_tool("read_text_file", {"path": "pipe"})
            found = await client.call_tool("search_file_contents", {"query": "TODO"})
    assert refused.is_error
    assert "is not a regular file" in refused.content[0].text
    assert not found.is_error
