"""The task queue: `@task` functions, enqueued through a transactional outbox, run by taskiq.

Public API:
- `task(retries=, schedule=)` marks an async function as a task.
- `Queue(uow, services.queue).enqueue(fn, **kwargs)` (or `QueueDep` in a route)
  writes the call in the unit of work's transaction; it is sent after the commit.
- `TaskServicesDep`, `TaskUnitOfWorkDep`: what a task may ask for (taskiq DI).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from app.core.queue.registry import NotATaskError, TaskOptions, task, task_options, tasks_in
from app.core.queue.service import Queue, QueueService

if TYPE_CHECKING:
    from app.core.queue.deps import TaskServicesDep, TaskUnitOfWorkDep

__all__ = [
    "NotATaskError",
    "Queue",
    "QueueService",
    "TaskOptions",
    "TaskServicesDep",
    "TaskUnitOfWorkDep",
    "task",
    "task_options",
    "tasks_in",
]

_TASK_DEPENDENCIES = {"TaskServicesDep", "TaskUnitOfWorkDep"}


def __getattr__(name: str) -> Any:
    # The task dependencies need `CoreServices`, whose module imports this package:
    # loading them on first use keeps `app.core.services` importable in any order.
    if name in _TASK_DEPENDENCIES:
        return getattr(importlib.import_module("app.core.queue.deps"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
