"""Load generators: wrk (Debian's package) and a small Python client as a fallback.

A `Job` keeps a fixed number of connections busy against one server for a fixed time,
each request picked at random from the job's list (one path, or one per movie id).
Several jobs given to `run_together` run at the same time (a route measured while logins
go on). wrk is the real instrument: one thread in C, a few microseconds per request. The
Python client (httpx) costs far more CPU per request, which it takes from the server on a
shared machine: it only keeps the bench working where wrk cannot be installed, and
drives the smoke test.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

WRK_TIMEOUT = "10s"  # a request slower than this counts as failed
RESULT_MARK = "BENCH_RESULT "


@dataclass(frozen=True)
class Job:
    base_url: str
    paths: Sequence[str]
    connections: int
    seconds: float
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    failures: int  # non-2xx responses, timeouts and socket errors
    p50_ms: float
    p99_ms: float
    # The server's CPU time over the run, per request: unlike RPS, it hardly moves when
    # other processes share the cores (None: not measured).
    server_cpu_us: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float | None]:
        return {
            "rps": round(self.rps, 1),
            "requests": self.requests,
            "failures": self.failures,
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "server_cpu_us": round(self.server_cpu_us, 1) if self.server_cpu_us else None,
        }


def wrk_available(install: bool) -> bool:
    """Whether wrk is on the PATH; with `install`, try apt-get first when it is not."""
    if shutil.which("wrk"):
        return True
    if not (install and shutil.which("apt-get")):
        return False
    install_wrk = ["apt-get", "install", "-y", "-q", "wrk"]
    for command in (install_wrk, ["apt-get", "update", "-q"], install_wrk):
        subprocess.run(command, capture_output=True, timeout=300, check=False)  # noqa: S603
        if shutil.which("wrk"):
            return True
    return False


def _lua_string(text: str) -> str:
    return f"[==[{text}]==]"


def wrk_script(job: Job) -> str:
    """The Lua script of a job: its requests built once, one picked at random each time,
    and a JSON summary line written at the end."""
    headers = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in job.headers.items())
    body = _lua_string(job.body) if job.body is not None else "nil"
    return f"""
local requests = {{}}
local paths = {{ {", ".join(_lua_string(path) for path in job.paths)} }}
init = function(args)
  for i, path in ipairs(paths) do
    requests[i] = wrk.format({_lua_string(job.method)}, path, {{ {headers} }}, {body})
  end
end
request = function()
  return requests[math.random(#requests)]
end
done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{RESULT_MARK}{{"requests": %d, "duration_us": %d, "failures": %d, '
    .. '"p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def parse_wrk_output(output: str) -> LoadResult:
    for line in output.splitlines():
        if line.startswith(RESULT_MARK):
            data = json.loads(line.removeprefix(RESULT_MARK))
            return LoadResult(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                failures=data["failures"],
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
            )
    raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")


def _run_wrk(jobs: Sequence[Job]) -> list[LoadResult]:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as scratch:
        processes = []
        for index, job in enumerate(jobs):
            script = Path(scratch) / f"job{index}.lua"
            script.write_text(wrk_script(job))
            seconds = max(1, math.ceil(job.seconds))  # wrk takes whole seconds
            command = [
                "wrk",
                "-t1",
                f"-c{job.connections}",
                f"-d{seconds}s",
                "--timeout",
                WRK_TIMEOUT,
                "-s",
                str(script),
                job.base_url,
            ]
            processes.append(
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
            )
        outputs = [
            process.communicate(timeout=job.seconds + 60)[0]
            for process, job in zip(processes, jobs, strict=True)
        ]
    return [parse_wrk_output(output.decode(errors="replace")) for output in outputs]


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The sample at `fraction` of the sorted samples (0: none)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _python_job(job: Job) -> LoadResult:
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=job.connections)
    async with httpx.AsyncClient(
        base_url=job.base_url, limits=limits, timeout=10.0, trust_env=False
    ) as client:
        started = time.perf_counter()
        deadline = started + job.seconds

        async def connection() -> None:
            nonlocal failures
            sent = time.perf_counter()
            while sent < deadline or not latencies:  # at least one request in every job
                try:
                    response = await client.request(
                        job.method,
                        random.choice(job.paths),  # noqa: S311 - load spreading, not security
                        headers=dict(job.headers),
                        content=job.body,
                    )
                    ok = response.is_success
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - sent)
                failures += not ok
                sent = time.perf_counter()

        await asyncio.gather(*(connection() for _ in range(job.connections)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        failures=failures,
        p50_ms=statistics.median(ordered) * 1000 if ordered else 0.0,
        p99_ms=percentile(ordered, 0.99) * 1000,
    )


async def _run_python(jobs: Sequence[Job]) -> list[LoadResult]:
    return list(await asyncio.gather(*(_python_job(job) for job in jobs)))


def run_together(jobs: Sequence[Job], *, use_wrk: bool) -> list[LoadResult]:
    """Run the jobs at the same time; their results, in order."""
    return _run_wrk(jobs) if use_wrk else asyncio.run(_run_python(jobs))
