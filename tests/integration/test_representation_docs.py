"""The OpenAPI document tells generated clients about entity tags and locations: `ETag`
on single resources, `If-None-Match` and 304 on their reads, `If-Match` and 412 on their
changes, `Location` on every 201."""

from __future__ import annotations

from typing import Any

import httpx

RESOURCES = [
    "/api/v1/posts/{post_id}",  # demo: posts
    "/api/v1/movies/{movie_id}",  # demo: movies
    "/api/v1/users/{user_id}",
]
PROFILE = "/api/v1/profile"
CREATES = [
    ("/api/v1/posts", "post"),  # demo: posts
    ("/api/v1/movies", "post"),  # demo: movies
    ("/api/v1/auth/register", "post"),
]


def header_parameters(operation: dict[str, Any]) -> set[str]:
    return {param["name"] for param in operation.get("parameters", []) if param["in"] == "header"}


async def test_single_resources_document_their_entity_tags(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    for path in [*RESOURCES, PROFILE]:
        read = paths[path]["get"]
        assert "ETag" in read["responses"]["200"]["headers"], path
        assert "ETag" in read["responses"]["304"]["headers"], path
        assert header_parameters(read) == {"If-None-Match"}, path
        for method, operation in paths[path].items():
            if method == "get":
                continue
            assert header_parameters(operation) == {"If-Match"}, (method, path)
            assert "412" in operation["responses"], (method, path)
            if method != "delete":
                assert "ETag" in operation["responses"]["200"]["headers"], (method, path)


async def test_every_201_documents_its_location(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    created = [
        (path, method)
        for path, item in paths.items()
        for method, operation in item.items()
        if "201" in operation["responses"]
    ]

    assert sorted(created) == sorted(CREATES)
    for path, method in created:
        assert "Location" in paths[path][method]["responses"]["201"]["headers"], path
