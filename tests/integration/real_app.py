"""The real app on the real engine (real commits, lifespan run), for mail and events tests.

Tasks run after commits that other connections must see, so these tests
cannot use the savepoint-bound `app`; they delete the outbox rows they made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.queue.outbox import OutboxMessage
from app.main import create_app


@asynccontextmanager
async def running_app(
    settings: Settings, engine: AsyncEngine, *routers: APIRouter
) -> AsyncIterator[FastAPI]:
    async with engine.connect() as connection:
        last_id = await connection.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))
    app = create_app(settings)
    for router in routers:
        app.include_router(router)
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:  # after the lifespan: in-process tasks (and their retries) are done by then
        async with engine.begin() as connection:
            await connection.execute(delete(OutboxMessage).where(OutboxMessage.id > last_id))


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
