"""The OpenAPI document reads as intended by client generators and by linters."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

from app.core.config import Settings
from app.main import create_app
from tests.processes import PROJECT_ROOT

ROOT = Path(__file__).resolve().parents[2]
# Installed by .ci/run (`npm install --prefix .tools/node @redocly/cli@2.77.0`): the suite
# itself downloads nothing.
REDOCLY = ROOT / ".tools" / "node" / "node_modules" / ".bin" / "redocly"
REDOCLY_CONFIG = ROOT / "redocly.yaml"
# No usage report and no update check: the suite's network is the loopback.
REDOCLY_OFFLINE = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_NOTIFICATIONS": "true"}
OPERATION_ID = re.compile(r"[a-z]+_[a-z_]+")
SOME_OPERATION_IDS = {
    ("get", "/api/v1/posts"): "posts_list",
    ("get", "/api/v1/posts/{post_id}"): "posts_get",
    ("post", "/api/v1/posts"): "posts_create",
    ("put", "/api/v1/posts/{post_id}"): "posts_replace",
    ("patch", "/api/v1/posts/{post_id}"): "posts_update",
    ("delete", "/api/v1/posts/{post_id}"): "posts_delete",
    ("post", "/api/v1/auth/login"): "auth_login",
    ("post", "/api/v1/auth/refresh-token"): "auth_refresh_token",
    ("post", "/api/v1/auth/logout"): "auth_logout",
    ("get", "/api/v1/users"): "users_list",
    ("get", "/api/v1/profile"): "profile_get",
    ("get", "/api/v1/movies/new"): "movies_new",
    ("get", "/health/live"): "health_live",
}
PUBLIC = {
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh-token"),
    ("post", "/api/v1/auth/restore-password"),
    ("post", "/api/v1/auth/reset-password"),
    ("get", "/api/v1/posts"),
    ("get", "/api/v1/posts/{post_id}"),
}


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


@pytest.fixture(scope="module")
def document(settings: Settings) -> dict[str, Any]:
    """The document `/openapi.json` serves (built once: these tests only read it)."""
    return create_app(settings).openapi()


def test_every_operation_id_is_short_and_unique(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids)), sorted(ids)
    assert [id_ for id_ in ids if not OPERATION_ID.fullmatch(id_)] == []
    by_route = {(method, path): op["operationId"] for method, path, op in _operations(document)}
    assert {route: by_route[route] for route in SOME_OPERATION_IDS} == SOME_OPERATION_IDS


def test_every_operation_declares_its_security(document: dict[str, Any]) -> None:
    (scheme,) = document["components"]["securitySchemes"]
    for method, path, operation in _operations(document):
        expected: list[dict[str, list[str]]] = [] if (method, path) in PUBLIC else [{scheme: []}]
        assert operation["security"] == expected, (method, path)


def test_an_optional_body_is_a_plain_reference(document: dict[str, Any]) -> None:
    logout = document["paths"]["/api/v1/auth/logout"]["post"]["requestBody"]
    assert not logout.get("required")
    assert logout["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/LogoutRequest"}}
    }
    for method, path, operation in _operations(document):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            assert "anyOf" not in media["schema"], (method, path)


def test_tags_servers_and_info_are_defined(document: dict[str, Any]) -> None:
    used = {tag for _, _, operation in _operations(document) for tag in operation["tags"]}
    defined = {tag["name"]: tag.get("description") for tag in document["tags"]}
    assert used == defined.keys() >= {"auth", "users", "profile", "posts", "movies", "health"}
    assert all(defined.values())
    assert document["servers"] == [{"url": "/"}]
    assert document["info"]["description"]
    # The project's licence (pyproject.toml): the kit's MIT, or a proprietary one.
    licence = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["license"]
    expected = {"name": "MIT", "identifier": "MIT"} if licence == "MIT" else {"name": "Proprietary"}
    assert document["info"]["license"] == expected


async def test_behind_a_proxy_the_root_path_is_the_first_server(app: FastAPI) -> None:
    proxied = httpx.ASGITransport(app=app, root_path="/kit")
    async with httpx.AsyncClient(transport=proxied, base_url="http://testserver") as client:
        schema = (await client.get("/kit/openapi.json")).json()
    assert schema["servers"] == [{"url": "/kit"}, {"url": "/"}]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


@pytest.mark.runs_long
async def test_redocly_lint_finds_nothing(document: dict[str, Any], tmp_path: Path) -> None:
    if not REDOCLY.exists():
        pytest.skip(
            f"@redocly/cli is not installed in {REDOCLY.parents[2].relative_to(ROOT)} (.ci/run "
            "installs it: npm install --prefix .tools/node @redocly/cli@2.77.0); "
            "the suite downloads nothing"
        )
    if shutil.which("node") is None:
        pytest.skip("@redocly/cli is installed but there is no `node` on PATH to run it")
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    lint = await asyncio.create_subprocess_exec(
        REDOCLY,
        "lint",
        path,
        "--config",
        REDOCLY_CONFIG,
        "--format",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **REDOCLY_OFFLINE},
    )
    out, err = await lint.communicate()
    report = json.loads(out)
    problems = [
        f"{problem['severity']} {problem['ruleId']}: {problem['message']} "
        f"at {[location['pointer'] for location in problem['location']]}"
        for problem in report["problems"]
    ]
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, problems
    assert lint.returncode == 0, err.decode()
