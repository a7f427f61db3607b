"""Annotated dependency aliases: route signatures read like a sentence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import UnitOfWork
from app.core.services import CoreServices


def get_services(request: Request) -> CoreServices:
    services: CoreServices = request.app.state.services
    return services


ServicesDep = Annotated[CoreServices, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_unit_of_work(services: ServicesDep) -> AsyncIterator[UnitOfWork]:
    """Commit once after the handler returns (before the response), roll back on error."""
    async with services.session_factory() as session:
        uow = UnitOfWork(session)
        try:
            yield uow
        except BaseException:
            await uow.rollback()
            raise
        await uow.commit()


SettingsDep = Annotated[Settings, Depends(get_settings)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]


def get_session(uow: UnitOfWorkDep) -> AsyncSession:
    return uow.session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
