"""The OAuth 2 error members (RFC 6749 section 5.2) of the token endpoint's problems.

Stock OAuth 2 clients (authlib, requests-oauthlib, the "Authorize" dialog of /docs)
tell an error from a token by its `error` member, and show `error_description`: every
problem `/auth/login` answers carries both beside its own members, the description
being the problem's `detail`. Statuses stay the API's (422 for a validation error,
401 for a bad refresh token, 403 for a disabled account), not section 5.2's 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from app.auth.exceptions import (
    AccountDisabledError,
    InvalidCredentialsError,
    InvalidRefreshTokenError,
)

# The grant (credentials or refresh token) is wrong, expired, revoked or reused.
INVALID_GRANT_ERRORS = (InvalidCredentialsError, AccountDisabledError, InvalidRefreshTokenError)
# Section 5.2 has no code for these; section 4.1.2.1's is the one clients know.
UNAVAILABLE_STATUSES = {HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE}
GRANT_TYPE_LOC = ("body", "grant_type")

TokenErrorCode = Literal[
    "invalid_request", "invalid_grant", "unsupported_grant_type", "temporarily_unavailable"
]


class TokenErrorMembers(BaseModel):
    """What an OAuth 2 client reads in a failed token request (RFC 6749 section 5.2)."""

    error: TokenErrorCode = Field(
        description="`invalid_grant`: wrong credentials, a disabled account, or a refresh "
        "token invalid, expired, revoked or reused; `unsupported_grant_type`; "
        "`temporarily_unavailable`: 429 or 503; `invalid_request`: anything else"
    )
    error_description: str = Field(description="The problem's `detail`")


def token_error_code(error: Exception, status: int) -> TokenErrorCode:
    """The section 5.2 `error` of a failed token request."""
    if isinstance(error, INVALID_GRANT_ERRORS):
        return "invalid_grant"
    if isinstance(error, RequestValidationError) and any(
        tuple(issue["loc"]) == GRANT_TYPE_LOC for issue in error.errors()
    ):
        return "unsupported_grant_type"
    if status in UNAVAILABLE_STATUSES:
        return "temporarily_unavailable"
    return "invalid_request"


def token_error_members(error: Exception, problem: Mapping[str, Any]) -> dict[str, Any]:
    """The members a token endpoint's problem carries for OAuth 2 clients."""
    members = TokenErrorMembers(
        error=token_error_code(error, problem["status"]), error_description=problem["detail"]
    )
    return members.model_dump()
