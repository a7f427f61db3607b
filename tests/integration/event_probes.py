"""Events and a task for the events tests (the task is loaded through `QUEUE_TASK_MODULES`)."""

from __future__ import annotations

from app.core.events import BaseEvent, Events
from app.core.queue import TaskServicesDep, TaskUnitOfWorkDep, task

MODULE = __name__


class ThingHappened(BaseEvent):
    thing_id: int


class FollowUpHappened(BaseEvent):
    thing_id: int


@task()
async def publish_thing(thing_id: int, services: TaskServicesDep, uow: TaskUnitOfWorkDep) -> None:
    """A task that raises an event, dispatched when the task's unit of work commits."""
    Events(services, uow).publish(ThingHappened(thing_id=thing_id))
