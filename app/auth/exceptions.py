"""The auth module's errors; `app.core.errors` turns each into a problem response."""

from __future__ import annotations

from app.core.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DuplicateError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    problem_uri,
)

HASHER_RETRY_AFTER_SECONDS = 1


class AccessTokenMissingError(AuthenticationError):
    """No access token: send one as `Authorization: Bearer <token>`."""

    problem_type = problem_uri("access-token-missing")
    title = "Access token missing"
    detail = "Not authenticated: send an access token as Bearer"


class AccessTokenExpiredError(AuthenticationError):
    """The access token has expired: get a new one with the refresh token."""

    problem_type = problem_uri("access-token-expired")
    title = "Access token expired"
    detail = "The access token has expired"


class AccessTokenInvalidError(AuthenticationError):
    """The access token is malformed or forged, or no longer valid: logged out, its session
    revoked, issued before a password reset, or its account deleted or disabled. Sign in
    again."""

    problem_type = problem_uri("access-token-invalid")
    title = "Access token invalid or revoked"
    detail = "The access token is invalid"


class InvalidRefreshTokenError(AuthenticationError):
    """The refresh token is unknown, expired, revoked or reused: sign in again."""

    problem_type = problem_uri("refresh-token-invalid")
    title = "Refresh token invalid"
    detail = "The refresh token is invalid, expired or revoked"


class InvalidCredentialsError(BadRequestError):
    """Sign-in with a wrong username or password."""

    problem_type = problem_uri("invalid-credentials")
    title = "Invalid credentials"
    detail = "Incorrect username or password"


class AccountDisabledError(PermissionDeniedError):
    """Sign-in to an account that is disabled."""

    problem_type = problem_uri("account-disabled")
    title = "Account disabled"
    detail = "This account is disabled"


class RegistrationClosedError(PermissionDeniedError):
    """Registration is turned off on this deployment."""

    problem_type = problem_uri("registration-closed")
    title = "Registration closed"
    detail = "Registration is disabled"


class UsernameTakenError(DuplicateError):
    detail = "This username is already taken"


class EmailTakenError(DuplicateError):
    detail = "This email is already registered"


class InvalidResetTokenError(BadRequestError):
    """The password reset token is unknown, expired or already used."""

    problem_type = problem_uri("invalid-reset-token")
    title = "Invalid reset token"
    detail = "The reset token is invalid, expired or already used"


class WrongCurrentPasswordError(BadRequestError):
    """Changing the email or password, or deleting the account, needs the current password,
    missing or wrong here."""

    problem_type = problem_uri("wrong-current-password")
    title = "Current password required"
    detail = (
        "current_password is missing or wrong; it is required to change email or password "
        "and to delete the account"
    )


class SuperuserRequiredError(PermissionDeniedError):
    detail = "This requires a superuser"


class OwnAccountError(PermissionDeniedError):
    detail = (
        "A superuser cannot change or delete their own account through /users: "
        "use /profile, or ask another superuser"
    )


class LastSuperuserError(ConflictError):
    detail = "At least one active superuser must remain: promote another one first"


class UserNotFoundError(NotFoundError):
    detail = "User not found"


class HasherBusyError(ServiceUnavailableError):
    """Too many passwords are being checked at once: retry after `Retry-After` seconds."""

    problem_type = problem_uri("server-busy")
    title = "Server busy"
    detail = "Too many sign-ins are being checked right now; retry in a moment"

    def __init__(self) -> None:
        super().__init__(retry_after=HASHER_RETRY_AFTER_SECONDS)
