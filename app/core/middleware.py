"""The app's one middleware, on the raw ASGI interface.

Every layer a request crosses is paid on every request, so what the kit adds to
Starlette's own stack is a single pure-ASGI function (no `BaseHTTPMiddleware`, which
costs a multiple of the latency and breaks streaming). In order, it:

- picks the request id and binds it, with the client's canonical address, to the log
  context (every line of the request, the audit trail's and the access log's included);
- refuses NUL characters in the query (422), bodies above the limit (413) and JSON bodies
  beyond the bounds of `app.core.json_bounds` (422), before anything parses them,
  keeping the received chunks for the error handlers;
- answers HEAD wherever GET is served (the GET response without its body);
- adds `X-Request-ID`, the `X-RateLimit-*` headers of the request's tightest quota and
  the security headers to every response, errors included;
- turns an unhandled exception into the generic 500 problem, logged with a traceback;
- records the request's metrics and writes one access-log line.

`GET /health/live` is answered here, before routing: a kubelet calls it every few
seconds, and it has nothing to route, check or parse. It is counted in the metrics but
not written to the access log, where it would drown the requests of users.
"""

from __future__ import annotations

import random
import re
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import structlog
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import FilteringBoundLogger

from app.core.client_address import canonical_address
from app.core.errors import (
    RECEIVED_BODY_SCOPE_KEY,
    internal_error_response,
    problem_response,
    validation_problem,
)
from app.core.health import LIVE, LIVENESS_PATH
from app.core.json_bounds import check_json_bounds, is_json_media_type
from app.core.metrics import Metrics
from app.core.rate_limit import QUOTA_STATE, Quota

RAW_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
# The liveness probe's answer, given before routing (its route documents it).
_ALIVE = LIVE.model_dump_json(exclude_none=True).encode()
_ALIVE_START: Message = {
    "type": "http.response.start",
    "status": HTTPStatus.OK.value,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_ALIVE)).encode()),
    ],
}
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

error_logger = structlog.get_logger("app.errors")


def choose_request_id(incoming: str | None) -> str:
    """Keep a sane incoming id, otherwise make a new one: 128 random bits, unique enough
    to find a request in the logs and not a secret (`random` is reseeded in every forked
    worker, and costs no system call, unlike `os.urandom`)."""
    if incoming and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return f"{random.getrandbits(128):032x}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def nul_query_errors(query_string: bytes) -> list[dict[str, Any]]:
    """One 422 error per query parameter whose name or value holds a NUL character."""
    if b"%00" not in query_string:  # the cheap test; a NUL always arrives percent-encoded
        return []
    names = {
        name: None
        for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        if "\x00" in name or "\x00" in value
    }
    return [
        {"loc": ["query", name], "msg": "NUL character", "type": "value_error"} for name in names
    ]


class RequestMiddleware:
    """Request id, limits, HEAD, response headers, last-resort 500, metrics and access log."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        access_log: FilteringBoundLogger,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        request_id = choose_request_id(_header(scope, b"x-request-id"))
        client = scope.get("client")
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request_id, client=canonical_address(client[0] if client else None)
        )
        status = HTTPStatus.INTERNAL_SERVER_ERROR.value
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                # Appended as raw pairs: nothing else in the app sets these headers, and
                # `MutableHeaders` would scan the list once per header it sets.
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode("latin-1")),
                    *RAW_SECURITY_HEADERS,
                ]
                quota: Quota | None = scope.get("state", {}).get(QUOTA_STATE)
                if quota is not None:
                    MutableHeaders(scope=message).update(quota.headers())
            elif method == "HEAD":
                message = {**message, "body": b""}
            await send(message)

        try:
            if method == "HEAD":
                scope["method"] = "GET"  # only while the app runs: logs and metrics say HEAD
            await self._guarded(scope, receive, send_with_headers)
        except Exception:
            error_logger.exception("unhandled error", method=method, path=scope["path"])
            if response_started:
                raise
            await internal_error_response(scope["path"])(scope, receive, send_with_headers)
        finally:
            scope["method"] = method
            self._record(scope, status, time.perf_counter() - started)
            structlog.contextvars.clear_contextvars()

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, behind the checks that need no parsing: NUL in the query, body size;
        or the liveness answer."""
        if nul_errors := nul_query_errors(scope.get("query_string", b"")):
            await validation_problem(scope["path"], nul_errors)(scope, receive, send)
            return
        if scope["path"] == LIVENESS_PATH and scope["method"] == "GET":
            await send(dict(_ALIVE_START))
            await send({"type": "http.response.body", "body": _ALIVE})
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            too_large = self._too_large()
            response = problem_response(
                too_large.status_code, too_large.detail, instance=scope["path"]
            )
            await response(scope, receive, send)
            return
        await self.app(scope, self._limited(scope, receive), send)

    def _too_large(self) -> HTTPException:
        return HTTPException(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"The request body exceeds {self.max_body_bytes} bytes",
        )

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        """`receive`, refusing a body that grows past the limit while it streams in, and a
        JSON body out of bounds once it is complete.

        The chunks it lets through stay on the scope (`RECEIVED_BODY_SCOPE_KEY`, the same
        bytes objects, no copy) so an error handler can explain a body that failed to parse.
        """
        received = 0
        chunks: list[bytes] = scope.setdefault(RECEIVED_BODY_SCOPE_KEY, [])

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > self.max_body_bytes:
                    raise self._too_large()
                if chunk:
                    chunks.append(chunk)
                complete = chunks and not message.get("more_body", False)
                if complete and is_json_media_type(_header(scope, b"content-type")):
                    check_json_bounds(b"".join(chunks))
            return message

        return limited_receive

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        if scope["path"] == LIVENESS_PATH and status == HTTPStatus.OK:
            self.metrics.observe(scope["method"], LIVENESS_PATH, status, seconds)
            return
        path_template = self.metrics.route_template(scope.get("route"), scope.get("endpoint"))
        self.metrics.observe(scope["method"], path_template, status, seconds)
        self.access_log.info(
            "request",
            method=scope["method"],
            path=scope["path"],
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )
