"""The task queue: `@task` functions, enqueued through a transactional outbox, run by taskiq.

Public API:
- `task(retries=, schedule=)` marks an async function as a task.
- `Queue(uow, outbox).enqueue(fn, **kwargs)` (or `QueueDep` in a route) writes the call
  in the unit of work's transaction; it is sent after the commit.
- `TaskUnitOfWorkDep`, `TaskEventsDep`: what a task may ask for besides `Provide[T]`
  (taskiq DI); `current_attempt()`: which run of it this is.

Nothing here imports taskiq: only a process that runs tasks does, through
`app.core.queue.task_broker`.
"""

from app.core.queue.attempts import Attempt, current_attempt
from app.core.queue.registry import NotATaskError, TaskOptions, task, task_options, tasks_in
from app.core.queue.sending import Queue, TaskOutbox
from app.core.queue.task_deps import TaskEventsDep, TaskUnitOfWorkDep

__all__ = [
    "Attempt",
    "NotATaskError",
    "Queue",
    "TaskEventsDep",
    "TaskOptions",
    "TaskOutbox",
    "TaskUnitOfWorkDep",
    "current_attempt",
    "task",
    "task_options",
    "tasks_in",
]
