"""The AppError hierarchy and the one place that turns errors into problems.

Every error response of the API is an RFC 9457 problem document built here.

Each kind of error a client may need to tell apart is an AppError class with its own
`problem_type` (the problem's `type`) and `title`; a subclass inherits both, or declares
a kind of its own, its docstring saying when it happens (the OpenAPI document lists
every kind from there: `problem_kinds`). The types are relative URI references,
`/problems/<kind>`, which RFC 9457 (section 3.1.1) allows, asking that a relative one
carry the full path: a project built on the kit answers under hosts of its own, so an
absolute URI would name a host it may not own, and a `urn:` or `tag:` one would lead
nowhere; `/problems/<kind>` is one stable string for clients to switch on, and resolved
against the API it names a path of the deployment's own, where documentation may be
served one day without changing the type. `about:blank`, titled with the status phrase,
is kept for the errors whose status alone says it all: no route, a method not allowed, a
body too large, an internal error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match

from app.core.config import Settings
from app.core.logging import current_request_id
from app.core.route_tree import flattened_routes

PROBLEM_CONTENT_TYPE = "application/problem+json"
ABOUT_BLANK = "about:blank"
# Where `RequestMiddleware` keeps the body chunks it let through, for error reports.
RECEIVED_BODY_SCOPE_KEY = "app.received_body"
PROBLEM_MEMBERS_MARKER = "__problem_members__"

EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])
ErrorHandler = Callable[[Request, Exception], Awaitable[JSONResponse]]
ProblemMembers = Callable[[Exception, Mapping[str, Any]], Mapping[str, Any]]
# A 422 lists this many errors at most, and counts the rest in `errors_omitted`.
MAX_LISTED_ERRORS = 20

logger = structlog.get_logger(__name__)


def problem_uri(kind: str) -> str:
    """The `type` of a kind of problem (see the module's docstring for the scheme)."""
    return f"/problems/{kind}"


class AppError(Exception):
    """Base of every domain error; subclasses set the status, the kind and a default detail.

    `extensions`: members added to the problem document beside the standard ones.
    """

    status_code: ClassVar[int] = HTTPStatus.BAD_REQUEST
    problem_type: ClassVar[str] = ABOUT_BLANK
    # None: the status phrase, as RFC 9457 asks of `about:blank`.
    title: ClassVar[str | None] = None
    detail: str = "The request could not be processed"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ):
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


class BadRequestError(AppError):
    status_code = HTTPStatus.BAD_REQUEST


class UnreadableBodyError(BadRequestError):
    """The body could not be read at all: not UTF-8, or a malformed form."""

    problem_type = problem_uri("unreadable-body")
    title = "Unreadable body"
    detail = "The request body could not be read"


class AuthenticationError(AppError):
    status_code = HTTPStatus.UNAUTHORIZED
    detail = "Not authenticated"

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class PermissionDeniedError(AppError):
    """Authenticated, but not allowed to do this."""

    status_code = HTTPStatus.FORBIDDEN
    problem_type = problem_uri("forbidden")
    title = "Not allowed"
    detail = "You are not allowed to do this"


class NotFoundError(AppError):
    """No such resource, or one the caller may not know exists."""

    status_code = HTTPStatus.NOT_FOUND
    problem_type = problem_uri("not-found")
    title = "Resource not found"
    detail = "Not found"


class ConflictError(AppError):
    """The change conflicts with the current state of the resource."""

    status_code = HTTPStatus.CONFLICT
    problem_type = problem_uri("conflict")
    title = "Conflict"
    detail = "Conflict with the current state of the resource"


class DuplicateError(ConflictError):
    """A resource with this unique value (name, email, id) already exists."""

    problem_type = problem_uri("duplicate")
    title = "Already exists"
    detail = "A resource with this value already exists"


class PreconditionFailedError(AppError):
    """`If-Match` names a version the resource no longer has: read it again."""

    status_code = HTTPStatus.PRECONDITION_FAILED
    problem_type = problem_uri("precondition-failed")
    title = "Resource changed"
    detail = "The resource changed since the version given in If-Match"


class RateLimitedError(AppError):
    """Too many requests: retry after `Retry-After` seconds."""

    status_code = HTTPStatus.TOO_MANY_REQUESTS
    problem_type = problem_uri("rate-limited")
    title = "Rate limit exceeded"
    detail = "Too many requests"

    def __init__(self, retry_after: int, headers: Mapping[str, str] | None = None):
        super().__init__(
            f"Too many requests; retry in {retry_after} s",
            headers={**(headers or {}), "Retry-After": str(retry_after)},
        )


class ServiceUnavailableError(AppError):
    """A dependency (the database, the rate limiter's Redis) is unreachable: retry after
    `Retry-After` seconds."""

    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    problem_type = problem_uri("dependency-unavailable")
    title = "Dependency unavailable"
    detail = "The service is temporarily unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ValidationFailedError(AppError):
    """A parameter or the body is not valid: `errors` names each one."""

    status_code = HTTPStatus.UNPROCESSABLE_ENTITY
    problem_type = problem_uri("validation-error")
    title = "Validation failed"
    detail = "The request is not valid"

    def __init__(self, loc: Sequence[str | int], msg: str, type_: str = "value_error"):
        super().__init__(
            f"Invalid {'.'.join(str(part) for part in loc)}: {msg}",
            extensions={"errors": [{"loc": list(loc), "msg": msg, "type": type_}]},
        )


class BadCursorError(ValidationFailedError):
    """`cursor` is no `next_cursor` of this list with these parameters (altered, or minted
    for another query or by another deployment): walk again from the first page."""

    problem_type = problem_uri("invalid-cursor")
    title = "Invalid cursor"

    def __init__(self, msg: str) -> None:
        super().__init__(["query", "cursor"], msg)


def problem_kinds() -> list[type[AppError]]:
    """Every AppError class that declares a kind of its own, bases first."""
    kinds: list[type[AppError]] = []
    pending: list[type[AppError]] = [AppError]
    while pending:
        cls = pending.pop(0)
        if "problem_type" in vars(cls) and cls.problem_type != ABOUT_BLANK:
            kinds.append(cls)
        pending += cls.__subclasses__()
    return kinds


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    problem_type: str = ABOUT_BLANK,
    title: str | None = None,
) -> JSONResponse:
    """Build an RFC 9457 problem+json response (`title` None: the status phrase)."""
    status = int(status)
    body: dict[str, Any] = {
        "type": problem_type,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": current_request_id(),
        **(extra or {}),
    }
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_CONTENT_TYPE
    )


def error_response(error: AppError, instance: str) -> JSONResponse:
    """The problem of a domain error: its kind, status, detail, headers and extensions."""
    return problem_response(
        error.status_code,
        error.detail,
        instance=instance,
        headers=error.headers,
        extra=error.extensions,
        problem_type=error.problem_type,
        title=error.title,
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
    return error_response(error, request.url.path)


def validation_problem(instance: str, errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    """The 422 problem listing `errors` (each with `loc`, `msg` and `type`): the first
    `MAX_LISTED_ERRORS` of them, and how many more in `errors_omitted`, so that a body of
    many bad fields gets no bigger an answer than one of a few."""
    listed = _public_errors(errors[:MAX_LISTED_ERRORS])
    omitted = len(errors) - len(listed)
    fields = ", ".join(".".join(str(part) for part in item["loc"]) for item in listed)
    return problem_response(
        ValidationFailedError.status_code,
        f"Invalid request: {fields}" + (f" and {omitted} more" if omitted else ""),
        instance=instance,
        extra={"errors": listed, **({"errors_omitted": omitted} if omitted else {})},
        problem_type=ValidationFailedError.problem_type,
        title=ValidationFailedError.title,
    )


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, RequestValidationError):  # pragma: no cover
        raise error
    return validation_problem(request.url.path, error.errors())


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
    for route in flattened_routes(request.app.routes):
        if route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")  # the app's middleware answers HEAD wherever GET is served
    return ", ".join(sorted(methods)) or None


def _unreadable_body_problem(request: Request, cause: BaseException) -> JSONResponse:
    """The problem of a body FastAPI could not read, from what stopped it (`cause`)."""
    if isinstance(cause, AppError):  # refused as it streamed in, by the app's middleware
        return error_response(cause, request.url.path)
    if isinstance(cause, ValueError) and (problem := _body_parse_problem(request)) is not None:
        return problem
    return error_response(UnreadableBodyError(), request.url.path)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, StarletteHTTPException):  # pragma: no cover
        raise error
    status = error.status_code
    # FastAPI answers 400 to a body it could not read, raised from what stopped it.
    if status == HTTPStatus.BAD_REQUEST and error.__cause__ is not None:
        return _unreadable_body_problem(request, error.__cause__)
    detail = error.detail if isinstance(error.detail, str) else HTTPStatus(status).phrase
    headers = dict(error.headers or {})
    if status == HTTPStatus.NOT_FOUND and detail == "Not Found":
        detail = f"No route matches {request.url.path}"
    elif status == HTTPStatus.METHOD_NOT_ALLOWED:
        detail = f"{request.method} is not allowed on {request.url.path}"
        if allow := allowed_methods(request):
            headers["Allow"] = allow
    return problem_response(status, detail, instance=request.url.path, headers=headers)


def _database_error_handler(settings: Settings) -> ErrorHandler:
    """The 503 of a database that cannot serve (any other database error is a 500)."""

    async def handle(request: Request, error: Exception) -> JSONResponse:
        if not is_database_unavailable(error):
            raise error
        logger.error("database unavailable", error_type=type(error).__name__)
        unavailable = ServiceUnavailableError(
            "The database is unavailable; retry later", retry_after=settings.retry_after_seconds
        )
        return error_response(unavailable, request.url.path)

    return handle


def with_problem_members(members: ProblemMembers) -> Callable[[EndpointT], EndpointT]:
    """Give every problem an endpoint answers extension members (RFC 9457 section 3.2):
    `members(error, problem)`, given the error and the problem built for it. For a
    standard its clients read, such as OAuth 2's `error` at a token endpoint."""

    def declare(endpoint: EndpointT) -> EndpointT:
        setattr(endpoint, PROBLEM_MEMBERS_MARKER, members)
        return endpoint

    return declare


def _with_route_members(handler: ErrorHandler) -> ErrorHandler:
    """`handler`, whose problems also carry the members the matched route declares."""

    async def handle(request: Request, error: Exception) -> JSONResponse:
        response = await handler(request, error)
        endpoint = getattr(request.scope.get("route"), "endpoint", None)
        members: ProblemMembers | None = getattr(endpoint, PROBLEM_MEMBERS_MARKER, None)
        if members is None:
            return response
        problem = json.loads(bytes(response.body))
        response.body = response.render({**problem, **members(error, problem)})
        response.headers["Content-Length"] = str(len(response.body))
        return response

    return handle


def install_error_handlers(app: FastAPI, settings: Settings) -> None:
    """Register every handler; unexpected exceptions are caught by the request middleware."""
    database_error = _database_error_handler(settings)
    app.add_exception_handler(AppError, _with_route_members(_app_error))
    app.add_exception_handler(RequestValidationError, _with_route_members(_validation_error))
    app.add_exception_handler(StarletteHTTPException, _with_route_members(_http_error))
    app.add_exception_handler(sa_exc.DBAPIError, _with_route_members(database_error))
    app.add_exception_handler(sa_exc.TimeoutError, _with_route_members(database_error))
