"""A task asking for a service nothing provides (loaded through `QUEUE_TASK_MODULES`)."""

from __future__ import annotations

from app.core.injection import Provide
from app.core.queue import task

MODULE = __name__


class Unprovided:
    """A service no process registers."""


@task()
async def needs_the_unprovided(number: int, service: Provide[Unprovided]) -> None:
    return None
