"""Events and a task for the events tests (the task is loaded through `QUEUE_TASK_MODULES`)."""

from __future__ import annotations

from app.core.events import BaseEvent
from app.core.queue import TaskEventsDep, task

MODULE = __name__


class ThingHappened(BaseEvent):
    thing_id: int


class FollowUpHappened(BaseEvent):
    thing_id: int


@task()
async def publish_thing(thing_id: int, events: TaskEventsDep) -> None:
    """A task that raises an event, dispatched when the task's unit of work commits."""
    events.publish(ThingHappened(thing_id=thing_id))
