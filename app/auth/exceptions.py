"""The auth module's errors; `app.core.errors` turns each into a problem response."""

from __future__ import annotations

from app.core.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)

HASHER_RETRY_AFTER_SECONDS = 1


class InvalidCredentialsError(BadRequestError):
    detail = "Incorrect username or password"


class AccountDisabledError(PermissionDeniedError):
    detail = "This account is disabled"


class RegistrationClosedError(PermissionDeniedError):
    detail = "Registration is disabled"


class UsernameTakenError(ConflictError):
    detail = "This username is already taken"


class EmailTakenError(ConflictError):
    detail = "This email is already registered"


class InvalidRefreshTokenError(AuthenticationError):
    detail = "The refresh token is invalid, expired or revoked"


class InvalidResetTokenError(BadRequestError):
    detail = "The reset token is invalid, expired or already used"


class WrongCurrentPasswordError(BadRequestError):
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
    detail = "Too many sign-ins are being checked right now; retry in a moment"

    def __init__(self) -> None:
        super().__init__(retry_after=HASHER_RETRY_AFTER_SECONDS)
