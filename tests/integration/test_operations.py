"""The landing page, metrics and offline docs."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from app.main import create_app
from tests.conftest import load_test_settings


async def test_landing_page_links_docs_and_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for link in ("/docs", "/redoc", "/health/live", "/health/ready"):
        assert f'href="{link}"' in response.text


async def test_docs_use_no_cdn(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        response = await client.get(page)
        assert response.status_code == 200
        assert "cdn" not in response.text.lower()
        assert "https://" not in response.text
    asset = await client.get("/static-offline-docs/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "fastapi-modulith"


async def test_metrics_count_requests_by_route(client: httpx.AsyncClient) -> None:
    await client.get("/health/live")
    body = (await client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/health/live",status="200"} 1.0' in body


async def test_production_hides_docs() -> None:
    settings = load_test_settings(environment="production", secret_key=SecretStr("k" * 48))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for page in ("/docs", "/redoc", "/openapi.json"):
                assert (await client.get(page)).status_code == 404
            assert 'href="/docs"' not in (await client.get("/")).text
