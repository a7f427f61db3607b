"""Running the real app inside a test: its lifespan, an ASGI client, and the clean-up
of outbox rows that real commits (outside the test's transaction) leave behind."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, cast

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.cache_lease import LEASE_KEY
from app.core.event_deliveries import EventDeliveries, EventDelivery
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


def replace_listeners(app: FastAPI, *listeners: Listener) -> EventBus:
    """From now on, the app dispatches its events to `listeners` only; the bus it had is
    returned, for `restore_listeners`."""
    provided = provided_by(app)
    own = provided.get(EventBus)
    EventBus(listeners, provided)  # the bus provides itself, replacing the modules'
    return own


def restore_listeners(app: FastAPI, bus: EventBus) -> None:
    """The app dispatches its events to `bus` again (as before `replace_listeners`)."""
    provided = provided_by(app)
    provided.add(EventBus, bus)
    provided.get(EventDeliveries).attach(bus.deliver)


async def grant_cache_lease(redis: Redis, seconds: int = 3600) -> None:
    """Trust the Redis cache of `redis` for `seconds`, with no renewal before then."""
    await redis.set(LEASE_KEY, f"{time.time() + seconds:.3f}", ex=seconds)


class SharedAppSessions:
    """The session factory of the tests' shared app: each test binds it, for its duration,
    to a factory of its own (one bound to the test's transaction)."""

    def __init__(self) -> None:
        self._bound: async_sessionmaker[AsyncSession] | None = None

    @property
    def kw(self) -> dict[str, Any]:
        return self._current().kw

    def __call__(self, **local_kw: Any) -> AsyncSession:
        return self._current()(**local_kw)

    def _current(self) -> async_sessionmaker[AsyncSession]:
        if self._bound is None:
            raise RuntimeError("the shared app reached the database outside a test")
        return self._bound

    def as_factory(self) -> async_sessionmaker[AsyncSession]:
        """This object, typed as what `Database` takes (it answers the same calls)."""
        return cast(async_sessionmaker[AsyncSession], self)

    @contextmanager
    def bound_to(self, factory: async_sessionmaker[AsyncSession]) -> Iterator[None]:
        self._bound = factory
        try:
            yield
        finally:
            self._bound = None


@dataclass(frozen=True)
class AppShape:
    """What a test could change of a shared app: its routes, its dependency overrides, the
    objects it provides (listeners come with the event bus) and its state."""

    routes: tuple[int, ...]
    overrides: tuple[tuple[int, int], ...]
    provided: tuple[tuple[str, int], ...]
    state: tuple[str, ...]

    @classmethod
    def of(cls, app: FastAPI) -> AppShape:
        provided = provided_by(app)
        return cls(
            routes=tuple(map(id, app.router.routes)),
            overrides=tuple((id(k), id(v)) for k, v in app.dependency_overrides.items()),
            provided=tuple(
                (kind.__qualname__, id(provided.find(kind))) for kind in provided.kinds()
            ),
            state=tuple(sorted(vars(app.state)["_state"])),
        )


@contextmanager
def unchanged(app: FastAPI, test: str) -> Iterator[None]:
    """Fail `test` if it changed the shared `app`: it must be marked `own_app`."""
    before = AppShape.of(app)
    yield
    assert AppShape.of(app) == before, f"{test} changes the shared app: mark it own_app"
