"""Bounds on the shape of a JSON body, checked before anything parses it.

Decoding and validating a body costs time per value, and pydantic reports every bad
one, which it cannot stop doing early: a 1 MiB body of 100,000 unknown keys cost seconds
of CPU and a 12 MB answer. Deep nesting costs a recursion per level, in the decoder and
in the validators, up to a RecursionError. No request body of the API holds more than a
few dozen members and items or nests more than a few levels, so a body beyond
`MAX_JSON_VALUES` or `MAX_JSON_DEPTH` is refused with a 422 before it is decoded, having
cost little more than reading its bytes. A route that takes long lists needs a larger
`MAX_JSON_VALUES`, and the worst body it lets through costs more with it.
"""

from __future__ import annotations

import re

from app.core.errors import ValidationFailedError

MAX_JSON_DEPTH = 32
# Members of objects and items of arrays, in the whole body: a body of this many bad
# fields costs about twice what one bad field does.
MAX_JSON_VALUES = 256
# The most tokens (strings and structural characters) a JSON text within both bounds can
# hold: a key and a value string per member, a comma per value, two brackets per container.
_MAX_TOKENS = 5 * MAX_JSON_VALUES + 3

_STRUCTURE = re.compile(rb'[][{},"]')
# The rest of a string, after its opening quote: at the speed of a byte search when it
# holds no escaped quote, else read escape by escape, to its closing quote or to the end
# of an unterminated one. Possessive: nothing backtracks, no byte is read more than twice.
_STRING_REST = re.compile(rb'[^"]*+(?<!\\)"|[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
_QUOTE, _COMMA = ord('"'), ord(",")
_OPENING = frozenset(b"[{")


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
    holds more than `MAX_JSON_VALUES` members and items (a non-empty container holds one
    more than its commas).

    The body is read token by token, strings skipped whole, up to the first bound crossed:
    at most `_MAX_TOKENS` tokens, whatever its size.
    """
    depth = values = tokens = position = 0
    while (token := _STRUCTURE.search(body, position)) is not None:
        char, position = body[token.start()], token.end()
        if char == _QUOTE:
            position = _string_end(body, position)
        elif char in _OPENING:
            depth += 1
            values += 1
            if depth > MAX_JSON_DEPTH:
                raise ValidationFailedError(
                    ["body"], f"Nested deeper than {MAX_JSON_DEPTH} levels", "json_too_deep"
                )
        elif char == _COMMA:
            values += 1
        else:
            depth -= 1
        tokens += 1
        # More tokens than values allow: strings side by side, not JSON within the bounds.
        if values > MAX_JSON_VALUES or tokens > _MAX_TOKENS:
            raise ValidationFailedError(
                ["body"], f"More than {MAX_JSON_VALUES} members and items", "json_too_many_values"
            )


def _string_end(body: bytes, position: int) -> int:
    """Where the string whose content starts at `position` ends."""
    rest = _STRING_REST.match(body, position)
    return rest.end() if rest else len(body)  # the second choice always matches
