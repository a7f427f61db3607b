"""The performance targets: each compares the kit with the reference (or with itself in
other conditions) into one number, and says whether it is met, missed or skipped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.plans import Plan
from bench.rows import Row, cpu_us, ratio
from bench.scenarios import BAD_FIELDS


@dataclass(frozen=True)
class Target:
    name: str
    measured: float | None  # None: not measured (see `note`)
    threshold: float
    at_least: bool  # met when measured >= threshold (else <=)
    unit: str = "x"
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return "skipped"
        met = self.measured >= self.threshold if self.at_least else self.measured <= self.threshold
        return "met" if met else "missed"

    def line(self) -> str:
        sign = ">=" if self.at_least else "<="
        value = f"{self.measured:.2f}{self.unit}" if self.measured is not None else "-"
        note = f" ({self.note})" if self.note else ""
        target = f"target {sign} {self.threshold:g}{self.unit}"
        return f"{self.verdict.upper():<8} {self.name}: {value} ({target}){note}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": round(self.measured, 3) if self.measured is not None else None,
            "threshold": self.threshold,
            "at_least": self.at_least,
            "verdict": self.verdict,
            "note": self.note,
        }


def route_target(row: Row, name: str, threshold: float) -> Target:
    """The kit's requests/s over the reference's on one route; the note gives the same
    ratio by server CPU per request, or why the two do not compare."""
    failed = row.failures()
    cpu_ratio = row.cpu_ratio()
    note = row.note or (
        f"failed requests kit {failed[0]} / reference {failed[1]} (see the logs): "
        "their RPS do not compare"
        if any(failed)
        else f"by server CPU per request {cpu_ratio:.2f}x"
        if cpu_ratio
        else ""
    )
    return Target(
        name, ratio(row.kit_rps(), row.reference_rps()), threshold, at_least=True, note=note
    )


def targets(
    plan: Plan, rows: Mapping[str, Row], resources: Mapping[str, Mapping[str, float]]
) -> list[Target]:
    """Every target, from the rows and resources a run of `plan` measured."""
    result = [route_target(rows["health"], "/health/live vs bare hello", 0.8)]
    result += [
        route_target(rows[key], label, 0.9)
        for key, label in (
            ("profile", "/profile vs reference"),
            ("post", "post by id vs reference"),
            ("posts_page", "page of 20 posts vs reference"),
        )
    ]
    result += cached_read_targets(plan, rows["movie_warm"], rows["movie_cold"])
    idle, busy = rows["profile_idle"], rows["profile_logins"]
    result.append(
        Target(
            "/profile p99 while logging in vs idle",
            ratio(busy.kit_p99(), idle.kit_p99()),
            2,
            at_least=False,
            note=f"{busy.kit_p99():.1f} ms vs {idle.kit_p99():.1f} ms",
        )
    )
    result += big_list_targets(plan, rows)
    page1, deep = rows["posts_page1_deep"], rows["posts_cursor_deep"]
    result.append(
        Target(
            f"cursor page {plan.deep_page:,} of {plan.deep_posts:,} posts vs page 1 (cost)",
            ratio(page1.kit_rps(), deep.kit_rps()),
            3,
            at_least=False,
            note=deep.note,
        )
    )
    one, many = (cpu_us(rows[key].kit) or 0.0 for key in ("one_bad_field", "bad_fields"))
    result.append(
        Target(
            f"server CPU of a 422 for {BAD_FIELDS:,} bad fields vs one",
            ratio(many, one),
            3,
            at_least=False,
            note=f"{many:,.0f} vs {one:,.0f} µs per request" if one and many else "",
        )
    )
    if resources:
        result += resource_targets(resources)
    return result


def big_list_targets(plan: Plan, rows: Mapping[str, Row]) -> list[Target]:
    """Page 1 of the big list against page 1 of the small one (requests/s, inverted: the
    cost), unfiltered and filtered by author: a first page must not count the table."""
    result = []
    for label, small, big in (
        ("", "posts_page", "posts_page1_deep"),
        (" by author", "posts_author_page1", "posts_author_page1_deep"),
    ):
        result.append(
            Target(
                f"page 1{label} of {plan.deep_posts:,} posts vs of {plan.posts:,} (cost)",
                ratio(rows[small].kit_rps(), rows[big].kit_rps()),
                1.5,
                at_least=False,
            )
        )
    return result


def cached_read_targets(plan: Plan, warm: Row, cold: Row) -> list[Target]:
    """The warm cached read against the kit's cold read and the uncached reference, and
    its failures under load."""
    stalled = bool(cold.kit) and not cold.kit_rps()
    cached_seconds = sum(result.seconds for result in warm.kit)
    completed = sum(result.requests for result in warm.kit)
    return [
        Target(
            "warm cached movie vs kit cold read",
            ratio(warm.kit_rps(), cold.kit_rps()),
            2,
            at_least=True,
            note="no cold read completed within its runs" if stalled else cold.note,
        ),
        Target(
            "warm cached movie vs uncached reference",
            ratio(warm.kit_rps(), warm.reference_rps()),
            1.5,
            at_least=True,
        ),
        Target(
            f"non-2xx of the warm cached read at {plan.cached_connections} clients",
            float(sum(result.failures for result in warm.kit)) if completed else None,
            0,
            at_least=False,
            unit="",
            note=f"{completed} requests completed in {cached_seconds:.0f} s of load "
            "(the full run loads it 3 x 20 s)",
        ),
    ]


def resource_targets(resources: Mapping[str, Mapping[str, float]]) -> list[Target]:
    """The kit's memory after load against the reference's, and its cold start."""
    rss, start = resources["rss_mib"], resources["cold_start_s"]
    return [
        Target(
            "RSS after load vs reference",
            rss["kit"] / rss["reference"],
            1.3,
            at_least=False,
            note=f"{rss['kit']:.0f} vs {rss['reference']:.0f} MiB",
        ),
        Target("kit cold start", start["kit"], 1.5, at_least=False, unit=" s"),
    ]
