"""When a user is deleted their posts vanish from every read (the `UserDeleted` listener)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import UserDeleted
from app.auth.models import User
from app.core.db import Database, UnitOfWork, utc_now
from app.core.event_deliveries import EventDeliveries, EventDelivery
from app.core.events import EventBus, Events
from app.core.injection import provided_by
from app.posts import listeners
from tests.factories import create_post, create_user
from tests.integration.accounts import API, delete_profile

POSTS = f"{API}/posts"


async def titles_on_the_list(client: httpx.AsyncClient) -> list[str]:
    return [post["title"] for post in (await client.get(POSTS)).json()["items"]]


async def test_deleting_a_profile_hides_its_posts(
    client: httpx.AsyncClient, user: User, user_headers: dict[str, str], session: AsyncSession
) -> None:
    other = await create_user(session)
    await create_post(session, other.id, title="stays")
    mine = await client.post(POSTS, json={"title": "goes", "content": "x"}, headers=user_headers)
    # One test transaction, one created_at: the later id is the newer post.
    assert await titles_on_the_list(client) == ["goes", "stays"]

    assert (await delete_profile(client, user_headers)).status_code == 204

    assert await titles_on_the_list(client) == ["stays"]
    assert (await client.get(f"{POSTS}/{mine.json()['id']}")).status_code == 404


async def test_a_superuser_deleting_a_user_hides_their_posts(
    client: httpx.AsyncClient, admin_headers: dict[str, str], session: AsyncSession
) -> None:
    author = await create_user(session)
    post = await create_post(session, author.id)

    deleted = await client.delete(f"{API}/users/{author.id}", headers=admin_headers)

    assert deleted.status_code == 204
    assert (await client.get(f"{POSTS}/{post.id}")).status_code == 404


async def test_an_event_from_outside_a_request_hides_posts_too(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A worker or the CLI publishes on its own unit of work; listeners run after its commit."""
    author = await create_user(session)
    post = await create_post(session, author.id)
    database, bus = provided_by(app).get(Database), provided_by(app).get(EventBus)

    async with database.unit_of_work() as uow:
        Events(bus, uow).publish(UserDeleted(user_id=author.id))

    assert (await client.get(f"{POSTS}/{post.id}")).status_code == 404


async def test_a_failing_listener_is_retried_by_the_relay(
    app: FastAPI,
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post = (
        await client.post(POSTS, json={"title": "t", "content": "x"}, headers=user_headers)
    ).json()

    async def database_hiccup(uow: UnitOfWork, user_id: int) -> int:
        raise ConnectionError("database hiccup")

    monkeypatch.setattr(listeners, "hide_posts_of_user", database_hiccup)
    assert (await delete_profile(client, user_headers)).status_code == 204
    assert (await client.get(f"{POSTS}/{post['id']}")).status_code == 200

    [delivery] = await session.scalars(select(EventDelivery))
    assert delivery.event_name == UserDeleted.event_name()
    assert delivery.payload == {"user_id": post["user_id"]}
    assert delivery.listener.endswith("listeners:hide_posts_of_deleted_user")
    assert delivery.last_error == "ConnectionError: database hiccup"
    assert delivery.available_at is not None
    assert delivery.available_at > utc_now()  # retried after a backoff, not at once

    monkeypatch.undo()
    await session.execute(update(EventDelivery).values(available_at=utc_now()))
    assert await provided_by(app).get(EventDeliveries).relay() == 1
    assert (await client.get(f"{POSTS}/{post['id']}")).status_code == 404
    await session.refresh(delivery)
    assert delivery.attempts == 2
    assert delivery.available_at is None
    assert delivery.delivered_at is not None
