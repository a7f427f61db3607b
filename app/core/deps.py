"""Annotated dependency aliases: route signatures read like a sentence.

The trivial ones are `async def` on purpose: FastAPI runs a plain `def` dependency in a
thread pool, a hop per dependency on every request for no blocking work at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache import Cache
from app.core.config import Settings
from app.core.db import UnitOfWork
from app.core.events import Events
from app.core.mail.mailer import Mailer
from app.core.queue import Queue
from app.core.services import CoreServices


async def get_services(request: Request) -> CoreServices:
    services: CoreServices = request.app.state.services
    return services


ServicesDep = Annotated[CoreServices, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_unit_of_work(services: ServicesDep) -> AsyncIterator[UnitOfWork]:
    """Commit once after the handler returns (before the response), roll back on error."""
    async with services.unit_of_work() as uow:
        yield uow


SettingsDep = Annotated[Settings, Depends(get_settings)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]


async def get_session(uow: UnitOfWorkDep) -> AsyncSession:
    return uow.session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_events(services: ServicesDep, uow: UnitOfWorkDep) -> Events:
    """Events published in this request, dispatched after its commit."""
    return Events(services, uow)


EventsDep = Annotated[Events, Depends(get_events)]


async def get_queue(services: ServicesDep, uow: UnitOfWorkDep) -> Queue:
    """Tasks enqueued in this request's transaction, sent after its commit."""
    return Queue(uow, services.queue)


QueueDep = Annotated[Queue, Depends(get_queue)]


async def get_mailer(services: ServicesDep, queue: QueueDep) -> Mailer:
    """Emails rendered now and delivered by a queue task after this request's commit."""
    return Mailer(services.mail, queue)


MailDep = Annotated[Mailer, Depends(get_mailer)]


async def get_cache(services: ServicesDep) -> Cache:
    """The process's cache (Redis-backed when `REDIS_URL` is set)."""
    return services.cache


CacheDep = Annotated[Cache, Depends(get_cache)]
