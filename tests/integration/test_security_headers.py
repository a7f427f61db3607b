"""Headers every response carries, and CORS: closed by default, exact origins when set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import Database
from app.main import create_app
from tests.apps import serving
from tests.conftest import load_test_settings

ALLOWED = "https://app.example.com"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/health/live"), ("GET", "/api/v1/nope"), ("POST", "/api/v1/posts")],
)
async def test_every_response_forbids_sniffing_and_referrers(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_cors_is_closed_by_default(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/api/v1/posts",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"},
    )
    plain = await client.get("/api/v1/posts", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in plain.headers


@pytest.fixture
async def cors_client(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_test_settings(cors_origins=f"{ALLOWED}, https://admin.example.com")
    async with serving(create_app(settings, database=Database(session_factory))) as client:
        yield client


async def test_cors_allows_exactly_the_listed_origins_without_credentials(
    cors_client: httpx.AsyncClient,
) -> None:
    allowed = await cors_client.options(
        "/api/v1/posts",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"},
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "access-control-allow-credentials" not in allowed.headers
    other = await cors_client.get("/api/v1/posts", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers
    lookalike = await cors_client.get(
        "/api/v1/posts", headers={"Origin": f"{ALLOWED}.evil.example"}
    )
    assert "access-control-allow-origin" not in lookalike.headers
