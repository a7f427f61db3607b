"""Dependencies of tasks, injected by taskiq (`TaskiqDepends`), not by FastAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

from taskiq import Context, TaskiqDepends

from app.core.db import UnitOfWork
from app.core.services import CoreServices


def get_task_services(context: Annotated[Context, TaskiqDepends()]) -> CoreServices:
    """The `CoreServices` of the process running the task."""
    return cast(CoreServices, context.state.services)


TaskServicesDep = Annotated[CoreServices, TaskiqDepends(get_task_services)]


async def get_task_unit_of_work(services: TaskServicesDep) -> AsyncIterator[UnitOfWork]:
    """A unit of work that commits after the task returns and rolls back if it raises."""
    async with services.unit_of_work() as uow:
        yield uow


TaskUnitOfWorkDep = Annotated[UnitOfWork, TaskiqDepends(get_task_unit_of_work)]
