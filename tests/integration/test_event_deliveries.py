"""Durable events between modules: retried, dead-lettered, and not lost with a killed process.

These tests commit for real (on the engine, not the test's transaction) and remove what
they wrote.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth import UserDeleted
from app.auth.models import User
from app.core.config import Settings
from app.core.db import Database, utc_now
from app.core.event_deliveries import EventDeliveries, EventDelivery
from app.core.events import EventBus, Events, listener
from app.core.injection import provided_by
from app.posts.models import Post
from tests.apps import client_of, outbox_rows_removed, replace_listeners
from tests.factories import create_post, create_user
from tests.integration.accounts import API, bearer, login
from tests.integration.queue.conftest import settings_env, wait_for
from tests.integration.real_app import running_app
from tests.integration.relay_passes import a_whole_relay_pass
from tests.processes import free_port, start_app_process, stop, wait_until_ready

RETRY_DELAY = 0.2
ATTEMPTS = 3


@pytest.fixture
async def retrying_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """The real app in embedded mode (its relay runs in-process), with short backoffs."""
    embedded = settings.model_copy(
        update={
            "redis_url": "",
            "queue_poll_interval": 0.02,
            "queue_retry_delay": RETRY_DELAY,
            "queue_task_retries": ATTEMPTS - 1,
        }
    )
    async with running_app(embedded, engine) as app:
        yield app


async def dead_letters_on_metrics(client: httpx.AsyncClient) -> float:
    metrics = (await client.get("/metrics")).text
    found = re.search(r"^events_deliveries_dead_lettered (\S+)$", metrics, re.MULTILINE)
    assert found, metrics
    return float(found[1])


async def test_a_failing_listener_is_retried_with_backoff_then_dead_lettered(
    retrying_app: FastAPI, engine: AsyncEngine
) -> None:
    attempts: list[float] = []

    @listener(UserDeleted)
    async def always_failing(event: UserDeleted) -> None:
        attempts.append(time.monotonic())
        raise RuntimeError("a bug in a listener")

    replace_listeners(retrying_app, always_failing)
    provided = provided_by(retrying_app)
    async with client_of(retrying_app) as client:
        dead_before = await dead_letters_on_metrics(client)
        async with provided.get(Database).unit_of_work() as uow:
            Events(provided.get(EventBus), uow).publish(UserDeleted(user_id=-1))

        async def dead_letter() -> EventDelivery | None:
            async with AsyncSession(engine) as session:
                return await session.scalar(
                    select(EventDelivery).where(
                        EventDelivery.payload["user_id"].as_integer() == -1,
                        EventDelivery.dead_at.is_not(None),
                    )
                )

        async def dead_lettered() -> bool:
            return await dead_letter() is not None

        await wait_for(dead_lettered, seconds=10, what="the delivery dead-lettered")
        row = await dead_letter()
        assert row is not None
        assert await dead_letters_on_metrics(client) == dead_before + 1
        await a_whole_relay_pass(client)  # a dead letter is never attempted again

    assert len(attempts) == ATTEMPTS == row.attempts
    assert row.available_at is None
    assert row.last_error == "RuntimeError: a bug in a listener"
    # Each retry waited its backoff: the delay, then twice it (jitter only adds).
    waits = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert waits[0] >= RETRY_DELAY
    assert waits[1] >= 2 * RETRY_DELAY


async def test_delivered_events_are_purged_after_the_retention_and_dead_letters_kept(
    app: FastAPI, session: AsyncSession
) -> None:
    long_ago = utc_now() - dt.timedelta(hours=2)

    def delivery(**state: object) -> EventDelivery:
        return EventDelivery(
            event_id="e", event_name="n", listener="l", payload={}, attempts=1, **state
        )

    session.add_all(
        [
            old := delivery(delivered_at=long_ago),
            recent := delivery(delivered_at=utc_now()),
            dead := delivery(dead_at=long_ago),
        ]
    )
    await session.flush()

    removed = await provided_by(app).get(EventDeliveries).purge_delivered(dt.timedelta(hours=1))

    assert removed == 1
    left = set(await session.scalars(select(EventDelivery.id)))
    assert left == {recent.id, dead.id}
    assert old.id not in left


@pytest.fixture
async def author_with_posts(engine: AsyncEngine) -> AsyncIterator[tuple[User, User, list[int]]]:
    """A superuser, and an author with two posts, committed; removed afterwards."""
    async with outbox_rows_removed(engine):
        async with AsyncSession(engine, expire_on_commit=False) as session:
            admin = await create_user(session, is_superuser=True)
            author = await create_user(session)
            posts = [(await create_post(session, author.id)).id for _ in range(2)]
            await session.commit()
        yield admin, author, posts
    async with engine.begin() as connection:
        await connection.execute(delete(Post).where(Post.user_id == author.id))
        await connection.execute(delete(User).where(User.id.in_([admin.id, author.id])))


async def listener_waits_on_a_lock(engine: AsyncEngine) -> bool:
    """Whether a backend's UPDATE of the posts waits for a lock (the ones held here)."""
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE posts%'"
            )
        )
    return bool(waiting)


@pytest.mark.runs_long
async def test_a_process_killed_before_the_listener_ran_loses_no_event(
    settings: Settings,
    engine: AsyncEngine,
    author_with_posts: tuple[User, User, list[int]],
    tmp_path: Path,
) -> None:
    """auth commits the deletion; posts' listener is blocked on the posts' row locks, held
    here; the API is SIGKILLed then. Restarted, it hides the posts."""
    if engine.dialect.name != "postgresql":
        pytest.skip("holds PostgreSQL row locks")
    admin, author, posts = author_with_posts
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = settings_env(settings) | {
        "REDIS_URL": "",  # embedded: the restarted app's own relay takes over
        "QUEUE_UNACKNOWLEDGED_LOCK_TIMEOUT": "1",
        "QUEUE_POLL_INTERVAL": "0.05",
        "RATE_LIMIT_ENABLED": "false",
    }
    args = ["serve", "--port", str(port), "--no-migrate"]

    def serve(log: str) -> subprocess.Popen[bytes]:
        return start_app_process(args, env=env, log=tmp_path / log)

    api = serve("first.log")
    try:
        await wait_until_ready(f"{url}/health/live", api, seconds=60)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            token = (await login(client, admin.username))["access_token"]
            async with engine.connect() as locker:
                await locker.execute(
                    text("SELECT id FROM posts WHERE user_id = :id FOR UPDATE"), {"id": author.id}
                )
                deleting = asyncio.create_task(
                    client.delete(f"{API}/users/{author.id}", headers=bearer(token))
                )
                await wait_for(
                    lambda: listener_waits_on_a_lock(engine),
                    seconds=30,
                    what="the listener blocked on the posts' rows",
                )
                assert not deleting.done()  # the response waits for the listener
                os.kill(api.pid, signal.SIGKILL)
                api.wait()
                await locker.rollback()
            with pytest.raises(httpx.TransportError):
                await deleting
    finally:
        stop(api)

    async with engine.connect() as connection:
        deleted_user = await connection.scalar(select(User.deleted_at).where(User.id == author.id))
        visible = await connection.scalar(
            select(Post.id).where(Post.user_id == author.id, Post.deleted_at.is_(None)).limit(1)
        )
    assert deleted_user is not None, "auth's commit was not done before the kill"
    assert visible is not None, "the listener ran before the kill"

    api = serve("second.log")
    try:
        await wait_until_ready(f"{url}/health/live", api, seconds=60)
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:

            async def hidden() -> bool:
                found = [await client.get(f"{API}/posts/{post_id}") for post_id in posts]
                return [response.status_code for response in found] == [404, 404]

            await wait_for(hidden, seconds=30, what="the deleted user's posts hidden")
    finally:
        stop(api)
