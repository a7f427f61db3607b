"""The wait before a retry of work that failed (a task, an event delivery)."""

from __future__ import annotations

import random


def retry_delay(first: float, cap: float, retry: int) -> float:
    """`first * 2^(retry-1)`, at most `cap`, plus up to half again of random jitter (so that
    what failed together is not retried together)."""
    delay = min(first * 2.0 ** (retry - 1), cap)
    return delay + random.uniform(0, delay / 2)  # noqa: S311 - spreading, not security
