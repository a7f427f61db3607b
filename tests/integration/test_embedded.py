"""The real server on the embedded default: SQLite, no Redis, no configuration."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.processes import (
    embedded_env,
    free_port,
    start_app_process,
    stop,
    wait_until_ready,
)

IN_FLIGHT = 12


def login_attempts(client: httpx.AsyncClient, url: str) -> list[asyncio.Task[httpx.Response]]:
    """Logins sent at once, each hashing a password (strong parameters: ~0.1 s each)."""
    form = {"password": "not-it-at-all"}
    return [
        asyncio.create_task(client.post(url, data=form | {"username": f"nobody{n}"}))
        for n in range(IN_FLIGHT)
    ]


@pytest.mark.runs_long
async def test_serve_migrates_answers_and_finishes_in_flight_requests_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    database = tmp_path / "fresh" / "app.db"
    env = embedded_env(tmp_path, database=database.relative_to(tmp_path)) | {
        "LOG_LEVEL": "INFO",
        "RATE_LIMIT_ENABLED": "false",
        "ARGON2_TIME_COST": "3",
        "ARGON2_MEMORY_COST_KIB": "32768",
    }
    process = start_app_process(["serve", "--port", str(port)], env=env, log=tmp_path / "serve.log")
    try:
        ready = await wait_until_ready(f"http://127.0.0.1:{port}/health/ready", process)
        assert ready.json() == {"status": "ok", "checks": {"database": "ok"}}
        async with httpx.AsyncClient() as client:
            missing = await client.get(f"http://127.0.0.1:{port}/api/v1/nope")
        assert missing.status_code == 404
        assert missing.json()["request_id"] == missing.headers["x-request-id"]
        assert "server" not in missing.headers  # nothing tells an attacker what serves it
        async with httpx.AsyncClient(timeout=30) as client:
            logins = login_attempts(client, f"http://127.0.0.1:{port}/api/v1/auth/login")
            # The server is answering them: every request reached it, most are in flight.
            _, in_flight = await asyncio.wait(logins, return_when=asyncio.FIRST_COMPLETED)
            assert in_flight
            process.terminate()
            answers = await asyncio.gather(*logins, return_exceptions=True)
    finally:
        exit_code = stop(process)
    # Each request that was in flight at SIGTERM got its whole answer.
    assert [getattr(answer, "status_code", answer) for answer in answers] == [400] * IN_FLIGHT
    log = (tmp_path / "serve.log").read_text()
    assert exit_code in (0, -15), log  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "app stopped" in log
    assert database.exists()
    assert "database is at head" in log
    assert "method=GET path=/api/v1/nope" in log
