"""Running the real app inside a test: its lifespan, an ASGI client, and the clean-up
of outbox rows that real commits (outside the test's transaction) leave behind."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.cache_lease import LEASE_KEY
from app.core.event_deliveries import EventDelivery
from app.core.events import EventBus, Listener
from app.core.injection import provided_by
from app.core.queue.outbox import OutboxMessage


@asynccontextmanager
async def started(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Run the app's lifespan."""
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def client_of(app: FastAPI, peer: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests reach the app from the peer address `peer`."""
    transport = httpx.ASGITransport(app=app, client=(peer, 40_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app started, and a client for it."""
    async with started(app), client_of(app) as client:
        yield client


@asynccontextmanager
async def outbox_rows_removed(engine: AsyncEngine) -> AsyncIterator[None]:
    """On exit, delete every outbox row (tasks and event deliveries) written meanwhile by
    real commits."""
    ids = (OutboxMessage.id, EventDelivery.id)
    async with engine.connect() as connection:
        last_ids = [await connection.scalar(select(func.coalesce(func.max(id_), 0))) for id_ in ids]
    try:
        yield
    finally:
        async with engine.begin() as connection:
            for id_, last_id in zip(ids, last_ids, strict=True):
                await connection.execute(delete(id_.table).where(id_ > last_id))


def replace_listeners(app: FastAPI, *listeners: Listener) -> None:
    """From now on, the app dispatches its events to `listeners` only."""
    EventBus(listeners, provided_by(app))  # the bus provides itself, replacing the modules'


async def grant_cache_lease(redis: Redis, seconds: int = 3600) -> None:
    """Trust the Redis cache of `redis` for `seconds`, with no renewal before then."""
    await redis.set(LEASE_KEY, f"{time.time() + seconds:.3f}", ex=seconds)
