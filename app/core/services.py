"""The shared core services of one process, built from `Settings`.

The app's lifespan and the worker's start-up build the same `CoreServices`,
so a request handler and a background task see the same kinds of objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import create_engine, create_session_factory
from app.core.redis import create_redis


@dataclass
class CoreServices:
    """One instance of each core service; nothing here is created at import time."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: Redis | None

    @classmethod
    async def start(cls, settings: Settings) -> CoreServices:
        engine = create_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=create_session_factory(engine),
            redis=create_redis(settings),
        )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()
