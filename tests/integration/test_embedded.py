"""The real server on the embedded default: SQLite, no Redis, no configuration."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.processes import free_port, start_app_process, stop, wait_until_ready


async def test_serve_migrates_and_answers_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "fresh" / "app.db"
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "REDIS_URL": "",
        "ENVIRONMENT": "local",
        "MAIL_FILE_DIR": str(tmp_path / "mail"),
        "LOG_LEVEL": "INFO",
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
    finally:
        exit_code = stop(process)
    log = (tmp_path / "serve.log").read_text()
    assert exit_code in (0, -15), log  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "app stopped" in log
    assert database.exists()
    assert "database is at head" in log
    assert "method=GET path=/api/v1/nope" in log
