"""Opaque, signed list cursors: where the last page ended, and for which query.

A cursor is `base64url(json) + "." + base64url(hmac)`. The JSON holds the sort-key values
of the last row of a page exactly as the database returned them (so that the next page
compares them with the column in the database's own type and format), the query's
fingerprint (resource, sort, filters, page size), the total counted when the walk began,
whether that total was exact, and the page number. The HMAC, keyed from `SECRET_KEY`,
makes a tampered cursor, or one minted for another query, fail to decode: the client
gets a 422 naming `cursor`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

SIGNATURE_BYTES = 16
# Part of the signing key: cursors of an earlier format fail to decode instead of being
# read the wrong way.
_FORMAT = b"list-cursor/2:"


class InvalidCursorError(ValueError):
    """The cursor was not minted by this kit for this query."""


@dataclass(frozen=True)
class CursorState:
    """What a cursor remembers between two pages of one walk."""

    after: tuple[Any, ...]
    query: str
    total: int
    total_exact: bool
    page: int


# Values a driver returns that JSON does not carry as themselves: a tag, how to write
# the value as text and how to read it back. (`datetime` before `date`, its base class.)
_TAGGED: tuple[tuple[str, type, Callable[[Any], str], Callable[[str], Any]], ...] = (
    ("n", Decimal, str, Decimal),
    ("t", dt.datetime, dt.datetime.isoformat, dt.datetime.fromisoformat),
    ("d", dt.date, dt.date.isoformat, dt.date.fromisoformat),
    ("u", uuid.UUID, str, uuid.UUID),
)
_PLAIN = (str, int, float, bool)


def _to_json(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    for tag, kind, write, _ in _TAGGED:
        if isinstance(value, kind):
            return {tag: write(value)}
    raise TypeError(f"a cursor cannot carry a sort value of type {type(value).__name__}")


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        return next(read for name, _, _, read in _TAGGED if name == tag)(text)
    return value


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Signs and checks cursors with a key derived from the application's secret."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(_FORMAT + secret.encode()).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]

    def encode(self, state: CursorState) -> str:
        payload = json.dumps(
            {
                "a": [_to_json(value) for value in state.after],
                "q": state.query,
                "t": state.total,
                "e": state.total_exact,
                "p": state.page,
            },
            separators=(",", ":"),
        ).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._sign(payload))}"

    def decode(self, cursor: str, query: str) -> CursorState:
        """The state of `cursor`, which must have been minted for `query`."""
        try:
            payload_text, _, signature_text = cursor.partition(".")
            payload, signature = _b64decode(payload_text), _b64decode(signature_text)
        except ValueError:
            raise InvalidCursorError("not a cursor of this API") from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursorError("not a cursor of this API")
        data = json.loads(payload)
        if data["q"] != query:
            raise InvalidCursorError("minted for another sort, filter or page size")
        return CursorState(
            tuple(_from_json(value) for value in data["a"]),
            data["q"],
            int(data["t"]),
            bool(data["e"]),
            int(data["p"]),
        )
