"""Which run of a task this is, for the task itself (a delivery that gives up says so).

The worker sets it before each run (`TaskLogMiddleware`), from the labels that taskiq's
retries keep on the message; a task reads it with `current_attempt()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Attempt:
    number: int  # 1 for the first run
    # The runs the task has in all (`@task(retries=n)`: n + 1); None: `QUEUE_TASK_RETRIES` + 1.
    limit: int | None = None


FIRST = Attempt(1)
_CURRENT: ContextVar[Attempt | None] = ContextVar("task_attempt", default=None)


def attempt_number(labels: Mapping[str, Any]) -> int:
    return int(labels.get("_retries", 0)) + 1


def start_attempt(labels: Mapping[str, Any]) -> None:
    """Record, for the run about to start, the attempt its message's labels describe."""
    limit = labels.get("max_retries")
    _CURRENT.set(Attempt(attempt_number(labels), None if limit is None else int(limit)))


def current_attempt() -> Attempt:
    """The attempt of the task running in this context."""
    return _CURRENT.get() or FIRST
