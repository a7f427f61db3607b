"""`make bench` cannot rot: its driver runs end to end here, in smoke mode (runs of a
fraction of a second on a handful of rows, the Python client instead of wrk).

Nothing here asserts a speed: `make bench` measures, tests only check that it can.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from app.core.config import Settings
from bench.plans import SMOKE
from bench.run import run_bench

COMPARED_ROWS = {"health", "profile", "post", "posts_page", "movie_warm"}
KIT_ONLY_ROWS = {"profile_idle", "profile_logins", "logins"}
# Needs a second kit server; a smoke run saves its start.
NOT_IN_SMOKE_ROWS = {"movie_cold"}
KEYSET_ROWS = {"posts_page1_deep", "posts_cursor_deep"}
FIRST_PAGE_ROWS = {"posts_author_page1", "posts_author_page1_deep"}
# Every request of these is refused (a 422): their CPU per request is what they measure.
REFUSED_ROWS = {"one_bad_field", "bad_fields"}


@pytest.mark.runs_long
def test_bench_measures_every_row_and_writes_the_results(
    settings: Settings, tmp_path: Path
) -> None:
    output = io.StringIO()
    results_path = tmp_path / "latest.json"

    results = run_bench(
        SMOKE,
        database_url=f"{settings.database_url}_bench",
        redis_url=settings.redis_url,
        results_path=results_path,
        client="python",
        console=Console(file=output, width=200),
    )

    assert json.loads(results_path.read_text()) == results
    rows = results["rows"]
    every_row = COMPARED_ROWS | KIT_ONLY_ROWS | NOT_IN_SMOKE_ROWS | KEYSET_ROWS | REFUSED_ROWS
    assert set(rows) == every_row | FIRST_PAGE_ROWS
    for key in COMPARED_ROWS | KIT_ONLY_ROWS | FIRST_PAGE_ROWS:
        assert rows[key]["kit"]["rounds"][0]["requests"] > 0, key
        assert rows[key]["kit"]["failures"] == 0, key
    for key in COMPARED_ROWS:
        assert rows[key]["reference"]["rounds"][0]["requests"] > 0, key
        assert rows[key]["reference"]["failures"] == 0, key
        assert rows[key]["ratio"] > 0, key
    for key in REFUSED_ROWS:
        requests = rows[key]["kit"]["rounds"][0]["requests"]
        assert rows[key]["kit"]["failures"] == requests > 0, key
    assert rows["movie_cold"]["note"] == "not run in a smoke run"
    # Keyset rows are measured once the kit pages by cursor, and say why when not.
    deep = rows["posts_cursor_deep"]
    assert deep["kit"] is not None or deep["note"].startswith("skipped")
    assert set(results["resources"]) == {"rss_mib", "cold_start_s"}
    assert {target["verdict"] for target in results["targets"]} <= {"met", "missed", "skipped"}
    assert "/api/v1/profile" in output.getvalue()
