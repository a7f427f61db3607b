"""A client generated from the live OpenAPI document with openapi-python-client works: a
whole session goes through the generated functions and models only.

The client reaches the in-process app over `httpx.ASGITransport`; only the set-up data
(a superuser, other people's posts) is written beside it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import DEFAULT_PASSWORD, create_post, create_user

PACKAGE = "modulith_client"
GENERATOR = Path(sysconfig.get_path("scripts")) / "openapi-python-client"
# No formatting of the generated code (ruff, by default): it costs seconds and proves nothing.
GENERATOR_CONFIG = "post_hooks: []\n"
PASSWORD = "a generated client's password"
MAX_PAGES = 100


@dataclass(frozen=True)
class GeneratedClient:
    """The package openapi-python-client generated, importable: its clients, its models,
    and a function module per operation, named after its operationId."""

    root: Path
    app: FastAPI

    @property
    def models(self) -> Any:
        return importlib.import_module(f"{PACKAGE}.models")

    def client(self, token: str | None = None) -> Any:
        """A generated `Client` (or `AuthenticatedClient` with `token`) of the app."""
        package = importlib.import_module(PACKAGE)
        options = {
            "base_url": "http://testserver",
            "httpx_args": {"transport": httpx.ASGITransport(app=self.app)},
            "raise_on_unexpected_status": True,  # an undocumented status fails the test
        }
        if token is None:
            return package.Client(**options)
        return package.AuthenticatedClient(token=token, **options)

    def operation(self, operation_id: str) -> Any:
        (module,) = self.root.glob(f"api/*/{operation_id}.py")
        return importlib.import_module(f"{PACKAGE}.api.{module.parent.name}.{operation_id}")

    async def call(self, operation_id: str, **arguments: Any) -> Any:
        """The parsed answer of the operation: a generated model, typed problems included."""
        return await self.operation(operation_id).asyncio(**arguments)

    async def walk(self, operation_id: str, **arguments: Any) -> list[Any]:
        """Every page of a list operation, following `next_cursor` to the end."""
        pages = [await self.call(operation_id, **arguments)]
        while pages[-1].next_cursor:
            assert len(pages) < MAX_PAGES, "the cursor walk does not end"
            pages.append(await self.call(operation_id, cursor=pages[-1].next_cursor, **arguments))
        return pages

    async def status_of(self, operation_id: str, **arguments: Any) -> int:
        response = await self.operation(operation_id).asyncio_detailed(**arguments)
        return int(response.status_code)


@pytest.fixture
def importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on `sys.path`; what was imported from it is forgotten afterwards."""
    monkeypatch.syspath_prepend(tmp_path)
    yield tmp_path
    for name in [name for name in sys.modules if name.partition(".")[0] == PACKAGE]:
        del sys.modules[name]


@pytest.fixture
async def generated(app: FastAPI, client: httpx.AsyncClient, importable: Path) -> GeneratedClient:
    """The client generated from the document the app serves, by the generator's CLI."""
    document = importable / "openapi.json"
    document.write_text(json.dumps((await client.get("/openapi.json")).json()))
    config = importable / "generator.yaml"
    config.write_text(GENERATOR_CONFIG)
    output = importable / PACKAGE
    process = await asyncio.create_subprocess_exec(
        GENERATOR,
        "generate",
        f"--path={document}",
        f"--output-path={output}",
        "--meta=none",
        f"--config={config}",
        "--fail-on-warning",  # nothing of the document left out of the client
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    return GeneratedClient(output, app)


@pytest.mark.runs_long
async def test_a_whole_session_through_a_generated_client(
    generated: GeneratedClient, session: AsyncSession
) -> None:
    api, models = generated, generated.models
    admin = await create_user(session, is_superuser=True)
    for _ in range(4):
        await create_post(session, user_id=admin.id)

    async with api.client() as anonymous:
        account = models.UserCreate(username="ada", email="ada@example.com", password=PASSWORD)
        ada = await api.call("auth_register", client=anonymous, body=account)
        assert isinstance(ada, models.UserRead)
        form = models.LoginForm(username="ada", password=PASSWORD)
        tokens = await api.call("auth_login", client=anonymous, body=form)
        assert isinstance(tokens, models.Token)
        async with api.client(tokens.access_token) as signed_in:
            profile = await api.call("profile_get", client=signed_in)
            assert (profile.id, profile.username) == (ada.id, "ada")
            kept, dropped = await _write_posts(api, signed_in)
        await _read_problems(api, anonymous, missing_post_id=dropped.id)

        walked = await api.walk("posts_list", client=anonymous, per_page=2)
        listed = await api.call("posts_list", client=anonymous, per_page=100)
        assert [post.id for page in walked for post in page.items] == [
            post.id for post in listed.items
        ]
        assert len(walked) >= 3
        assert kept.id in {post.id for post in listed.items} - {dropped.id}

        refresh = models.RefreshRequest(refresh_token=tokens.refresh_token)
        refreshed = await api.call("auth_refresh_token", client=anonymous, body=refresh)
        assert isinstance(refreshed, models.Token)
        assert refreshed.refresh_token != tokens.refresh_token
        form = models.LoginForm(username=admin.username, password=DEFAULT_PASSWORD)
        admin_tokens = await api.call("auth_login", client=anonymous, body=form)

    async with api.client(admin_tokens.access_token) as superuser:
        await _list_movies(api, superuser)

    async with api.client(refreshed.access_token) as signed_in:
        assert (await api.call("profile_get", client=signed_in)).id == ada.id
        assert await api.status_of("auth_logout", client=signed_in) == 204  # no body
        signed_out = await api.call("profile_get", client=signed_in)
        assert isinstance(signed_out, models.Problem)
        assert signed_out.status == 401


async def _write_posts(api: GeneratedClient, signed_in: Any) -> tuple[Any, Any]:
    """Two new posts, the first edited, the second deleted."""
    models = api.models
    kept, dropped = [
        await api.call(
            "posts_create", client=signed_in, body=models.PostCreate(title=title, content="Hi")
        )
        for title in ("Kept", "Dropped")
    ]
    assert isinstance(kept, models.PostRead)
    edit = models.PostUpdate(title="Kept, edited")
    edited = await api.call("posts_update", client=signed_in, post_id=kept.id, body=edit)
    assert (edited.title, edited.content) == ("Kept, edited", "Hi")
    assert await api.status_of("posts_delete", client=signed_in, post_id=dropped.id) == 204
    return kept, dropped


async def _read_problems(api: GeneratedClient, anonymous: Any, missing_post_id: int) -> None:
    """A 404 and a 422, parsed into the generated problem models."""
    models = api.models
    missing = await api.call("posts_get", client=anonymous, post_id=missing_post_id)
    assert isinstance(missing, models.Problem)
    assert (missing.status, missing.instance) == (404, f"/api/v1/posts/{missing_post_id}")
    invalid = await api.call("posts_list", client=anonymous, per_page=1000)
    assert isinstance(invalid, models.ValidationProblem)
    assert invalid.status == 422
    assert [issue.loc for issue in invalid.errors] == [["query", "per_page"]]


async def _list_movies(api: GeneratedClient, superuser: Any) -> None:
    """A superuser adds three movies, then lists two of them by a filter, best rated first."""
    models = api.models
    for title, released, rating in (
        ("Clientfilm A", 1995, 7.5),
        ("Clientfilm B", 2005, 8.1),
        ("Clientfilm C", 2010, 6.2),
    ):
        movie = models.MovieCreate(title=title, released=released, rating=rating)
        assert isinstance(
            await api.call("movies_create", client=superuser, body=movie), models.MovieRead
        )
    movies = await api.call(
        "movies_list",
        client=superuser,
        sort="rating:desc",
        filters="title:contains:Clientfilm,released:gte:2000",
    )
    assert [movie.title for movie in movies.items] == ["Clientfilm B", "Clientfilm C"]
    assert movies.total == 2
