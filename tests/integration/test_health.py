"""Liveness and readiness, with the real database and Redis."""

from __future__ import annotations

import httpx

from app.core.config import Settings
from app.main import create_app
from tests.apps import serving
from tests.conftest import load_test_settings

UNREACHABLE_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


async def test_live_answers_without_io(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


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


async def test_ready_is_503_naming_unreachable_redis() -> None:
    response = await _get_ready(load_test_settings(redis_url="redis://127.0.0.1:1/0"))
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "unavailable"}


async def test_ready_skips_redis_in_embedded_mode() -> None:
    response = await _get_ready(load_test_settings(redis_url=""))
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
