"""Rate limits written as text."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.core.limit_syntax import Limit, check_limit_text, parse_limit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/minute", Limit(10, 60)),
        ("10 per minute", Limit(10, 60)),
        ("10/min", Limit(10, 60)),
        ("10/m", Limit(10, 60)),
        (" 5/second ", Limit(5, 1)),
        ("5/s", Limit(5, 1)),
        ("300/MINUTES", Limit(300, 60)),
        ("100/hour", Limit(100, 3600)),
        ("100/2hours", Limit(100, 7200)),
        ("100 / 2 h", Limit(100, 7200)),
        ("1000/day", Limit(1000, 86400)),
        ("1000/d", Limit(1000, 86400)),
    ],
)
def test_parse_limit_reads_count_and_period(text: str, expected: Limit) -> None:
    assert parse_limit(text) == expected


@pytest.mark.parametrize(
    "text", ["", "10", "ten/minute", "10/fortnight", "10/ms", "-1/minute", "0/minute", "10/0s"]
)
def test_parse_limit_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        parse_limit(text)


def test_limit_text_is_empty_for_no_limit_or_a_parsable_limit() -> None:
    assert check_limit_text("  ") == ""
    assert check_limit_text(" 10/minute ") == "10/minute"
    assert str(parse_limit("10/minute")) == "10/60s"


def test_settings_refuse_an_unreadable_limit() -> None:
    with pytest.raises(ValidationError, match="rate_limit_default"):
        Settings(_env_file=None, rate_limit_default="lots")
    assert Settings(_env_file=None).rate_limit_login == "10/minute"
