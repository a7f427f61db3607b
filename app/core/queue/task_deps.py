"""What a task may ask for, injected by taskiq (`TaskiqDepends`), not by FastAPI.

A task names each service it needs as a typed parameter, e.g.
`mail: Annotated[MailService, injected(MailService)]`, or uses the aliases below.
The process's composition root puts its `Provided` on the broker's state; nothing
else of the process is reachable from a task.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeVar, cast

from taskiq import Context, TaskiqDepends

from app.core.db import Database, UnitOfWork
from app.core.events import EventBus, Events
from app.core.injection import Provided

T = TypeVar("T")

PROVIDED_STATE = "provided"


def provided_of(context: Context) -> Provided:
    return cast(Provided, getattr(context.state, PROVIDED_STATE))


def injected(kind: type[T]) -> Any:
    """A taskiq dependency on the process's one `kind` (`Database`, `MailService`, ...)."""

    def get(context: Annotated[Context, TaskiqDepends()]) -> T:
        return provided_of(context).get(kind)

    return TaskiqDepends(get)


async def get_task_unit_of_work(
    database: Annotated[Database, injected(Database)],
) -> AsyncIterator[UnitOfWork]:
    """A unit of work that commits after the task returns and rolls back if it raises."""
    async with database.unit_of_work() as uow:
        yield uow


TaskUnitOfWorkDep = Annotated[UnitOfWork, TaskiqDepends(get_task_unit_of_work)]


def get_task_events(bus: Annotated[EventBus, injected(EventBus)], uow: TaskUnitOfWorkDep) -> Events:
    """Events published in the task's transaction, dispatched after its commit."""
    return Events(bus, uow)


TaskEventsDep = Annotated[Events, TaskiqDepends(get_task_events)]
