"""Waits between attempts to reach a service that is down: doubling, up to a cap."""

from __future__ import annotations


class Backoff:
    """The wait before each next attempt: `first`, then twice the last one, at most `cap`;
    `reset()` after a success starts again from `first`."""

    def __init__(self, first: float, cap: float) -> None:
        self.first = first
        self.cap = max(first, cap)
        self._next = first

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first
