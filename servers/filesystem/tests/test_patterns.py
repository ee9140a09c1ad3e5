"""Patterns are bounded in length (the error says the limit) and matched in linear time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from patchbay.testing import connect
from patchbay_filesystem.server import connector

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("tool", "args", "refusal"),
    [
        ("search_files", {"pattern": "*" * 1_000_000}, "Invalid argument 'pattern': must be at most 1000 characters"),
        (
            "search_files",
            {"pattern": "*", "exclude": ["a" * 1001]},
            "Invalid argument 'exclude.0': must be at most 1000",
        ),
        (
            "search_file_contents",
            {"query": "x", "include": ["*a" * 600]},
            "Invalid argument 'include.0': must be at most 1000",
        ),
        ("directory_tree", {"exclude": ["*"] * 101}, "Invalid argument 'exclude': must have at most 100 items"),
        ("search_file_contents", {"query": "x" * 10_001}, "Invalid argument 'query': must be at most 10000 characters"),
    ],
)
async def test_an_over_long_pattern_is_refused_at_once_saying_the_limit(
    tree: Path, tool: str, args: dict[str, Any], refusal: str
) -> None:
    async with connect(connector, {"roots": [str(tree)]}) as client:
        started = time.perf_counter()
        result = await client.call_tool(tool, args)
        assert time.perf_counter() - started < 2
    assert result.is_error and result.content[0].text.startswith(refusal), result.content[0].text


@pytest.mark.parametrize("pattern", ["*a" * 500, "**/" * 333, "[a" * 500, "a/" * 500])
async def test_patterns_at_the_limit_compile_and_match_in_linear_time(tree: Path, pattern: str) -> None:
    for depth in range(30):
        (tree / "deep" / ("a/" * depth)).mkdir(parents=True, exist_ok=True)
    async with connect(connector, {"roots": [str(tree)]}) as client:
        started = time.perf_counter()
        found = await client.call_tool("search_files", {"pattern": pattern, "exclude": [pattern]})
        tree_result = await client.call_tool("directory_tree", {"exclude": [pattern], "max_depth": 64})
        elapsed = time.perf_counter() - started
    assert not found.is_error and not tree_result.is_error, found.content[0].text
    assert elapsed < 2, elapsed
