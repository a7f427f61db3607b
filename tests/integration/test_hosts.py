"""The Host header: ALLOWED_HOSTS refuses the others, and no answer ever names one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import Database
from app.core.errors import PROBLEM_CONTENT_TYPE
from app.main import create_app
from tests.apps import serving
from tests.conftest import load_test_settings

EVIL = {"Host": "evil.example"}
POD_ADDRESS = {"Host": "10.1.2.3:8000"}  # what a kubelet probe or a Prometheus scrape sends


@pytest.mark.parametrize("path", ["/api/v1/posts/", "/health/live/", "/docs/"])
async def test_a_trailing_slash_is_not_redirected_to_the_host_the_client_named(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers=EVIL)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert "location" not in response.headers
    assert "evil.example" not in response.text


@pytest.fixture
async def listed_client(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_test_settings(
        allowed_hosts="api.example.com, *.example.org", metrics_token=SecretStr("scrape-me")
    )
    async with serving(create_app(settings, database=Database(session_factory))) as client:
        yield client


@pytest.mark.parametrize(
    "host", ["evil.example", "example.org", "api.example.com.evil.example", "10.1.2.3", ""]
)
async def test_allowed_hosts_refuses_any_other_host_with_a_problem(
    listed_client: httpx.AsyncClient, host: str
) -> None:
    response = await listed_client.get("/api/v1/posts", headers={"Host": host})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    "host", ["api.example.com", "API.Example.COM:8443", "www.example.org", "a.b.example.org:80"]
)
async def test_allowed_hosts_serves_the_listed_ones(
    listed_client: httpx.AsyncClient, host: str
) -> None:
    response = await listed_client.get("/api/v1/posts", headers={"Host": host})
    assert response.status_code == 200


async def test_probes_and_scrapes_by_pod_address_pass_the_host_check(
    listed_client: httpx.AsyncClient,
) -> None:
    for path in ("/health/live", "/health/ready"):
        assert (await listed_client.get(path, headers=POD_ADDRESS)).status_code == 200
    scrape = {**POD_ADDRESS, "Authorization": "Bearer scrape-me"}
    assert (await listed_client.get("/metrics", headers=scrape)).status_code == 200
    # Nothing else under those prefixes escapes it.
    assert (await listed_client.get("/healthz", headers=POD_ADDRESS)).status_code == 400
    assert (await listed_client.get("/metrics/x", headers=POD_ADDRESS)).status_code == 400
