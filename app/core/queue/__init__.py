"""The task queue: `@task` functions, enqueued through a transactional outbox, run by taskiq.

Public API:
- `task(retries=, schedule=)` marks an async function as a task.
- `Queue(uow, broker).enqueue(fn, **kwargs)` (or `QueueDep` in a route) writes the call
  in the unit of work's transaction; it is sent after the commit.
- `TaskUnitOfWorkDep`, `TaskEventsDep`: what a task may ask for besides `Provide[T]`
  (taskiq DI).
"""

from app.core.queue.registry import NotATaskError, TaskOptions, task, task_options, tasks_in
from app.core.queue.task_broker import Queue, TaskBroker
from app.core.queue.task_deps import TaskEventsDep, TaskUnitOfWorkDep

__all__ = [
    "NotATaskError",
    "Queue",
    "TaskBroker",
    "TaskEventsDep",
    "TaskOptions",
    "TaskUnitOfWorkDep",
    "task",
    "task_options",
    "tasks_in",
]
