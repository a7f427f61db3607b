"""List cursors carry sort values exactly as the database driver returned them."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from app.core.cursors import CursorCodec, CursorState, InvalidCursorError

CODEC = CursorCodec("a-secret-long-enough-for-the-tests")


@pytest.mark.parametrize(
    "after",
    [
        ("2026-12-07 02:03:42", 7),  # SQLite's text timestamp, as stored
        (dt.datetime(2026, 12, 7, 2, 3, 42, 120, tzinfo=dt.timezone(dt.timedelta(hours=2))), 7),
        (Decimal("8.9"), 8.5, 8, True, "blocked"),
        (dt.date(1999, 1, 1), uuid.UUID(int=5)),
    ],
)
def test_a_cursor_gives_back_the_values_it_was_given(after: tuple[Any, ...]) -> None:
    state = CursorState(after, "query", 12_345, False, 3)
    decoded = CODEC.decode(CODEC.encode(state), "query")
    assert decoded == state
    assert [type(value) for value in decoded.after] == [type(value) for value in after]


def test_a_cursor_of_another_secret_is_refused() -> None:
    cursor = CursorCodec("another-secret-long-enough-for-tests").encode(
        CursorState((1,), "query", 1, True, 1)
    )
    with pytest.raises(InvalidCursorError):
        CODEC.decode(cursor, "query")


def test_a_value_a_cursor_cannot_carry_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="bytes"):
        CODEC.encode(CursorState((b"raw",), "query", 1, True, 1))
