"""Liveness and readiness, with the real database and Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from app.core.config import Settings
from app.core.migrations import alembic_config
from app.main import create_app
from tests.apps import serving
from tests.conftest import load_test_settings

UNREACHABLE_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


async def test_live_answers_without_io(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_live_carries_every_response_header_and_stays_out_of_the_access_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Answered before routing, it is still a response like the others; only the access
    log, which a kubelet's probes would flood, leaves it out."""
    async with serving(create_app(load_test_settings(log_level="INFO"))) as client:
        capsys.readouterr()
        live = await client.get("/health/live", headers={"X-Request-ID": "probe-1"})
        head = await client.head("/health/live")
        other = await client.get("/health/ready")
    assert live.json() == {"status": "ok"}
    assert live.headers["content-type"] == "application/json"
    assert live.headers["x-request-id"] == "probe-1"
    assert live.headers["x-content-type-options"] == "nosniff"
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == live.headers["content-length"]
    access_lines = [line for line in capsys.readouterr().err.splitlines() if "app.access" in line]
    assert other.status_code == 200
    assert ["path=/health/ready" in line for line in access_lines] == [True]


async def test_ready_checks_database_and_redis(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


async def _get_ready(settings: Settings) -> httpx.Response:
    async with serving(create_app(settings)) as client:
        return await client.get("/health/ready")


async def test_ready_is_503_naming_the_unreachable_database() -> None:
    response = await _get_ready(load_test_settings(database_url=UNREACHABLE_DATABASE))
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable", "redis": "ok"}


async def test_ready_stays_200_degraded_while_redis_is_unreachable() -> None:
    """The API serves reads without Redis: one Redis outage must not take every replica out
    of the Service."""
    response = await _get_ready(load_test_settings(redis_url="redis://127.0.0.1:1/0"))
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "redis": "degraded"},
    }


def sqlite_settings(path: Path) -> Settings:
    return load_test_settings(database_url=f"sqlite+aiosqlite:///{path}", redis_url="")


async def test_ready_is_503_naming_the_schema_of_a_database_never_migrated(
    tmp_path: Path,
) -> None:
    response = await _get_ready(sqlite_settings(tmp_path / "empty.db"))
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "schema_not_at_head"},
    }


def migrate(settings: Settings, revision: str) -> None:
    command.upgrade(alembic_config(settings), revision)


async def test_ready_is_503_until_the_database_is_at_the_head_of_the_shipped_migrations(
    tmp_path: Path,
) -> None:
    settings = sqlite_settings(tmp_path / "app.db")
    first = ScriptDirectory.from_config(alembic_config(settings)).get_base()
    assert isinstance(first, str)
    await asyncio.to_thread(migrate, settings, first)
    assert (await _get_ready(settings)).json()["checks"] == {"database": "schema_not_at_head"}
    await asyncio.to_thread(migrate, settings, "head")
    assert (await _get_ready(settings)).json() == {"status": "ok", "checks": {"database": "ok"}}


async def test_ready_stays_200_on_a_schema_a_newer_release_migrated(tmp_path: Path) -> None:
    """During a rolling update the migrate job runs the new release's migrations while the
    previous release still serves (its migrations keep the schema compatible)."""
    settings = sqlite_settings(tmp_path / "app.db")
    await asyncio.to_thread(migrate, settings, "head")
    async with aiosqlite.connect(tmp_path / "app.db") as connection:
        await connection.execute("UPDATE alembic_version SET version_num = 'from_the_future'")
        await connection.commit()
    assert (await _get_ready(settings)).status_code == 200


async def test_ready_skips_redis_in_embedded_mode() -> None:
    response = await _get_ready(load_test_settings(redis_url=""))
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
