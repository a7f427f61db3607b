"""The shape bounds of a JSON body: counted in its structure, never in its strings."""

from __future__ import annotations

import json
import time

import pytest

from app.core.errors import ValidationFailedError
from app.core.json_bounds import (
    MAX_JSON_DEPTH,
    MAX_JSON_VALUES,
    check_json_bounds,
    is_json_media_type,
)


def refusal(body: bytes) -> str | None:
    """The error type of the refusal of `body`, None when it is within the bounds."""
    try:
        check_json_bounds(body)
    except ValidationFailedError as error:
        return str(error.extensions["errors"][0]["type"])
    return None


@pytest.mark.parametrize(
    "document",
    [
        {"content": "[{,}]" * 100_000},  # brackets and commas in a string are text
        {"content": '\\"[[[' * 10_000},  # escaped quotes do not end the string
        {"tags": list(range(MAX_JSON_VALUES - 1))},
        json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH),
    ],
    ids=["brackets-in-text", "escaped-quotes", "most-values", "deepest"],
)
def test_bodies_within_the_bounds_pass(document: object) -> None:
    assert refusal(json.dumps(document).encode()) is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "json_too_deep"),
        (b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1), "json_too_deep"),
        (json.dumps(list(range(MAX_JSON_VALUES + 1))).encode(), "json_too_many_values"),
        (json.dumps({str(key): [key] for key in range(150)}).encode(), "json_too_many_values"),
    ],
    ids=["arrays", "objects", "items", "members-and-items"],
)
def test_bodies_beyond_the_bounds_are_refused(body: bytes, error: str) -> None:
    assert refusal(body) == error


def test_a_string_ends_at_a_quote_after_an_escaped_backslash() -> None:
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    body = f'["a\\\\", {nested}]'.encode()
    assert json.loads(body)[0] == "a\\"
    assert refusal(body) == "json_too_deep"


def test_an_unterminated_string_of_escaped_quotes_is_scanned_once() -> None:
    """Each quote could start a string running to the end: a backtracking scan would take
    hours over a megabyte of them."""
    body = b'"' + b'\\"[' * 350_000
    started = time.process_time()
    assert refusal(body) is None
    assert time.process_time() - started < 0.5


@pytest.mark.parametrize(
    ("content_type", "json_body"),
    [
        (None, True),
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/problem+json", True),
        ("application/x-www-form-urlencoded", False),
        ("text/plain", False),
        ("multipart/form-data; boundary=x", False),
    ],
)
def test_json_media_types(content_type: str | None, json_body: bool) -> None:
    assert is_json_media_type(content_type) is json_body
