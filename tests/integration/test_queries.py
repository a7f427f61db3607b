"""Reads are queries: no GET route opens an ORM session (nor a unit of work); a write
opens exactly one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import User
from app.core.db import Database
from app.core.injection import provided_by
from tests.factories import create_movie, create_post

API = "/api/v1"


@pytest.fixture
def opened_sessions(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[AsyncSession]:
    """The ORM sessions the app opens from now on (its session factory, counting)."""
    opened: list[AsyncSession] = []

    class CountedSession(AsyncSession):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            opened.append(self)
            super().__init__(*args, **kwargs)

    database = provided_by(app).get(Database)
    counting = async_sessionmaker(class_=CountedSession, **database.session_factory.kw)
    monkeypatch.setattr(database, "session_factory", counting)
    return opened


@pytest.mark.own_app  # replaces the app's session factory
async def test_get_routes_open_no_session_and_a_write_opens_one(
    client: httpx.AsyncClient,
    session: AsyncSession,
    superuser: User,
    admin_headers: dict[str, str],
    opened_sessions: list[AsyncSession],
) -> None:
    post = await create_post(session, superuser.id)
    movie = await create_movie(session)
    reads = [
        "/posts",
        f"/posts/{post.id}",
        "/posts/999999",
        "/movies",
        f"/movies/{movie.movie_id}",
        f"/movies/{movie.movie_id}",  # from the cache this time
        "/movies/new?year=1900&rating=0",
        "/users",
        f"/users/{superuser.id}",
        "/profile",
    ]
    for path in reads:
        response = await client.get(API + path, headers=admin_headers)
        assert response.status_code in {200, 404}, (path, response.text)
        assert opened_sessions == [], path

    created = await client.post(
        f"{API}/posts", json={"title": "t", "content": "c"}, headers=admin_headers
    )
    assert created.status_code == 201
    assert len(opened_sessions) == 1
