"""Annotated dependency aliases: route signatures read like a sentence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import UnitOfWork


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """Commit once after the handler returns (before the response), roll back on error."""
    async with request.app.state.session_factory() as session:
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
