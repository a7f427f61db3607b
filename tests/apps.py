"""Running the real app inside a test: its lifespan, an ASGI client, and the clean-up
of outbox rows that real commits (outside the test's transaction) leave behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.queue.outbox import OutboxMessage


@asynccontextmanager
async def started(
    app: FastAPI, *, session_factory: async_sessionmaker[AsyncSession] | None = None
) -> AsyncIterator[FastAPI]:
    """Run the app's lifespan; with `session_factory`, its sessions join the test's transaction."""
    async with app.router.lifespan_context(app):
        if session_factory is not None:
            app.state.services.session_factory = session_factory
        yield app


@asynccontextmanager
async def client_of(app: FastAPI, peer: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests reach the app from the peer address `peer`."""
    transport = httpx.ASGITransport(app=app, client=(peer, 40_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@asynccontextmanager
async def serving(
    app: FastAPI, *, session_factory: async_sessionmaker[AsyncSession] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app started, and a client for it."""
    async with started(app, session_factory=session_factory), client_of(app) as client:
        yield client


@asynccontextmanager
async def outbox_rows_removed(engine: AsyncEngine) -> AsyncIterator[None]:
    """On exit, delete every outbox row written meanwhile by real commits."""
    async with engine.connect() as connection:
        last_id = await connection.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))
    try:
        yield
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(OutboxMessage).where(OutboxMessage.id > last_id))
