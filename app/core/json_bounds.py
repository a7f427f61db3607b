"""Bounds on the shape of a JSON body, checked before anything parses it.

Decoding and validating a body costs time per value, and pydantic reports every bad
one, which it cannot stop doing early: a 1 MiB body of 100,000 unknown keys cost seconds
of CPU and a 12 MB answer. Deep nesting costs a recursion per level, in the decoder and
in the validators. No request body of the API holds more than a few dozen members and
items or nests more than a few levels, so a body beyond `MAX_JSON_VALUES` or
`MAX_JSON_DEPTH` is refused with a 422 before it is decoded: its cost stays that of
reading its bytes.
"""

from __future__ import annotations

import re

from app.core.errors import ValidationFailedError

MAX_JSON_DEPTH = 32
# Members of objects and items of arrays, in the whole body.
MAX_JSON_VALUES = 1000

# A string (to its closing quote, or to the end of an unterminated one: never scanned
# twice) or a structural character; possessive, so nothing backtracks.
_TOKENS = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"?|[][{},]', re.DOTALL)
_OPENING = frozenset(b"[{")
_CLOSING = frozenset(b"]}")


def is_json_media_type(content_type: str | None) -> bool:
    """Whether FastAPI would decode a body of this `Content-Type` as JSON (or might: it
    does without one when its strict content-type check is off)."""
    if content_type is None:
        return True
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def check_json_bounds(body: bytes) -> None:
    """Raise a 422 `ValidationFailedError` when `body` nests deeper than `MAX_JSON_DEPTH` or
    holds more than `MAX_JSON_VALUES` members and items.

    Two counts settle nearly every body at C speed, by bounding the depth by the opening
    brackets and the values by those plus the commas (a non-empty container holds one
    value more than its commas). Only a body with more of these characters, in its text
    or in its structure, is scanned token by token, and the scan stops at the first bound
    crossed, having seen at most a few thousand tokens.
    """
    opening = body.count(b"[") + body.count(b"{")
    if opening <= MAX_JSON_DEPTH and opening + body.count(b",") <= MAX_JSON_VALUES:
        return
    depth = values = 0
    for token in _TOKENS.finditer(body):
        char = body[token.start()]
        if char in _OPENING:
            depth += 1
            values += 1
            if depth > MAX_JSON_DEPTH:
                raise ValidationFailedError(
                    ["body"], f"Nested deeper than {MAX_JSON_DEPTH} levels", "json_too_deep"
                )
        elif char in _CLOSING:
            depth -= 1
        elif char == ord(","):
            values += 1
        if values > MAX_JSON_VALUES:
            raise ValidationFailedError(
                ["body"], f"More than {MAX_JSON_VALUES} members and items", "json_too_many_values"
            )
