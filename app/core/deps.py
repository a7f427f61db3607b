"""Annotated dependency aliases: route signatures read like a sentence.

The services come through `Provide[T]` (`app.core.injection`), the same declaration a
task or a listener makes; the rest are built per request from them. The composite ones
are `async def` on purpose: FastAPI runs a plain `def` dependency in a thread pool, a hop
per dependency on every request for no blocking work at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.cache import Cache, RequestCache
from app.core.config import Settings
from app.core.db import Database, UnitOfWork
from app.core.events import EventBus, Events
from app.core.injection import Provide
from app.core.mail import Mailer, MailService
from app.core.queue import Queue, TaskOutbox

SettingsDep = Provide[Settings]
# The process's database, for the read side: a query opens `reading()` when it needs a
# connection (a cache hit needs none); writes take a unit of work instead.
DatabaseDep = Provide[Database]
# The process's cache (Redis-backed when `REDIS_URL` is set).
CacheDep = Provide[Cache]


async def get_request_cache(cache: CacheDep) -> RequestCache:
    """The cache as this request sees it: the caller check and a cached read that the
    route announced share one round trip."""
    return cache.for_request()


RequestCacheDep = Annotated[RequestCache, Depends(get_request_cache)]


async def get_read_connection(database: DatabaseDep) -> AsyncIterator[AsyncConnection]:
    """A read connection (`Database.reading`) for the request, given back once the
    handler returns."""
    async with database.reading() as connection:
        yield connection


ReadConnectionDep = Annotated[AsyncConnection, Depends(get_read_connection, scope="function")]


async def get_unit_of_work(database: DatabaseDep) -> AsyncIterator[UnitOfWork]:
    """Commit once after the handler returns (before the response), roll back on error."""
    async with database.unit_of_work() as uow:
        yield uow


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]


async def get_session(uow: UnitOfWorkDep) -> AsyncSession:
    return uow.session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_events(bus: Provide[EventBus], uow: UnitOfWorkDep) -> Events:
    """Events published in this request, dispatched after its commit."""
    return Events(bus, uow)


EventsDep = Annotated[Events, Depends(get_events)]


async def get_queue(outbox: Provide[TaskOutbox], uow: UnitOfWorkDep) -> Queue:
    """Tasks enqueued in this request's transaction, sent after its commit."""
    return Queue(uow, outbox)


QueueDep = Annotated[Queue, Depends(get_queue)]


async def get_mailer(mail: Provide[MailService], queue: QueueDep) -> Mailer:
    """Emails rendered now and delivered by a queue task after this request's commit."""
    return Mailer(mail, queue)


MailDep = Annotated[Mailer, Depends(get_mailer)]
