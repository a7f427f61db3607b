"""The shared core services of one process, built from `Settings`.

The app's lifespan and the worker's start-up build the same `CoreServices`,
so a request handler and a background task see the same kinds of objects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.cache import Cache
from app.core.config import Settings
from app.core.db import UnitOfWork, create_engine, create_session_factory
from app.core.events import EventsService, Listener
from app.core.mail.service import MailService
from app.core.queue.service import QueueService
from app.core.rate_limit import RateLimiter
from app.core.redis import create_redis, create_request_redis


@dataclass
class CoreServices:
    """One instance of each core service; nothing here is created at import time."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: Redis | None
    # Short timeouts: what a request waits for Redis in the cache and the rate limiter.
    request_redis: Redis | None
    cache: Cache
    rate_limiter: RateLimiter
    queue: QueueService
    mail: MailService
    events: EventsService

    @classmethod
    async def start(
        cls, settings: Settings, *, listeners: Iterable[Listener[Any]] = ()
    ) -> CoreServices:
        """`listeners`: the modules' event listeners, collected by the composition root."""
        engine = create_engine(settings)
        request_redis = create_request_redis(settings)
        session_factory = create_session_factory(engine)
        services = cls(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            redis=create_redis(settings),
            request_redis=request_redis,
            cache=Cache.from_settings(settings, request_redis, session_factory),
            rate_limiter=RateLimiter(settings, request_redis),
            queue=QueueService(settings),
            mail=MailService(settings),
            events=EventsService(listeners),
        )
        services.queue.attach(services)
        return services

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """One transaction (a request's, a task's, a listener's): commit, or roll back on error."""
        async with self.session_factory() as session:
            uow = UnitOfWork(session)
            try:
                yield uow
            except BaseException:
                await uow.rollback()
                raise
            await uow.commit()

    async def close(self) -> None:
        await self.queue.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.request_redis is not None:
            await self.request_redis.aclose()
        await self.engine.dispose()
