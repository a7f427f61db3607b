"""What a run prints: one table of the rows side by side (kit, reference, ratio), the
resources of both servers, then each target with its verdict, and the run's notes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.plans import Plan
from bench.rows import Row
from bench.targets import Target

COLUMNS = (
    "route",
    "kit RPS",
    "ref RPS",
    "kit/ref",
    "kit p50/p99 ms",
    "ref p50/p99 ms",
    "non-2xx kit/ref",
    "CPU µs/req kit/ref",
)
RESOURCES = (
    ("rss_mib", "RSS after the route table's load", "MiB"),
    ("cold_start_s", "cold start to first 200", "s"),
)


def latencies(side: Mapping[str, Any] | None) -> str:
    """p50 / p99 of one side of a row; "-" when no request completed."""
    if not side or not side["rps"]:
        return "-"
    return f"{side['p50_ms']:.1f} / {side['p99_ms']:.1f}"


def cpu_per_request(kit: Mapping[str, Any] | None, ref: Mapping[str, Any] | None) -> str:
    """The server CPU microseconds per request of both sides of a row ("-": not measured)."""
    values = [side["server_cpu_us"] if side else None for side in (kit, ref)]
    return " / ".join(f"{value:,.0f}" if value else "-" for value in values)


def row_cells(row: Row) -> list[str]:
    """A row's cells, from the numbers its results file holds."""
    data = row.as_dict()
    kit, ref = data["kit"], data["reference"]
    return [
        escape(row.label + (f" ({row.note})" if row.note else "")),
        f"{kit['rps']:,.0f}" if kit else "-",
        f"{ref['rps']:,.0f}" if ref else "-",
        f"{data['ratio']:.2f}" if data["ratio"] is not None else "-",
        latencies(kit),
        latencies(ref),
        f"{kit['failures'] if kit else '-'} / {ref['failures'] if ref else '-'}",
        cpu_per_request(kit, ref),
    ]


def table(
    plan: Plan,
    rows: Iterable[Row],
    resources: Mapping[str, Mapping[str, float]],
    *,
    use_wrk: bool,
) -> Table:
    client = "wrk -t1" if use_wrk else "the Python client (wrk missing)"
    result = Table(
        title=f"kit vs bare reference: {client}, median of {plan.rounds} interleaved "
        f"rounds of {plan.seconds:g} s, {plan.connections} connections unless said"
    )
    for column in COLUMNS:
        result.add_column(column, justify="left" if column == "route" else "right")
    for row in rows:
        result.add_row(*row_cells(row))
    for key, label, unit in RESOURCES:
        if key in resources:
            kit, ref = resources[key]["kit"], resources[key]["reference"]
            blank = [""] * (len(COLUMNS) - 4)
            result.add_row(
                f"{label} ({unit})", f"{kit:.2f}", f"{ref:.2f}", f"{kit / ref:.2f}", *blank
            )
    return result


def print_report(
    console: Console, rendered: Table, targets: Sequence[Target], notes: Sequence[str]
) -> None:
    """The table, each target's line and the notes, as a run prints them."""
    console.print(rendered)
    for target in targets:
        console.print(target.line(), highlight=False, markup=False)
    for note in notes:
        console.print(note, highlight=False, markup=False)
