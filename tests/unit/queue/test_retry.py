"""Retry delays grow exponentially, are capped, and carry bounded jitter."""

from __future__ import annotations

from typing import Any

import pytest
from taskiq import TaskiqMessage

from app.core.config import Settings
from app.core.queue.broker import OutboxRetryMiddleware


async def _ignore(*_: Any) -> None:
    """A retry scheduler that does nothing."""


def message(**labels: Any) -> TaskiqMessage:
    return TaskiqMessage(task_id="t", task_name="m:f", labels=labels, args=[], kwargs={})


@pytest.mark.parametrize(("retry", "base"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 10.0)])
def test_backoff_doubles_from_the_base_delay_up_to_the_cap(retry: int, base: float) -> None:
    settings = Settings(queue_retry_delay=1.0, queue_retry_max_delay=10.0)
    middleware = OutboxRetryMiddleware(settings, _ignore)
    delays = [middleware.make_delay(message(), retry) for _ in range(50)]
    assert all(base <= delay <= base * 1.5 for delay in delays)
    assert len(set(delays)) > 1  # jittered


def test_the_default_attempt_count_includes_the_first_attempt() -> None:
    middleware = OutboxRetryMiddleware(Settings(queue_task_retries=2), _ignore)
    assert middleware.default_retry_count == 3
