"""`make bench`: the kit side by side with a bare reference, on PostgreSQL and Redis.

1. Recreates the bench's own database (`BENCH_DATABASE_URL`, its name must contain
   "bench"), lets the kit migrate it, fills it in bulk (users, posts with authors, movies)
   and empties the bench's own Redis db (`BENCH_REDIS_URL`, FLUSHDB of that db only).
2. Starts the kit (`python -m app serve`, production settings: JSON access log at INFO,
   production argon2, the rate limiter on with limits the load never reaches) and the
   bare reference (`bench/reference.py`: same FastAPI, SQLAlchemy and psycopg, same SQL,
   no middleware), each alone, timing its cold start to the first 200.
3. Logs in once for a token, warms every route up, then drives each route with wrk in
   interleaved rounds (kit, reference, kit, reference, ...) and keeps the median.
4. Runs the scenarios of the performance targets: a warm cached movie read against the kit's
   cold read and the uncached reference at 64 clients; `/profile` while 8 clients log in;
   a keyset page deep in a million posts against page 1; the server CPU of refusing a
   megabyte of 100,000 unknown keys against that of refusing one bad field.
5. Prints one table and each target with met / missed, and writes
   `bench/results/latest.json`.

The parts: `plans` (how long, on how much data), `harness` (the run's servers and data),
`scenarios` (the rows, and the order of a run), `measure` (one job on one server), `rows`
(a row's rounds summed up, kit vs reference), `targets` (the verdicts), `report` (the
table printed) and `results_file` (the JSON file).

`--quick` (`make bench QUICK=1`) runs the same with short runs and fewer rows, in under a
minute; `--smoke` is the test suite's few-second run, which proves the driver works and
measures nothing. Client and servers share the machine's cores: compare runs made on one
machine only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click
from rich.console import Console

from bench.data import BenchDatabase
from bench.harness import Bench
from bench.load import wrk_available
from bench.options import database_url_option, redis_url_option
from bench.plans import FULL, QUICK, SMOKE, Plan
from bench.report import print_report, table
from bench.results_file import results, write_results
from bench.scenarios import measure
from bench.servers import PROJECT_ROOT, scratch_directory
from bench.targets import targets

RESULTS_PATH = PROJECT_ROOT / "bench" / "results" / "latest.json"
REPORT_WIDTH = 130  # when the output is not a terminal (rich would assume 80 columns)


def run_bench(
    plan: Plan,
    *,
    database_url: str,
    redis_url: str,
    results_path: Path,
    client: str = "auto",
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the whole bench, print the table and the targets, write the results file."""
    if urlparse(redis_url).path.strip("/") in ("", "0"):
        raise ValueError("give the bench a Redis db of its own (not 0): it is flushed")
    console = console or Console(width=None if sys.stdout.isatty() else REPORT_WIDTH)
    use_wrk = client == "wrk" or (client == "auto" and wrk_available(install=True))
    with scratch_directory() as workdir:
        bench = Bench(plan, use_wrk, BenchDatabase(database_url), redis_url, workdir)
        try:
            measure(bench)
        finally:  # the servers' errors, even when the run failed
            results_path.parent.mkdir(parents=True, exist_ok=True)
            for server in bench.servers:
                server.keep_log(results_path.parent)
                if server.early_exit is not None:
                    bench.notes.append(
                        f"{server.name} exited with code {server.early_exit} during the run "
                        "(its log is kept): the rows after that are void"
                    )
    verdicts = targets(plan, bench.rows, bench.resources)
    print_report(
        console,
        table(plan, bench.rows.values(), bench.resources, use_wrk=use_wrk),
        verdicts,
        bench.notes,
    )
    data = results(
        plan,
        bench.rows,
        use_wrk=use_wrk,
        resources=bench.resources,
        targets=verdicts,
        notes=bench.notes,
    )
    write_results(results_path, data)
    console.print(f"results and the servers' logs: {results_path.parent}", highlight=False)
    return data


@click.command()
@click.option("--quick", is_flag=True, help="Short runs, fewer rows (under a minute)")
@click.option("--smoke", is_flag=True, help="A few seconds; proves the driver works")
@click.option(
    "--client",
    default="auto",
    show_default=True,
    help="auto (wrk, installed when missing), wrk, python",
)
@database_url_option
@redis_url_option
@click.option(
    "--results",
    default=RESULTS_PATH,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the JSON results",
)
def main(  # noqa: PLR0917 - the command line's options
    quick: bool, smoke: bool, client: str, database_url: str, redis_url: str, results: Path
) -> None:
    """Benchmark the kit against the bare reference and print the table."""
    plan = SMOKE if smoke else QUICK if quick else FULL
    run_bench(
        plan, database_url=database_url, redis_url=redis_url, results_path=results, client=client
    )


if __name__ == "__main__":
    main()
