"""The pure parts of the bench's report: a row's medians and kit-vs-reference ratios, the
targets' verdicts, the printed table and the results file."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from bench.load import LoadResult
from bench.plans import SMOKE
from bench.report import print_report, table
from bench.results_file import results, write_results
from bench.rows import Row
from bench.scenarios import BAD_FIELDS, bad_field_bodies
from bench.targets import Target, route_target, targets


def rounds(*rps: float, cpu_us: float | None = None, failures: int = 0) -> list[LoadResult]:
    """One-second rounds at these requests/s, each with a p50 of 2 ms and a p99 of rps/100."""
    return [
        LoadResult(int(value), 1.0, failures, 2.0, value / 100, server_cpu_us=cpu_us)
        for value in rps
    ]


def test_row_compares_the_medians_of_its_rounds() -> None:
    row = Row(
        "post",
        "post by id",
        kit=rounds(300, 100, 200, cpu_us=1500),
        reference=rounds(400, 500, 600, cpu_us=1000),
    )

    assert (row.kit_rps(), row.reference_rps(), row.kit_p99()) == (200, 500, 2)
    assert row.rps_ratio() == 0.4
    assert row.cpu_ratio() == 1000 / 1500


def test_row_ratio_is_zero_when_the_kit_completed_nothing_and_absent_without_a_side() -> None:
    stalled = Row("movie", "movie", kit=rounds(0), reference=rounds(500))
    kit_only = Row("logins", "logins", kit=rounds(8))

    assert stalled.rps_ratio() == 0
    assert stalled.cpu_ratio() is None
    assert kit_only.rps_ratio() is None
    assert kit_only.as_dict()["reference"] is None


def test_route_target_notes_the_cpu_ratio_or_the_failures_that_void_it() -> None:
    fair = Row("post", "", kit=rounds(450, cpu_us=1200), reference=rounds(500, cpu_us=1000))
    failing = Row("post", "", kit=rounds(450, failures=2), reference=rounds(500))

    met = route_target(fair, "post by id vs reference", 0.9)
    voided = route_target(failing, "post by id vs reference", 0.95)

    assert (met.verdict, met.note) == ("met", "by server CPU per request 0.83x")
    assert voided.verdict == "missed"
    assert voided.note.startswith("failed requests kit 2 / reference 0")


def test_target_line_gives_verdict_value_and_threshold() -> None:
    assert (
        Target("kit cold start", 1.12, 1.5, at_least=False, unit=" s").line()
        == "MET      kit cold start: 1.12 s (target <= 1.5 s)"
    )
    assert (
        Target("warm vs cold", None, 2, at_least=True, note="not run").line()
        == "SKIPPED  warm vs cold: - (target >= 2x) (not run)"
    )


def measured_rows() -> dict[str, Row]:
    """A row for every key `targets` reads: each route at 0.8 of the reference."""
    routes = ("health", "profile", "post", "posts_page")
    rows = {key: Row(key, key, kit=rounds(80), reference=rounds(100)) for key in routes}
    return rows | {
        "profile_idle": Row("profile_idle", "idle", kit=rounds(900)),
        "profile_logins": Row("profile_logins", "logins", kit=rounds(100)),
        "logins": Row("logins", "POST login", kit=rounds(8)),
        "posts_page1_deep": Row("posts_page1_deep", "page 1", kit=rounds(20)),
        "posts_author_page1": Row("posts_author_page1", "by author", kit=rounds(500)),
        "posts_author_page1_deep": Row("posts_author_page1_deep", "by author", kit=rounds(250)),
        "posts_cursor_deep": Row("posts_cursor_deep", "deep", kit=rounds(300)),
        "one_bad_field": Row("one_bad_field", "one", kit=rounds(700, cpu_us=800)),
        "bad_fields": Row("bad_fields", "many", kit=rounds(300, cpu_us=1600)),
        "movie_warm": Row("movie_warm", "warm [c=2]", kit=rounds(600), reference=rounds(400)),
        "movie_cold": Row("movie_cold", "cold", note="not run in a smoke run"),
    }


RESOURCES = {
    "rss_mib": {"kit": 130.0, "reference": 100.0},
    "cold_start_s": {"kit": 1.2, "reference": 0.6},
}


def test_targets_of_a_run_judge_every_scenario() -> None:
    verdicts = {target.name: target for target in targets(SMOKE, measured_rows(), RESOURCES)}

    assert verdicts["/health/live vs bare hello"].verdict == "met"  # 0.8 >= 0.8
    assert verdicts["/profile vs reference"].verdict == "missed"  # 0.8 < 0.9
    assert verdicts["warm cached movie vs kit cold read"].note == "not run in a smoke run"
    assert verdicts["warm cached movie vs kit cold read"].verdict == "skipped"
    assert verdicts["warm cached movie vs uncached reference"].measured == 1.5
    assert verdicts["/profile p99 while logging in vs idle"].measured == 1 / 9
    assert verdicts["cursor page 3 of 100 posts vs page 1 (cost)"].measured == 20 / 300
    unfiltered = verdicts[f"page 1 of 100 posts vs of {SMOKE.posts:,} (cost)"]
    assert (unfiltered.measured, unfiltered.verdict) == (80 / 20, "missed")
    by_author = verdicts[f"page 1 by author of 100 posts vs of {SMOKE.posts:,} (cost)"]
    assert (by_author.measured, by_author.verdict) == (2, "missed")
    bad_fields = verdicts[f"server CPU of a 422 for {BAD_FIELDS:,} bad fields vs one"]
    assert (bad_fields.measured, bad_fields.note) == (2, "1,600 vs 800 µs per request")
    assert verdicts["RSS after load vs reference"].verdict == "met"  # 1.3 <= 1.3
    assert verdicts["kit cold start"].measured == 1.2


def cells(lines: list[str], label: str) -> list[str]:
    """The cells after the route of the table line that starts with `label`."""
    line = next(line for line in lines if line.startswith(f"│ {label} "))
    return [cell.strip() for cell in line.split("│")[2:-1]]


def test_printed_report_shows_both_sides_ratios_resources_and_verdicts() -> None:
    rows = measured_rows()
    output = io.StringIO()

    print_report(
        Console(file=output, width=200),
        table(SMOKE, rows.values(), RESOURCES, use_wrk=False),
        targets(SMOKE, rows, RESOURCES),
        ["smoke run, 4 s in all"],
    )

    lines = output.getvalue().splitlines()
    assert "the Python client (wrk missing), median of 1 interleaved rounds of 0.05 s" in lines[0]
    assert cells(lines, "post") == [
        "80",
        "100",
        "0.80",
        "2.0 / 0.8",
        "2.0 / 1.0",
        "0 / 0",
        "- / -",
    ]
    assert cells(lines, "many") == [
        "300",
        "-",
        "-",
        "2.0 / 3.0",
        "-",
        "0 / -",
        "1,600 / -",
    ]
    assert any(line.startswith("│ warm [c=2] ") for line in lines)  # not read as markup
    assert any("cold (not run in a smoke run)" in line for line in lines)
    assert cells(lines, "RSS after the route")[:3] == ["130.00", "100.00", "1.30"]
    assert "MISSED   /profile vs reference: 0.80x (target >= 0.9x)" in lines
    assert lines[-1] == "smoke run, 4 s in all"


def test_results_file_holds_every_row_with_its_rounds(tmp_path: Path) -> None:
    rows = measured_rows()
    path = tmp_path / "results" / "latest.json"

    data = results(
        SMOKE,
        rows,
        use_wrk=True,
        resources=RESOURCES,
        targets=targets(SMOKE, rows, RESOURCES),
        notes=["a note"],
    )
    write_results(path, data)

    written = json.loads(path.read_text())
    assert written == data
    assert written["client"] == "wrk"
    assert written["plan"]["name"] == "smoke"
    assert list(written["rows"]) == list(rows)
    post = written["rows"]["post"]
    assert (post["ratio"], post["kit"]["rps"], post["reference"]["rounds"][0]["requests"]) == (
        0.8,
        80,
        100,
    )
    assert written["rows"]["movie_cold"]["kit"] is None
    assert {target["verdict"] for target in written["targets"]} == {"met", "missed", "skipped"}


def test_bad_field_body_holds_every_unknown_key_within_the_kits_body_limit() -> None:
    one, many = bad_field_bodies()

    assert set(json.loads(one)) == {"refresh_token", "unknown"}
    assert len(json.loads(many)) == BAD_FIELDS
    assert len(many.encode()) < 1024 * 1024
