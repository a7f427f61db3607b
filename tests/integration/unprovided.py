"""A task and a listener asking for a service nothing provides (the task loaded through
`QUEUE_TASK_MODULES`, the listener as a module's listeners are)."""

from __future__ import annotations

from app.auth import UserDeleted
from app.core.events import listener
from app.core.injection import Provide
from app.core.queue import task

MODULE = __name__


class Unprovided:
    """A service no process registers."""


@task()
async def needs_the_unprovided(number: int, service: Provide[Unprovided]) -> None:
    return None


@listener(UserDeleted)
async def hears_the_unprovided(event: UserDeleted, service: Provide[Unprovided]) -> None:
    return None
