"""Issue 17's table from one `make bench` run: ours, the bare floor and the reference side by side.

Reads the headline figures the other scripts appended to the results file
(PATCHBAY_BENCH_RESULTS, JSON lines, see `common.record`) and prints each row with its goal
and PASS or MISS; a row no script measured says so. Always exits 0.

    uv run --frozen python bench/summary.py RESULTS_FILE
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import print_header

Figures = dict[str, Any]


@dataclass
class Row:
    measurement: str
    ours: str
    bare: str
    reference: str
    goal: str
    verdict: str


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:,.0f} us"


def mib(n: float | None) -> str:
    return "-" if n is None else f"{n / (1 << 20):,.0f} MiB"


def verdict(value: float | None, limit: float, fmt: Callable[[float], str] = lambda v: f"{v:.2f}x") -> str:
    if value is None:
        return "NOT MEASURED"
    return f"{fmt(value)} {'PASS' if value <= limit else 'MISS'}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def versus_bare(label: str, f: Figures | None, limit: float, show: Callable[[float | None], str] = ms) -> Row:
    if f is None:
        return Row(label, "-", "-", "-", f"<= {limit}x bare", "NOT MEASURED")
    return Row(
        label,
        show(f.get("ours")),
        show(f.get("bare")),
        show(f.get("reference")),
        f"<= {limit}x bare",
        verdict(ratio(f.get("ours"), f.get("bare")), limit),
    )


def rows(figures: dict[str, Figures]) -> list[Row]:
    table = [
        versus_bare("filesystem list_directory (10), stdio", figures.get("filesystem list_directory"), 1.2),
        versus_bare("postgres select 1, stdio", figures.get("postgres select 1"), 1.3),
        versus_bare("postgres primary-key lookup, stdio", figures.get("postgres primary-key lookup"), 1.3),
    ]
    reference = (figures.get("start-up, reference") or {}).get("ours")
    for key in sorted(k for k in figures if k.startswith("start-up, ") and k != "start-up, reference"):
        f = dict(figures[key])
        if key != "start-up, base echo":
            f["reference"] = reference
        table.append(versus_bare(f"{key}, spawn to tools/list", f, 1.15))
    if not any(k.startswith("start-up, ") and k != "start-up, base echo" for k in figures):
        table.append(versus_bare("start-up of each connector", None, 1.15))
    per_call = sorted(k for k in figures if k.startswith("base per call, "))
    for key in per_call or ["base per call"]:
        table.append(versus_bare(key, figures.get(key), 1.10, us))
    paged = figures.get("postgres 1M rows through pages, raw pipe")
    if paged is None:
        table.append(Row("postgres 1M rows through pages, raw pipe", "-", "", "-", "<= reference", "NOT MEASURED"))
    else:
        ours, ref = paged.get("ours"), paged.get("reference")
        table.append(
            Row(
                "postgres 1M rows through pages, raw pipe",
                ms(ours),
                "",
                ms(ref),
                "<= reference's time",
                verdict(ratio(ours, ref), 1.0, lambda v: f"{v:.2f}x ref"),
            )
        )
        flat = ratio(paged.get("peak_1m"), paged.get("peak_10k"))
        table.append(
            Row(
                "  its peak memory, 1M vs 10k rows",
                f"{mib(paged.get('peak_1m'))} / {mib(paged.get('peak_10k'))}",
                "",
                mib(paged.get("reference_peak")),
                "<= 1.25x of 10k",
                verdict(flat, 1.25),
            )
        )
    check = figures.get("postgres 10k-row page, schema check")
    seconds = None if check is None else check.get("ours")
    table.append(
        Row(
            "postgres 10k-row page: client schema check",
            ms(seconds),
            "",
            "",
            "< 20 ms a page",
            verdict(None if seconds is None else seconds * 1e3, 20, lambda v: f"{v:.1f} ms"),
        )
    )
    if check is not None and check.get("page") is not None:
        table.append(Row("  the whole page through mcp.Client", ms(check["page"]), "", "", "", ""))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the PATCHBAY_BENCH_RESULTS file the scripts wrote")
    args = parser.parse_args()
    figures: dict[str, Figures] = {}
    if args.results.exists():
        for line in args.results.read_text().splitlines():
            entry = json.loads(line)
            figures[entry.pop("row")] = entry  # a later run of the same row wins
    print()
    print("Issue 17 in one run: medians; 'bare' is bench/bare_echo.py (an echo tool on a bare MCPServer)")
    print("measured in the same script; the reference is the Node server of the same kind.")
    widths = (46, 22, 12, 12, 22)
    names = ("measurement", "ours", "bare", "reference", "goal")
    header = "".join(f"{name:<{w}}" for name, w in zip(names, widths, strict=True))
    print_header(header + "verdict")
    for row in rows(figures):
        cells = (row.measurement, row.ours, row.bare, row.reference, row.goal)
        print("".join(f"{cell:<{w}}" for cell, w in zip(cells, widths, strict=True)) + row.verdict)


if __name__ == "__main__":
    main()
