"""The auth module's dependencies: who is calling, and the services of its routes.

Resolving the caller is one indexed query, or a cache read when warm
(`app.auth.callers`): the query checks that the account is not deleted, that the
access token was not logged out (its `jti` in `revoked_access_tokens`), that its
session (the refresh family named by its `sid`) was not revoked, and that it was
not issued before the last password reset. Status and `is_superuser` come from
that row, never from the token. Every change to any of it drops the cached outcome
after its commit, durably: a block, a deletion or a logout applies at once in every
process, and a Redis outage or flush can never bring a revoked token back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer

from app.auth.audit import audit, audit_login_limited
from app.auth.callers import cached_caller
from app.auth.exceptions import (
    AccessTokenExpiredError,
    AccessTokenInvalidError,
    AccessTokenMissingError,
    SuperuserRequiredError,
)
from app.auth.models import UserStatus
from app.auth.queries import UserQueries, find_authenticated
from app.auth.schemas import UserRead
from app.auth.security import AccessClaims, ExpiredAccessTokenError, InvalidAccessTokenError
from app.auth.service import AuthSecurity, AuthService, ClientInfo, UserService
from app.core.client_address import canonical_address
from app.core.deps import (
    CacheDep,
    DatabaseDep,
    EventsDep,
    MailDep,
    QueueDep,
    RequestCacheDep,
    SettingsDep,
    UnitOfWorkDep,
)
from app.core.errors import RateLimitedError
from app.core.injection import Provide
from app.core.metrics import Metrics
from app.core.rate_limit import RateLimit, RateLimiter, by_client_ip, client_key

LOGIN_URL = "/api/v1/auth/login"

# The login URL serves the refresh token grant too (RFC 6749 section 6).
bearer_token = OAuth2PasswordBearer(tokenUrl=LOGIN_URL, refreshUrl=LOGIN_URL, auto_error=False)


AuthSecurityDep = Provide[AuthSecurity]


# Where a request keeps the claims of its access token, once decoded.
CLAIMS_STATE = "access_claims"


def decoded_once(request: Request, security: AuthSecurity, token: str) -> AccessClaims:
    """The claims of the request's access token, decoded (signature checked) once per
    request: the default limit's identity and the caller check both need them."""
    known: tuple[str, AccessClaims] | None = getattr(request.state, CLAIMS_STATE, None)
    if known is not None and known[0] == token:
        return known[1]
    claims = security.access_tokens.decode(token)
    setattr(request.state, CLAIMS_STATE, (token, claims))
    return claims


async def get_access_claims(
    request: Request, security: AuthSecurityDep, token: Annotated[str | None, Depends(bearer_token)]
) -> AccessClaims:
    if not token:
        raise AccessTokenMissingError()
    try:
        return decoded_once(request, security, token)
    except ExpiredAccessTokenError:
        raise AccessTokenExpiredError() from None
    except InvalidAccessTokenError:
        raise AccessTokenInvalidError() from None


AccessClaimsDep = Annotated[AccessClaims, Depends(get_access_claims)]


def token_identity(security: AuthSecurity) -> Callable[[Request], Awaitable[str | None]]:
    """The rate limiter's identity of a request: the user id of a valid access token
    (signature and claims only, no I/O), or None for anonymous callers."""

    async def identity(request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            return str(decoded_once(request, security, token).user_id)
        except InvalidAccessTokenError:
            return None

    return identity


async def get_current_user(
    database: DatabaseDep, cache: RequestCacheDep, claims: AccessClaimsDep
) -> UserRead:
    """The account behind the access token, as its current record has it, whatever its
    status (a disabled account may still log out).

    From the cache when warm, else on a connection of its own, given back before the
    handler runs: a route that only reads the caller opens no session and no unit of work.
    """

    async def load() -> UserRead | None:
        async with database.reading() as connection:
            row = await find_authenticated(
                connection, claims.user_id, claims.jti, claims.session_id, claims.issued_at
            )
        return None if row is None else UserRead.model_validate(row)

    user = await cached_caller(cache, claims, load)
    if user is None:
        raise AccessTokenInvalidError("The access token is no longer valid")
    return user


CurrentUser = Annotated[UserRead, Depends(get_current_user)]


async def get_active_user(
    database: DatabaseDep, cache: RequestCacheDep, claims: AccessClaimsDep
) -> UserRead:
    """The caller, refused when the account is disabled. Calls `get_current_user` rather
    than depending on `CurrentUser`: one dependency fewer on nearly every route."""
    user = await get_current_user(database, cache, claims)
    if user.status != UserStatus.ACTIVE:
        raise AccessTokenInvalidError("This account is disabled")
    return user


ActiveUser = Annotated[UserRead, Depends(get_active_user)]


def _admin_action(request: Request, metrics: Metrics) -> str:
    """The method and route template of an admin request (`PATCH /api/v1/users/{user_id}`)."""
    return f"{request.method} {metrics.route_template(request.scope.get('route'))}"


def _error_status(error: Exception) -> int:
    """The status the error handlers answer `error` with."""
    if isinstance(error, RequestValidationError):
        return HTTPStatus.UNPROCESSABLE_ENTITY
    return int(getattr(error, "status_code", HTTPStatus.INTERNAL_SERVER_ERROR))


async def get_superuser(
    request: Request, user: ActiveUser, metrics: Provide[Metrics]
) -> AsyncIterator[UserRead]:
    """The caller, a superuser (403 otherwise). Every admin request joins the audit trail:
    a refused one at once, the others once handled (their changes committed), with the
    status of their answer."""
    action = _admin_action(request, metrics)
    if not user.is_superuser:
        audit.warning(
            "admin action refused",
            user_id=user.id,
            action=action,
            status=int(SuperuserRequiredError.status_code),
        )
        raise SuperuserRequiredError()
    try:
        yield user
    except Exception as error:
        _audit_admin_action(request, user.id, action, _error_status(error))
        raise
    route_status = getattr(request.scope.get("route"), "status_code", None)
    _audit_admin_action(request, user.id, action, route_status or HTTPStatus.OK)


def _audit_admin_action(request: Request, admin_id: int, action: str, status: int) -> None:
    audit.info(
        "admin action",
        by_user_id=admin_id,
        action=action,
        target=dict(request.path_params),
        status=int(status),
    )


# Left once the handler returns, before the response goes out (as the unit of work is).
Superuser = Annotated[UserRead, Depends(get_superuser, scope="function")]


class LoginLimit(RateLimit):
    """`RATE_LIMIT_LOGIN_PER_IP`: every login of one client together, failing closed;
    its refusals join the audit trail as failed logins."""

    def __init__(self) -> None:
        super().__init__(
            lambda settings: settings.rate_limit_login_per_ip, by_client_ip, fail_closed=True
        )

    async def __call__(self, request: Request, limiter: Provide[RateLimiter]) -> None:
        try:
            await super().__call__(request, limiter)
        except RateLimitedError:
            audit_login_limited(None, "RATE_LIMIT_LOGIN_PER_IP")
            raise


async def get_client_info(request: Request, settings: SettingsDep) -> ClientInfo:
    """The peer address (proxies already resolved by the middleware), as recorded and
    as limits count it, and the user agent."""
    return ClientInfo(
        ip_address=canonical_address(request.client.host if request.client else None),
        key=client_key(request, settings),
        user_agent=request.headers.get("user-agent"),
    )


ClientInfoDep = Annotated[ClientInfo, Depends(get_client_info)]


async def get_auth_service(  # noqa: PLR0917 - FastAPI passes dependencies by keyword
    uow: UnitOfWorkDep,
    security: AuthSecurityDep,
    settings: SettingsDep,
    database: DatabaseDep,
    mailer: MailDep,
    queue: QueueDep,
    events: EventsDep,
    cache: CacheDep,
) -> AuthService:
    return AuthService(
        uow,
        security,
        settings,
        database=database,
        mailer=mailer,
        queue=queue,
        events=events,
        cache=cache,
    )


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


async def get_user_service(
    uow: UnitOfWorkDep, security: AuthSecurityDep, events: EventsDep, cache: CacheDep
) -> UserService:
    return UserService(uow, security, events, cache)


UserServiceDep = Annotated[UserService, Depends(get_user_service)]


async def get_user_queries(database: DatabaseDep) -> UserQueries:
    return UserQueries(database)


UserQueriesDep = Annotated[UserQueries, Depends(get_user_queries)]
