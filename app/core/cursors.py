"""Opaque, signed list cursors: where the last page ended, and for which query.

A cursor is `base64url(json) + "." + base64url(hmac)`. The JSON holds the sort-key values
of the last row of a page (as text, parsed back with the column's type), the query's
fingerprint (resource, sort, filters, page size), the total counted when the walk began
and the page number. The HMAC, keyed from `SECRET_KEY`, makes a tampered cursor, or one
minted for another query, fail to decode: the client gets a 422 naming `cursor`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

SIGNATURE_BYTES = 16


class InvalidCursorError(ValueError):
    """The cursor was not minted by this kit for this query."""


@dataclass(frozen=True)
class CursorState:
    """What a cursor remembers between two pages of one walk."""

    after: tuple[str, ...]
    query: str
    total: int
    page: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Signs and checks cursors with a key derived from the application's secret."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"list-cursor:" + secret.encode()).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]

    def encode(self, state: CursorState) -> str:
        payload = json.dumps(
            {"a": state.after, "q": state.query, "t": state.total, "p": state.page},
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
        return CursorState(tuple(data["a"]), data["q"], int(data["t"]), int(data["p"]))
