"""The landing page, metrics and offline docs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.errors import PROBLEM_CONTENT_TYPE as PROBLEM
from app.main import TITLE, create_app
from tests.apps import serving
from tests.conftest import load_production_settings


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
    assert (await client.get("/openapi.json")).json()["info"]["title"] == TITLE


@pytest.mark.own_app  # counts from zero
async def test_metrics_count_requests_by_route(client: httpx.AsyncClient) -> None:
    await client.get("/health/live")
    body = (await client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/health/live",status="200"} 1.0' in body


async def test_production_hides_docs() -> None:
    async with serving(create_app(load_production_settings())) as client:
        for page in ("/docs", "/redoc", "/openapi.json"):
            assert (await client.get(page)).status_code == 404
        assert 'href="/docs"' not in (await client.get("/")).text


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


async def test_openapi_documents_every_error_as_a_problem(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    assert {"Problem", "ValidationProblem"} <= components.keys()
    assert not {"HTTPValidationError", "ValidationError"} & components.keys()
    for ref in set(_refs(schema)):
        section, _, name = ref.removeprefix("#/components/").partition("/")
        assert name in schema["components"][section], ref
    problem = {"$ref": "#/components/schemas/Problem"}
    for method, path, operation in _operations(schema):
        responses = operation["responses"]
        assert list(responses["422"]["content"]) == [PROBLEM], (method, path)
        # A route whose problems carry members of their own documents them in an `allOf`.
        validation = responses["422"]["content"][PROBLEM]["schema"]
        assert validation.get("allOf", [validation])[0] == {
            "$ref": "#/components/schemas/ValidationProblem"
        }, (method, path)
        assert responses["500"]["content"] == {PROBLEM: {"schema": problem}}
        for status, response in responses.items():
            if int(status) >= 400 and (method, path, status) != ("get", "/health/ready", "503"):
                assert list(response["content"]) == [PROBLEM], (method, path, status)


async def test_openapi_documents_the_errors_each_operation_can_answer(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    operations = {(method, path): op for method, path, op in _operations(schema)}

    def statuses(method: str, path: str) -> set[str]:
        return set(operations[method, path]["responses"])

    api_defaults = {"422", "429", "500", "503"}
    assert statuses("get", "/api/v1/users") == {"200", "401", "403", *api_defaults}
    # demo: posts
    assert statuses("get", "/api/v1/posts") == {"200", *api_defaults}
    with_body_token_and_id = {"400", "401", "403", "404", "413"}
    assert statuses("put", "/api/v1/posts/{post_id}") == {
        "200",
        "412",
        *with_body_token_and_id,
        *api_defaults,
    }
    unauthorized = operations["post", "/api/v1/posts"]["responses"]["401"]
    assert "WWW-Authenticate" in unauthorized["headers"]
    assert "Retry-After" in operations["get", "/api/v1/posts"]["responses"]["429"]["headers"]
    # end demo: posts
    # Operational routes are neither rate limited nor answered 503 from the database.
    assert statuses("get", "/health/live") == {"200", "422", "500"}


@pytest.mark.own_app  # adds a route
async def test_openapi_of_routes_added_later_is_documented_too(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await client.get("/openapi.json")

    async def late(item_id: int) -> None:
        return None

    app.add_api_route("/test/late/{item_id}", late)
    schema = (await client.get("/openapi.json")).json()
    responses = schema["paths"]["/test/late/{item_id}"]["get"]["responses"]
    assert {"404", "422", "500"} <= responses.keys()
    assert list(responses["422"]["content"]) == [PROBLEM]
