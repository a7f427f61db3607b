"""The AppError hierarchy and the one place that turns errors into problems.

Every error response of the API is an RFC 9457 problem document built here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match

from app.core.config import Settings
from app.core.injection import provided_by
from app.core.logging import current_request_id

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Where `BodyLimitMiddleware` keeps the body chunks it let through, for error reports.
RECEIVED_BODY_SCOPE_KEY = "app.received_body"

logger = structlog.get_logger(__name__)


class AppError(Exception):
    """Base of every domain error; subclasses set the status and a default detail."""

    status_code: int = HTTPStatus.BAD_REQUEST
    detail: str = "The request could not be processed"

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None):
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.headers = dict(headers or {})


class BadRequestError(AppError):
    status_code = HTTPStatus.BAD_REQUEST


class AuthenticationError(AppError):
    status_code = HTTPStatus.UNAUTHORIZED
    detail = "Not authenticated"

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class PermissionDeniedError(AppError):
    status_code = HTTPStatus.FORBIDDEN
    detail = "You are not allowed to do this"


class NotFoundError(AppError):
    status_code = HTTPStatus.NOT_FOUND
    detail = "Not found"


class ConflictError(AppError):
    status_code = HTTPStatus.CONFLICT
    detail = "Conflict with the current state of the resource"


class PreconditionFailedError(AppError):
    status_code = HTTPStatus.PRECONDITION_FAILED
    detail = "The resource changed since the entity tag in If-Match was read"


class RateLimitedError(AppError):
    status_code = HTTPStatus.TOO_MANY_REQUESTS
    detail = "Too many requests"

    def __init__(self, retry_after: int, headers: Mapping[str, str] | None = None):
        super().__init__(
            f"Too many requests; retry in {retry_after} s",
            headers={**(headers or {}), "Retry-After": str(retry_after)},
        )


class ServiceUnavailableError(AppError):
    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    detail = "The service is temporarily unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ValidationFailedError(AppError):
    """422 raised by our own parsers (list parameters), shaped like FastAPI's."""

    status_code = HTTPStatus.UNPROCESSABLE_ENTITY
    detail = "The request is not valid"

    def __init__(self, loc: Sequence[str | int], msg: str, type_: str = "value_error"):
        super().__init__(f"Invalid {'.'.join(str(part) for part in loc)}: {msg}")
        self.errors = [{"loc": list(loc), "msg": msg, "type": type_}]


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """Build an RFC 9457 problem+json response."""
    status = int(status)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": current_request_id(),
        **(extra or {}),
    }
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_CONTENT_TYPE
    )


def internal_error_response(path: str) -> JSONResponse:
    """The generic 500: never any detail of what went wrong."""
    return problem_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "An unexpected error occurred; it has been logged with this request id",
        instance=path,
    )


def _public_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation errors without the submitted input (it may be a password)."""
    return [
        {
            "loc": list(error.get("loc", ())),
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in errors
    ]


def is_database_unavailable(error: BaseException) -> bool:
    """True for a failure to reach the database, as opposed to a bad statement."""
    if isinstance(error, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    return False


async def _app_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, AppError):  # pragma: no cover - registered for AppError only
        raise error
    extra = {"errors": error.errors} if isinstance(error, ValidationFailedError) else None
    return problem_response(
        error.status_code,
        error.detail,
        instance=request.url.path,
        headers=error.headers,
        extra=extra,
    )


def validation_problem(instance: str, errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    """The 422 problem listing `errors` (each with `loc`, `msg` and `type`)."""
    fields = ", ".join(".".join(str(part) for part in item["loc"]) for item in errors)
    return problem_response(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        f"Invalid request: {fields}",
        instance=instance,
        extra={"errors": list(errors)},
    )


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, RequestValidationError):  # pragma: no cover
        raise error
    return validation_problem(request.url.path, _public_errors(error.errors()))


class _OversizedNumber:
    """Stands for a JSON integer with more digits than Python converts."""


_OVERSIZED = _OversizedNumber()


def _int_or_oversized(text: str) -> int | _OversizedNumber:
    limit = sys.get_int_max_str_digits()
    if limit and len(text.lstrip("-")) > limit:
        return _OVERSIZED
    return int(text)


def _oversized_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[list[str | int]]:
    if value is _OVERSIZED:
        yield list(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _oversized_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _oversized_paths(item, (*path, index))


def oversized_number_errors(body: bytes) -> list[dict[str, Any]]:
    """The 422 errors for the integers of a JSON body too long to convert, if any.

    Python refuses to convert an integer of more than `sys.get_int_max_str_digits()`
    digits (a denial-of-service guard), so the body cannot even be decoded; no field
    accepts such a number, so each one is reported at its place in the body.
    """
    try:
        document = json.loads(body, parse_int=_int_or_oversized)
    except ValueError:
        return []
    return [
        {
            "loc": ["body", *path],
            "msg": "Number has more digits than any field accepts",
            "type": "int_parsing_size",
        }
        for path in _oversized_paths(document)
    ]


def _body_parse_problem(request: Request) -> JSONResponse | None:
    """A 422 for a body whose only fault is an oversized number, else None."""
    received = request.scope.get(RECEIVED_BODY_SCOPE_KEY)
    errors = oversized_number_errors(b"".join(received)) if received else []
    if not errors:
        return None
    return validation_problem(request.url.path, errors)


def allowed_methods(request: Request) -> str | None:
    """Every method of every route matching the path (Starlette names only the first's)."""
    methods: set[str] = set()
    # Included routers are flattened (with their prefixes) the way FastAPI's OpenAPI does.
    for route in iter_route_contexts(request.app.routes):
        if route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")  # the app's middleware answers HEAD wherever GET is served
    return ", ".join(sorted(methods)) or None


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, StarletteHTTPException):  # pragma: no cover
        raise error
    status = error.status_code
    detail = error.detail if isinstance(error.detail, str) else HTTPStatus(status).phrase
    headers = dict(error.headers or {})
    # FastAPI answers 400 to a JSON body it could not decode.
    oversized = status == HTTPStatus.BAD_REQUEST and isinstance(error.__cause__, ValueError)
    if oversized and (problem := _body_parse_problem(request)) is not None:
        return problem
    if status == HTTPStatus.NOT_FOUND and detail == "Not Found":
        detail = f"No route matches {request.url.path}"
    elif status == HTTPStatus.METHOD_NOT_ALLOWED:
        detail = f"{request.method} is not allowed on {request.url.path}"
        if allow := allowed_methods(request):
            headers["Allow"] = allow
    return problem_response(status, detail, instance=request.url.path, headers=headers)


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    if not is_database_unavailable(error):
        raise error
    settings = provided_by(request.app).get(Settings)
    logger.error("database unavailable", error_type=type(error).__name__)
    return problem_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "The database is unavailable; retry later",
        instance=request.url.path,
        headers={"Retry-After": str(settings.retry_after_seconds)},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler; unexpected exceptions are caught by the request middleware."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
