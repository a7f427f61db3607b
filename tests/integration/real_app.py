"""The real app on the real engine (real commits, lifespan run), for mail and events tests.

Tasks run after commits that other connections must see, so these tests
cannot use the savepoint-bound `app`; they delete the outbox rows they made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.injection import Provided
from app.main import create_app
from tests.apps import outbox_rows_removed, started


@asynccontextmanager
async def running_app(
    settings: Settings, engine: AsyncEngine, *routers: APIRouter, provided: Provided | None = None
) -> AsyncIterator[FastAPI]:
    app = create_app(settings, provided=provided)
    for router in routers:
        app.include_router(router)
    # The rows go after the lifespan: in-process tasks (and their retries) are done by then.
    async with outbox_rows_removed(engine), started(app):
        yield app
