"""HTTP layer of the auth module: parse, call one service method, return the DTO."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Form, Request, Response

from app.auth.deps import (
    AccessClaimsDep,
    ActiveUser,
    AuthServiceDep,
    ClientInfoDep,
    CurrentUser,
    LoginLimit,
    Superuser,
    UserQueriesDep,
    UserServiceDep,
)
from app.auth.queries import USER_LIST_SPEC
from app.auth.schemas import (
    LoginForm,
    LogoutRequest,
    ProfileDeletion,
    ProfileUpdate,
    RefreshRequest,
    ResetPasswordRequest,
    RestorePasswordRequest,
    Token,
    UserAdminUpdate,
    UserCreate,
    UserRead,
)
from app.auth.token_errors import TokenErrorMembers, token_error_members
from app.core.errors import with_problem_members
from app.core.listing import ListParams, Page, list_params
from app.core.openapi import problem_responses
from app.core.rate_limit import (
    Throttle,
    by_client_ip,
    by_user_or_client_ip,
    get_credentials_throttle,
    rate_limit,
)
from app.core.representations import (
    CHANGE_RESPONSES,
    CREATED_RESPONSES,
    DELETE_RESPONSES,
    READ_PARAMETERS,
    READ_RESPONSES,
    IfMatch,
    location,
    representation,
)
from app.core.schemas import PathId

# Credential endpoints refuse to run unlimited: with Redis down they answer 503.
# Logins are also limited per client and account, and per account for failures, once
# the service has resolved the account (`AuthService.login`).
LOGIN_LIMIT = Depends(LoginLimit())
CREDENTIALS_LIMIT = rate_limit(
    lambda settings: settings.rate_limit_credentials, key=by_client_ip, fail_closed=True
)
# A stolen access token must not brute-force `current_password`: one budget of guesses for
# changing and deleting the profile (fails open, as every limit but the credential ones).
PROFILE_LIMIT = rate_limit(
    lambda settings: settings.rate_limit_profile, key=by_user_or_client_ip, shared_as="profile"
)


async def no_store(response: Response) -> None:
    """Tokens and account data must not stay in a browser's or a proxy's cache."""
    response.headers["Cache-Control"] = "no-store"


NO_STORE = [Depends(no_store)]

CredentialsThrottle = Annotated[Throttle, Depends(get_credentials_throttle)]

auth_router = APIRouter(prefix="/auth", tags=["auth"], dependencies=NO_STORE)
users_router = APIRouter(prefix="/users", tags=["users"], dependencies=NO_STORE)
profile_router = APIRouter(prefix="/profile", tags=["profile"], dependencies=NO_STORE)

# A list's query parameters, checked against the whitelist of its query (queries.py).
UserListParams = Annotated[ListParams, Depends(list_params(USER_LIST_SPEC))]


@auth_router.post(
    "/register",
    status_code=HTTPStatus.CREATED,
    dependencies=[CREDENTIALS_LIMIT],
    responses={**CREATED_RESPONSES, **problem_responses(403, 409, 429, 503)},
)
async def register(
    data: UserCreate, auth: AuthServiceDep, request: Request, response: Response
) -> UserRead:
    """Create an account (a welcome mail follows)."""
    user = await auth.register(data)
    response.headers["Location"] = location(request, get_user, user_id=user.id)
    return user


@auth_router.post(
    "/login",
    dependencies=[LOGIN_LIMIT],
    responses=problem_responses(400, 401, 403, 422, 429, 503, members=TokenErrorMembers),
)
@with_problem_members(token_error_members)
async def login(
    form: Annotated[LoginForm, Form()],
    auth: AuthServiceDep,
    client: ClientInfoDep,
    throttle: CredentialsThrottle,
) -> Token:
    """The OAuth 2 token endpoint (RFC 6749): a username (or email) and password for a
    token pair (password grant), or a refresh token rotated exactly as by
    `/auth/refresh-token` (refresh token grant).

    400: wrong credentials. 401: the refresh token is invalid, expired, revoked or reused
    (a reuse revokes every token of its login). 403: the account is disabled (told only to
    the right password). Every error also carries OAuth 2's `error` and
    `error_description`, which stock OAuth 2 clients read.

    Every request here, of either grant, counts against the per-address login limit,
    which fails closed (503 while Redis is unreachable): refreshing here is limited more
    than at `/auth/refresh-token`, which has no limit of its own. The limits per login
    and per account apply to the password grant, whose account they key.
    """
    if form.grant_type == "refresh_token":
        return await auth.refresh(form.refresh_token, client)
    return await auth.login(form.username, form.password, client, throttle)


@auth_router.post("/refresh-token", responses=problem_responses(401))
async def refresh_token(data: RefreshRequest, auth: AuthServiceDep, client: ClientInfoDep) -> Token:
    """Rotate a refresh token into a new token pair; a reused one revokes its family."""
    return await auth.refresh(data.refresh_token, client)


@auth_router.post("/logout", status_code=HTTPStatus.NO_CONTENT, response_class=Response)
async def logout(
    user: CurrentUser,
    claims: AccessClaimsDep,
    auth: AuthServiceDep,
    data: Annotated[LogoutRequest | None, Body()] = None,
) -> None:
    """Revoke the presented access token, and the refresh token's family when given."""
    await auth.logout(user.id, claims, data.refresh_token if data else None)


@auth_router.post(
    "/restore-password",
    status_code=HTTPStatus.ACCEPTED,
    response_class=Response,
    dependencies=[CREDENTIALS_LIMIT],
    responses=problem_responses(429, 503),
)
async def restore_password(
    data: RestorePasswordRequest, auth: AuthServiceDep, throttle: CredentialsThrottle
) -> None:
    """Mail a password reset link when the email belongs to an account (202 either way)."""
    await auth.restore_password(data.email, throttle)


@auth_router.post(
    "/reset-password",
    status_code=HTTPStatus.NO_CONTENT,
    response_class=Response,
    dependencies=[CREDENTIALS_LIMIT],
    responses=problem_responses(400, 429, 503),
)
async def reset_password(data: ResetPasswordRequest, auth: AuthServiceDep) -> None:
    """Set a new password with a reset token; every session of the account ends."""
    await auth.reset_password(data.token, data.password)


@users_router.get("")
async def list_users(
    _: Superuser,
    params: UserListParams,
    users: UserQueriesDep,
) -> Page[UserRead]:
    """List users (superuser)."""
    return await users.list_users(params)


# The routes of one account answer its representation (`representation`), to which they
# pass the headers of FastAPI's `response` (the routers' `no-store`).


@users_router.get(
    "/{user_id}",
    response_model=UserRead,
    responses=READ_RESPONSES,
    openapi_extra=READ_PARAMETERS,
)
async def get_user(
    user_id: PathId, _: Superuser, users: UserQueriesDep, request: Request, response: Response
) -> Response:
    """Read one user (superuser)."""
    user = await users.get_user(user_id)
    return representation(user, request, headers=response.headers)


@users_router.patch(
    "/{user_id}",
    response_model=UserRead,
    responses={**CHANGE_RESPONSES, **problem_responses(409)},
)
async def update_user(  # noqa: PLR0917 - FastAPI passes dependencies by keyword
    user_id: PathId,
    data: UserAdminUpdate,
    admin: Superuser,
    users: UserServiceDep,
    expected: IfMatch,
    response: Response,
) -> Response:
    """Block or unblock a user, grant or withdraw superuser (superuser).

    Not on your own account (403), so that no superuser locks themselves out:
    use `/profile`, or ask another superuser.
    """
    user = await users.update_user(user_id, data, admin_id=admin.id, if_match=expected)
    return representation(user, headers=response.headers)


@users_router.delete(
    "/{user_id}",
    status_code=HTTPStatus.NO_CONTENT,
    response_class=Response,
    responses={**DELETE_RESPONSES, **problem_responses(409)},
)
async def delete_user(
    user_id: PathId, admin: Superuser, users: UserServiceDep, expected: IfMatch
) -> None:
    """Soft-delete a user; their tokens stop working at once (superuser).

    Not your own account (403): use `DELETE /profile`, or ask another superuser.
    """
    await users.delete_user(user_id, admin_id=admin.id, if_match=expected)


@profile_router.get(
    "",
    response_model=UserRead,
    responses=READ_RESPONSES,
    openapi_extra=READ_PARAMETERS,
)
async def get_profile(user: ActiveUser, request: Request, response: Response) -> Response:
    """The signed-in user's account."""
    return representation(user, request, headers=response.headers)


@profile_router.patch(
    "",
    response_model=UserRead,
    dependencies=[PROFILE_LIMIT],
    responses={**CHANGE_RESPONSES, **problem_responses(400, 409, 429)},
)
async def update_profile(  # noqa: PLR0917 - FastAPI passes dependencies by keyword
    data: ProfileUpdate,
    user: ActiveUser,
    claims: AccessClaimsDep,
    users: UserServiceDep,
    expected: IfMatch,
    response: Response,
) -> Response:
    """Change username, email or password (email and password need `current_password`).

    A new email or password ends every other session and every outstanding reset link.
    """
    updated = await users.update_profile(user.id, data, claims.session_id, if_match=expected)
    return representation(updated, headers=response.headers)


@profile_router.delete(
    "",
    status_code=HTTPStatus.NO_CONTENT,
    response_class=Response,
    dependencies=[PROFILE_LIMIT],
    responses={**DELETE_RESPONSES, **problem_responses(400, 409, 429)},
)
async def delete_profile(
    data: ProfileDeletion,
    user: ActiveUser,
    claims: AccessClaimsDep,
    users: UserServiceDep,
    expected: IfMatch,
) -> None:
    """Delete the signed-in user's account, confirmed with its password (400 when wrong):
    a stolen access token alone cannot destroy it."""
    await users.delete_profile(user.id, data.current_password, claims, if_match=expected)
