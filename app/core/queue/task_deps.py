"""What a task may ask for besides `Provide[T]`: its own unit of work and events.

A task names each service it needs as a typed parameter, `mail: Provide[MailService]`,
as a route or a listener does (see `app.core.injection`); taskiq resolves it from the
registry the composition root puts on the broker's state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from taskiq_dependencies import Depends as TaskiqDepends

from app.core.db import Database, UnitOfWork
from app.core.events import EventBus, Events
from app.core.injection import Provide


async def get_task_unit_of_work(database: Provide[Database]) -> AsyncIterator[UnitOfWork]:
    """A unit of work that commits after the task returns and rolls back if it raises."""
    async with database.unit_of_work() as uow:
        yield uow


TaskUnitOfWorkDep = Annotated[UnitOfWork, TaskiqDepends(get_task_unit_of_work)]


def get_task_events(bus: Provide[EventBus], uow: TaskUnitOfWorkDep) -> Events:
    """Events published in the task's transaction, dispatched after its commit."""
    return Events(bus, uow)


TaskEventsDep = Annotated[Events, TaskiqDepends(get_task_events)]
