"""The pure parts of the bench's instruments: reading wrk's summary and py-spy's stacks."""

from __future__ import annotations

from bench.load import Job, parse_wrk_output, wrk_script
from bench.profile import summary

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:8000
  1 threads and 32 connections
Requests/sec:   2660.93
BENCH_RESULT {"requests": 2677, "duration_us": 1006000, "failures": 3, \
"p50_us": 11500, "p99_us": 40250}
"""


def test_wrk_summary_line_gives_throughput_failures_and_percentiles() -> None:
    result = parse_wrk_output(WRK_OUTPUT)

    assert result.requests == 2677
    assert result.failures == 3
    assert round(result.rps) == 2661
    assert (result.p50_ms, result.p99_ms) == (11.5, 40.25)


def test_wrk_script_sends_the_jobs_method_headers_and_body() -> None:
    job = Job(
        "http://127.0.0.1:1",
        ["/a", "/b"],
        connections=1,
        seconds=1,
        method="POST",
        headers={"Authorization": "Bearer x"},
        body="k=v",
    )

    script = wrk_script(job)

    assert "{ [==[/a]==], [==[/b]==] }" in script
    assert (
        "wrk.format([==[POST]==], path, "
        "{ [ [==[Authorization]==] ] = [==[Bearer x]==] }, [==[k=v]==])" in script
    )


RAW_PROFILE = (
    "main (app/cli.py);Runner.run (asyncio/runners.py) 10\n"
    "main (app/cli.py);RequestResponseCycle.run_asgi (uvicorn/protocols/http/httptools_impl.py);"
    "get_current_user (app/auth/deps.py);execute (sqlalchemy/orm/session.py) 30\n"
    "main (app/cli.py);RequestResponseCycle.run_asgi (uvicorn/protocols/http/httptools_impl.py);"
    "get_current_user (app/auth/deps.py) 60\n"
)


def test_profile_summary_counts_own_time_everywhere_and_inclusive_time_in_requests() -> None:
    text = summary(RAW_PROFILE, top=3)

    assert "100 samples,  90.0% inside a request's task" in text
    assert "sqlalchemy            30.0%  30.0%" in text
    assert "app (the kit)         60.0%  90.0%" in text
    assert " 60.0%  get_current_user (auth/deps.py)" in text
    assert " 10.0%  Runner.run (asyncio/runners.py)" in text
