"""The real server against slow and oversized clients, over raw TCP connections.

The server runs with short limits (1 s for headers and for a body, 8 KiB of headers, six
connections), so that every attack is over within a few seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.processes import (
    embedded_env,
    free_port,
    start_app_process,
    stop,
    wait_until_ready,
)

pytestmark = pytest.mark.one_worker  # the tests share one server
TIMEOUT = 1.0
MAX_HEADER_BYTES = 8192
CONCURRENCY = 6
# Time for the server to act on a deadline, on a busy machine.
SLACK = 2.0
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`serve` on a free port of 127.0.0.1, embedded (SQLite, no Redis); its port."""
    workdir = tmp_path_factory.mktemp("slow-clients")
    port = free_port()
    env = embedded_env(workdir) | {
        "SERVER_HEADER_TIMEOUT": str(TIMEOUT),
        "SERVER_BODY_TIMEOUT": str(TIMEOUT),
        "SERVER_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
        "SERVER_LIMIT_CONCURRENCY": str(CONCURRENCY),
        "LOG_LEVEL": "INFO",
    }
    process = start_app_process(["serve", "--port", str(port)], env=env, log=workdir / "log")
    try:
        ready = wait_until_ready(f"http://127.0.0.1:{port}/health/live", process, seconds=60)
        asyncio.run(ready)
        yield port
    finally:
        stop(process)


@asynccontextmanager
async def connected(port: int) -> AsyncIterator[Connection]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def seconds_until_closed(connection: Connection, trickle: bytes = b"") -> float:
    """How long the server keeps `connection` open while `trickle` arrives every 0.3 s."""
    reader, writer = connection
    started = time.monotonic()
    while time.monotonic() - started < 3 * (TIMEOUT + SLACK):
        try:
            if await asyncio.wait_for(reader.read(65536), 0.3) == b"":
                break
        except TimeoutError:
            writer.write(trickle)
        except ConnectionError:
            break
    return time.monotonic() - started


@pytest.mark.runs_long
async def test_idle_and_trickling_connections_are_closed_at_the_deadline(server: int) -> None:
    async with connected(server) as idle, connected(server) as loris, connected(server) as body:
        loris[1].write(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        body[1].write(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        )
        closed_after = await asyncio.gather(
            seconds_until_closed(idle),
            seconds_until_closed(loris, trickle=b"X-Trickle: 1\r\n"),
            seconds_until_closed(body, trickle=b"username=x&"),
        )
    for seconds in closed_after:
        assert TIMEOUT - 0.2 < seconds < TIMEOUT + SLACK, closed_after


@pytest.mark.runs_long
async def test_oversized_headers_get_431_and_a_20_mb_line_is_not_read(server: int) -> None:
    async with connected(server) as (reader, writer):
        writer.write(b"GET /health/live HTTP/1.1\r\nX-Big: " + b"a" * 2 * MAX_HEADER_BYTES)
        answer = await asyncio.wait_for(reader.read(), TIMEOUT)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"application/problem+json" in answer

    started = time.monotonic()
    assert await bytes_sent_of_a_header_line(server, 20 * 1024 * 1024) < 20 * 1024 * 1024
    assert time.monotonic() - started < TIMEOUT + SLACK


async def bytes_sent_of_a_header_line(port: int, size: int) -> int:
    """Send a header line of `size` bytes; how much of it went before the server hung up."""
    sent = 0
    async with connected(port) as (_, writer):
        writer.write(b"GET /health/live HTTP/1.1\r\nX-Huge: ")
        chunk = b"a" * 65536
        try:
            while sent < size:
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), TIMEOUT + SLACK)
                sent += len(chunk)
        except ConnectionError:  # reset, or a broken pipe
            pass
    return sent


@pytest.mark.runs_long
async def test_connections_beyond_the_bound_are_refused_until_the_idle_ones_time_out(
    server: int,
) -> None:
    url = f"http://127.0.0.1:{server}/health/live"
    async with httpx.AsyncClient() as client:
        idle = [await asyncio.open_connection("127.0.0.1", server) for _ in range(CONCURRENCY)]
        try:
            assert (await client.get(url)).status_code == 503
            # The server closes them once they time out: each reads to its end.
            closing = asyncio.gather(*(reader.read() for reader, _ in idle))
            await asyncio.wait_for(closing, TIMEOUT + SLACK)
            assert (await client.get(url)).status_code == 200
        finally:
            for _, writer in idle:
                writer.close()
