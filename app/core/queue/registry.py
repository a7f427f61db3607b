"""The `@task` marker and the collection of marked functions from task modules.

Marking only sets metadata on the function: there is no global registry, and
each broker (one per process) registers the tasks it is handed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

TASK_OPTIONS_ATTRIBUTE = "__queue_task__"
TaskFunction = Callable[..., Awaitable[Any]]

# The labels a message carries besides taskiq's own.
REQUEST_ID_LABEL = "request_id"
QUIET_LABEL = "quiet"  # a `@task(quiet=True)`: its runs are logged only when they fail
# A `@task(hide_duration=True)`: its runs are counted, their run time is not exposed.
HIDDEN_DURATION_LABEL = "hidden_duration"


@dataclass(frozen=True)
class TaskOptions:
    """What `@task` records on a function."""

    name: str
    retries: int | None = None
    schedule: str | None = None
    quiet: bool = False
    hide_duration: bool = False


class NotATaskError(TypeError):
    """A function was enqueued without being marked with `@task`."""


def task(
    *,
    retries: int | None = None,
    schedule: str | None = None,
    quiet: bool = False,
    hide_duration: bool = False,
) -> Callable[[F], F]:
    """Mark a plain async function in a module's `tasks.py` (or a core module) as a queue task.

    `retries`: how many times a failing run is retried (default: `QUEUE_TASK_RETRIES`).
    `schedule`: a cron string; the scheduler then sends the task on that schedule.
    `quiet`: no "task started" and "task finished" lines (failures are still logged), for
    frequent housekeeping that would drown the log.
    `hide_duration`: its run time stays out of the metrics (`task_duration_seconds`),
    for a task whose run time tells what it found (an account behind an address);
    its runs are still counted.
    The task's name is `module:qualname`, stable across processes.
    """

    def mark(fn: F) -> F:
        options = TaskOptions(
            name=f"{fn.__module__}:{fn.__qualname__}",
            retries=retries,
            schedule=schedule,
            quiet=quiet,
            hide_duration=hide_duration,
        )
        setattr(fn, TASK_OPTIONS_ATTRIBUTE, options)
        return fn

    return mark


def task_options(fn: Callable[..., Any]) -> TaskOptions:
    """The options `@task` recorded on `fn`, or `NotATaskError`."""
    options = getattr(fn, TASK_OPTIONS_ATTRIBUTE, None)
    if not isinstance(options, TaskOptions):
        name = getattr(fn, "__qualname__", repr(fn))
        raise NotATaskError(f"{name} is not marked with @task")
    return options


def tasks_in(modules: Iterable[ModuleType]) -> list[Callable[..., Awaitable[Any]]]:
    """Every `@task` function defined in (not merely imported into) the given modules."""
    found: list[Callable[..., Awaitable[Any]]] = []
    for module in modules:
        for value in vars(module).values():
            options = getattr(value, TASK_OPTIONS_ATTRIBUTE, None)
            # taskiq re-exports each registered function under a second name
            # (`<name>__taskiq_original`): count every function once.
            if (
                isinstance(options, TaskOptions)
                and value.__module__ == module.__name__
                and value not in found
            ):
                found.append(value)
    return found


def task_labels(options: TaskOptions) -> dict[str, Any]:
    """The labels a task carries on every call (its own retry count, if it set one)."""
    labels: dict[str, Any] = {} if options.retries is None else {"max_retries": options.retries + 1}
    if options.quiet:
        labels[QUIET_LABEL] = "true"
    if options.hide_duration:
        labels[HIDDEN_DURATION_LABEL] = "true"
    return labels
