"""Measuring one job on one server: its requests/s and latency percentiles (from the load
generator) with the server's CPU time per request (from `/proc`), and what comes before a
measured run: warming the route up, checking that every server answers it, and waiting
until a server has worked off the previous run."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

import httpx

from bench.load import Job, LoadResult, run_together
from bench.servers import Server

SETTLE_SECONDS = 20  # longer than the kit's pool timeout
SETTLED_LATENCY = 1.0  # a kit stuck behind its pool timeout takes seconds
# A database read every server answers once the bench's data is in.
SETTLE_PATH = "/api/v1/posts/1"


def run_on(server: Server, job: Job, *, use_wrk: bool) -> LoadResult:
    """One job against `server`, with the server's CPU time per request."""
    before = server.cpu_seconds()
    [result] = run_together([job], use_wrk=use_wrk)
    spent = server.cpu_seconds() - before
    per_request = spent * 1e6 / result.requests if result.requests else None
    return replace(result, server_cpu_us=per_request)


def warm_up(job: Job) -> None:
    """Fill the pools and prepared-statement caches; the Python client takes fractions of a
    second, where wrk runs whole seconds."""
    if job.seconds:
        run_together([job], use_wrk=False)


def refusal(servers: Sequence[Server], paths: Sequence[str], headers: Mapping[str, str]) -> str:
    """Why not every server answers every path with a 2xx ("" when they do); each path is
    asked once, in order, which warms it up (and fills the cache)."""
    for server in servers:
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as client:
            for path in paths:
                try:
                    status = client.get(path, headers=headers).status_code
                except httpx.TransportError as error:
                    return f"skipped: {server.name} unreachable ({type(error).__name__})"
                if not 200 <= status < 300:
                    return f"skipped: {server.name} answered {status} to {path}"
    return ""


def settled(server: Server) -> bool:
    """Wait (at most `SETTLE_SECONDS`) until the server answers a database read at once:
    requests left over from a run must not slow down the next one. False: still busy."""
    deadline = time.monotonic() + SETTLE_SECONDS
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=SETTLED_LATENCY) as client:
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                answered = client.get(SETTLE_PATH).is_success
            except httpx.TransportError:
                answered = False
            if answered and time.monotonic() - sent < SETTLED_LATENCY:
                return True
            time.sleep(0.1)
    return False
