"""Rate limits written as text ("10/minute", "5 per second", "100/2h") and their parsing.

Kept apart from `app.core.rate_limit` so that `Settings` can validate limit settings at start-up
without importing the web layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LIMIT = re.compile(
    r"(?P<count>\d+)\s*(?:/|\s+per\s+)\s*(?P<multiple>\d*)\s*"
    r"(?P<unit>seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Limit:
    """`count` requests per `seconds`."""

    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}s"


def parse_limit(text: str) -> Limit:
    """Parse "10/minute", "10 per minute", "10/min", "100/2hours", "1000/d" (units s m h d)."""
    match = _LIMIT.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not a rate limit; write it like 10/minute, 5/second, 100/hour or 1000/day"
        )
    count = int(match["count"])
    multiple = int(match["multiple"] or 1)
    if count == 0 or multiple == 0:
        raise ValueError(f"{text!r}: a rate limit needs a positive count and period")
    return Limit(count=count, seconds=multiple * _UNIT_SECONDS[match["unit"][0].lower()])


def check_limit_text(text: str) -> str:
    """A settings validator: empty (no limit) or a parsable limit, returned stripped."""
    text = text.strip()
    if text:
        parse_limit(text)
    return text
