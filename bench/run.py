"""Load benchmark of a real server: `make bench` (or `uv run python bench/run.py --help`).

Starts `python -m app serve` on a free loopback port (production settings; embedded SQLite
in a temporary directory unless a database and Redis are given), sends a fixed number of
GET requests with a fixed concurrency to each route of `ROUTES`, prints throughput, latency
percentiles and the server's peak resident memory, then stops the server.

Client and server share this machine's CPUs, so requests/s and latencies depend on the
client too: compare runs made on the same machine only. The server's CPU time per request
depends much less on the client.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# The routes to measure, as paths with their query. Add any GET route that answers 2xx
# without credentials; a route that does not answer 2xx is reported and skipped.
ROUTES: tuple[str, ...] = (
    "/health/live",
    "/health/ready",
    "/api/v1/posts?per_page=10",
)

START_TIMEOUT_SECONDS = 120.0  # imports and migrations, on a busy machine
STOP_TIMEOUT_SECONDS = 35.0
REQUEST_TIMEOUT_SECONDS = 10.0
REPORT_WIDTH = 120  # when the output is not a terminal (rich would assume 80 columns)


@dataclass(frozen=True)
class RouteResult:
    route: str
    requests: int
    failures: int
    seconds: float
    latencies: list[float]
    server_cpu_seconds: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def server_cpu_ms_per_request(self) -> float:
        return self.server_cpu_seconds / self.requests * 1000

    def percentile_ms(self, percent: int) -> float:
        """Latency below which `percent`% of the requests completed, in milliseconds."""
        cut_points = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cut_points[percent - 1] * 1000


def free_port() -> int:
    """A TCP port nobody listens on right now, on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def memory_kib(pid: int, field: str) -> int:
    """A `/proc/<pid>/status` memory field (VmHWM: peak resident set, VmRSS: current)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (`/proc/<pid>/stat`)."""
    # Fields after the command name, which is in parentheses and may contain spaces.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user_ticks, system_ticks = int(fields[11]), int(fields[12])
    return (user_ticks + system_ticks) / os.sysconf("SC_CLK_TCK")


def server_environment(workdir: Path, database_url: str | None, redis_url: str) -> dict[str, str]:
    """Production settings for the server; nothing from a developer's `.env` leaks in."""
    return {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "REDIS_URL": redis_url,
        "RATE_LIMIT_DEFAULT": "",
        "MAIL_BACKEND": "file",
        "MAIL_FILE_DIR": str(workdir / "mail"),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }


def wait_until_live(server: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(base_url=base_url, trust_env=False, timeout=1.0) as client:
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if client.get("/health/live").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    state = (
        f"exited with code {server.returncode}"
        if server.poll() is not None
        else f"not answering after {START_TIMEOUT_SECONDS:.0f} s"
    )
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) or "(empty)"
    raise RuntimeError(f"the server did not start ({state}); the end of its log:\n{tail}")


@contextmanager
def running_server(
    port: int, database_url: str | None, redis_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m app serve` on 127.0.0.1:port, run from a scratch directory, then stopped."""
    with tempfile.TemporaryDirectory(prefix="modulith-bench-") as scratch:
        workdir = Path(scratch)
        log = workdir / "server.log"
        with log.open("wb") as log_file:
            server = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=workdir,
                env=server_environment(workdir, database_url, redis_url),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until_live(server, f"http://127.0.0.1:{port}", log)
                yield server
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


async def measure(
    clients: Sequence[httpx.AsyncClient], route: str, requests: int, server_pid: int
) -> RouteResult:
    """Send `requests` GETs to `route`, one in flight per client at a time, timing each."""
    pending = iter(range(requests))  # shared by the senders: every request is sent once
    latencies: list[float] = []
    failures = 0

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal failures
        for _ in pending:
            started = time.perf_counter()
            try:
                response = await client.get(route)
                failed = not response.is_success
            except httpx.HTTPError:
                failed = True
            latencies.append(time.perf_counter() - started)
            failures += int(failed)

    cpu_before = cpu_seconds(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(sender(client) for client in clients))
    seconds = time.perf_counter() - started
    server_cpu = cpu_seconds(server_pid) - cpu_before
    return RouteResult(route, requests, failures, seconds, latencies, server_cpu)


async def measure_routes(
    console: Console, base_url: str, requests: int, concurrency: int, server_pid: int
) -> list[RouteResult]:
    """Each route in turn: a probe, a warm-up, then the measured requests."""
    async with AsyncExitStack() as stack:
        # One client and one keep-alive connection per simulated user: a single shared
        # pool costs the client more per request as the pool grows.
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=base_url,
                    limits=httpx.Limits(max_connections=1),
                    timeout=REQUEST_TIMEOUT_SECONDS,
                    trust_env=False,  # loopback only: never through a configured proxy
                )
            )
            for _ in range(concurrency)
        ]
        results = []
        for route in ROUTES:
            probe = await clients[0].get(route)
            if not probe.is_success:
                console.print(f"[yellow]skipped {route}: it answers {probe.status_code}")
                continue
            await measure(clients, route, max(requests // 10, concurrency), server_pid)
            results.append(await measure(clients, route, requests, server_pid))
        return results


def report(
    console: Console,
    results: list[RouteResult],
    concurrency: int,
    start_kib: int,
    peak_kib: int,
) -> None:
    table = Table(title=f"GET, {concurrency} concurrent, one server process, loopback")
    columns = (
        "route",
        "requests",
        "failed",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "server CPU ms/req",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "route" else "right")
    for result in results:
        table.add_row(
            result.route,
            str(result.requests),
            str(result.failures),
            f"{result.requests_per_second:,.0f}",
            *(f"{result.percentile_ms(percent):.1f}" for percent in (50, 95, 99)),
            f"{result.server_cpu_ms_per_request:.2f}",
        )
    console.print(table)
    console.print(
        f"server resident memory: {start_kib / 1024:.1f} MiB after start-up, "
        f"peak {peak_kib / 1024:.1f} MiB (VmHWM)"
    )


def main(
    requests: Annotated[int, typer.Option(min=2, help="Measured requests per route")] = 3000,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once")] = 16,
    database_url: Annotated[
        str | None,
        typer.Option(help="A database of its own (migrated and written to); default: SQLite"),
    ] = None,
    redis_url: Annotated[str, typer.Option(help="Redis URL; default: in-process backends")] = "",
) -> None:
    """Benchmark a real `python -m app serve` on loopback."""
    console = Console(width=None if sys.stdout.isatty() else REPORT_WIDTH)
    port = free_port()
    with running_server(port, database_url, redis_url) as server:
        start_kib = memory_kib(server.pid, "VmRSS")
        results = asyncio.run(
            measure_routes(console, f"http://127.0.0.1:{port}", requests, concurrency, server.pid)
        )
        peak_kib = memory_kib(server.pid, "VmHWM")
    report(console, results, concurrency, start_kib, peak_kib)
    if any(result.failures for result in results):
        raise typer.Exit(code=1)


if __name__ == "__main__":
    typer.run(main)
