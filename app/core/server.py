"""The connection protocol `serve` runs: uvicorn's httptools one, with limits on clients.

uvicorn bounds neither the size of a request's headers nor the time they, or its body,
take to arrive (its keep-alive timeout starts only after a response, and any byte
cancels it), so a client sending a header line every few seconds holds a connection
open forever, and a 20 MB header line is read whole. This protocol adds:

- a header deadline: the request line and headers must be complete within
  `SERVER_HEADER_TIMEOUT` seconds of the connection being opened (the first request) or
  of their first byte (the next ones on a kept-alive connection); else it is closed;
- a body deadline: the body must be complete within `SERVER_BODY_TIMEOUT` seconds of
  the headers; else the connection is closed (the app sees the client disconnect);
- a header size limit: past `SERVER_MAX_HEADER_BYTES`, 431 and the connection closed.

A request that arrives whole in one read (most do) arms no timer at all. The proxy in
front (deploy/Caddyfile, the ingress) applies the same limits first; these hold when a
client reaches the app directly.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from typing import Any, cast

import structlog
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.core.config import Settings

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ClientLimits:
    """What a client may take of one connection (see the module docstring)."""

    max_header_bytes: int
    header_timeout: float
    body_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientLimits:
        return cls(
            max_header_bytes=settings.server_max_header_bytes,
            header_timeout=settings.server_header_timeout,
            body_timeout=settings.server_body_timeout,
        )


def _too_large_response(limits: ClientLimits, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
    body = json.dumps(
        {
            "type": "about:blank",
            "title": status.phrase,
            "status": status.value,
            "detail": f"The request line and headers exceed {limits.max_header_bytes} bytes",
        }
    ).encode()
    headers = [
        *default_headers,
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    lines = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def limited_http_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """What `serve` gives uvicorn as `http`: the protocol bound to the settings' limits.

    A partial rather than a class made on the fly: `--workers` pickles it to each worker.
    uvicorn only calls it with keyword arguments, as it would the class.
    """
    limits = ClientLimits.from_settings(settings)
    return cast("type[asyncio.Protocol]", partial(LimitedHttpToolsProtocol, limits=limits))


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `ClientLimits` (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ClientLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_headers = False
        self._header_bytes = 0
        self._reading_body = False
        self._completed_a_request = False  # in the chunk being parsed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # An idle new connection gets no keep-alive timeout from uvicorn: this is its limit.
        self._arm(self.limits.header_timeout, "no complete request headers in time")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._completed_a_request = False
        super().data_received(data)  # parses: the callbacks below run inside
        if self.transport.is_closing():
            return
        if self._reading_headers:
            # Headers still incomplete: the whole chunk is theirs, unless it also held the
            # end of a pipelined request before (then it is not counted: one read at most).
            if not self._completed_a_request:
                self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                default_headers = self.server_state.default_headers
                self.transport.write(_too_large_response(self.limits, default_headers))
                self._close("request headers too large")
            elif self._deadline is None:  # the next request on a kept-alive connection
                self._arm(self.limits.header_timeout, "no complete request headers in time")
        elif self._reading_body and self._deadline is None:
            self._arm(self.limits.body_timeout, "no complete request body in time")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True
        self._header_bytes = 0

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._reading_body = True
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_body = False
        self._completed_a_request = True
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float, reason: str) -> None:
        self._deadline = self.loop.call_later(seconds, self._close, reason)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _close(self, reason: str) -> None:
        self._disarm()
        if not self.transport.is_closing():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else None
            logger.info("connection closed", reason=reason, client=client)
            self.transport.close()
