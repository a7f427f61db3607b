"""Cost of authentication on a real server: `uv run python -m bench.auth_latency`.

Starts `python -m app serve` with production settings (production argon2 parameters, rate
limits off so the loop is not throttled; `make bench` measures with them on) and
measures, one request at a time:

- login latency (argon2id verify at production cost, plus issuing the token pair);
- logins 8 at a time, and `/health/live` latency meanwhile: hashing runs in threads, so
  the event loop keeps serving other requests;
- an authenticated request (`GET /api/v1/profile`: token check and one user query) next
  to anonymous ones (`/health/live`, no I/O; `/api/v1/posts`, a public read).

Embedded SQLite unless `--database-url` (e.g. PostgreSQL) is given. Client and server share
the machine: compare runs made on the same machine only.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time

import click
import httpx

from bench.data import PASSWORD
from bench.load import percentile
from bench.servers import kit_environment, kit_server, scratch_directory

EMAIL = "bench-admin@example.com"


def summary(name: str, samples: list[float]) -> str:
    milliseconds = [sample * 1000 for sample in samples]
    p50, p95 = statistics.median(milliseconds), percentile(sorted(milliseconds), 0.95)
    mean = statistics.fmean(milliseconds)
    return (
        f"{name:<38} n={len(samples):>4}  p50={p50:7.2f} ms  p95={p95:7.2f} ms  mean={mean:7.2f} ms"
    )


async def timed(client: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> float:
    started = time.perf_counter()
    response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


async def login(client: httpx.AsyncClient) -> float:
    form = {"username": EMAIL, "password": PASSWORD}
    return await timed(client, "POST", "/api/v1/auth/login", data=form)


async def run(base_url: str, logins: int, requests: int) -> list[str]:
    lines = []
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=30) as client:
        await login(client)  # warm-up
        lines.append(summary("login (sequential)", [await login(client) for _ in range(logins)]))

        live_during_burst: list[float] = []

        async def probe_live(stop: asyncio.Event) -> None:
            while not stop.is_set():
                live_during_burst.append(await timed(client, "GET", "/health/live"))

        stop = asyncio.Event()
        prober = asyncio.create_task(probe_live(stop))
        burst: list[float] = []
        for _ in range(max(1, logins // 8)):
            burst += await asyncio.gather(*(login(client) for _ in range(8)))
        stop.set()
        await prober
        lines.append(summary("login (8 concurrent)", burst))
        lines.append(summary("/health/live during the login burst", live_during_burst))

        response = await client.post(
            "/api/v1/auth/login", data={"username": EMAIL, "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        routes = [
            ("GET /health/live (anonymous, no I/O)", "/health/live", {}),
            ("GET /api/v1/posts (anonymous read)", "/api/v1/posts?per_page=10", {}),
            ("GET /api/v1/profile (authenticated)", "/api/v1/profile", headers),
        ]
        for name, url, route_headers in routes:
            for _ in range(50):  # warm-up
                await timed(client, "GET", url, headers=route_headers)
            samples = [
                await timed(client, "GET", url, headers=route_headers) for _ in range(requests)
            ]
            lines.append(summary(name, samples))
    return lines


@click.command()
@click.option(
    "--logins",
    default=40,
    show_default=True,
    type=click.IntRange(min=1),
    help="Sequential logins to time",
)
@click.option(
    "--requests",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Requests per read route",
)
@click.option("--database-url", default="", help="Empty: embedded SQLite")
def main(logins: int, requests: int, database_url: str) -> None:
    """Measure login latency and the cost of an authenticated request."""
    with scratch_directory() as workdir:
        env = kit_environment(
            database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
            "",
            secrets.token_urlsafe(48),
            workdir,
            RATE_LIMIT_ENABLED="false",
            FIRST_SUPERUSER_EMAIL=EMAIL,
            FIRST_SUPERUSER_PASSWORD=PASSWORD,
        )
        server = kit_server(env, workdir)
        server.start()
        try:
            lines = asyncio.run(run(server.base_url, logins, requests))
        finally:
            server.stop()
    for line in lines:
        click.echo(line)


if __name__ == "__main__":
    main()
