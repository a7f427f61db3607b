"""Request and response bodies of the auth, users and profile endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.auth.common_passwords import is_common
from app.auth.models import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH, UserStatus
from app.auth.names import name_key
from app.core.schemas import PatchModel, RequestModel

Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=USERNAME_MAX_LENGTH, pattern=r"^[A-Za-z0-9_.-]+$"),
]


def _not_common(password: str) -> str:
    if is_common(password):
        raise ValueError("this password is among the most common ones; choose another")
    return password


Password = Annotated[
    str, StringConstraints(min_length=8, max_length=128), AfterValidator(_not_common)
]


def _fits_once_normalised(email: str) -> str:
    """NFKC may lengthen an address: its stored key must still fit its column."""
    if len(name_key(email)) > EMAIL_MAX_LENGTH:
        raise ValueError(f"the address is longer than {EMAIL_MAX_LENGTH} characters")
    return email


Email = Annotated[EmailStr, AfterValidator(_fits_once_normalised)]
OpaqueToken = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
OAuthClientField = Annotated[str, StringConstraints(max_length=1024)]
# A status in a request body: the enum's value (strict request models take no plain
# string for an enum otherwise).
StatusValue = Annotated[UserStatus, Field(strict=False)]


class UserRead(BaseModel):
    """The public view of an account. `email` is a plain string: it was validated
    on the way in, and re-validating it on every response is pure cost."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    username: str
    email: str
    status: UserStatus
    is_superuser: bool
    created_at: dt.datetime
    updated_at: dt.datetime


GrantType = Literal["password", "refresh_token"]
# The parameters of each grant: required with it, refused with the other one.
GRANT_PARAMETERS: dict[GrantType, tuple[str, ...]] = {
    "password": ("username", "password"),
    "refresh_token": ("refresh_token",),
}


class LoginForm(RequestModel):
    """A token request (RFC 6749 section 4.3.2 or 6), form-encoded: the password grant
    (also when `grant_type` is left out) or the refresh token grant.

    An empty parameter counts as omitted (section 3.2). `scope`, `client_id` and
    `client_secret`, which OAuth 2 clients such as the "Authorize" dialog of /docs may
    send, are accepted and ignored; any other field is a 422.
    """

    grant_type: GrantType = "password"
    username: Annotated[str, StringConstraints(max_length=320)] = Field(
        "", description="Email or username; required by the password grant"
    )
    password: Annotated[str, StringConstraints(max_length=128)] = Field(
        "", description="Required by the password grant"
    )
    refresh_token: Annotated[str, StringConstraints(max_length=1024)] = Field(
        "", description="Required by the refresh_token grant"
    )
    scope: OAuthClientField | None = None
    client_id: OAuthClientField | None = None
    client_secret: OAuthClientField | None = None

    @model_validator(mode="after")
    def _parameters_of_the_grant(self) -> Self:
        """A 422 naming each parameter the grant lacks, or that belongs to the other one."""
        wanted = GRANT_PARAMETERS[self.grant_type]
        every = {name for names in GRANT_PARAMETERS.values() for name in names}
        misplaced = PydanticCustomError(
            "extra_forbidden",
            "Not allowed with grant_type {grant_type}",
            {"grant_type": self.grant_type},
        )
        errors = [
            InitErrorDetails(type="missing", loc=(name,), input=None)
            for name in wanted
            if not getattr(self, name)
        ] + [
            InitErrorDetails(type=misplaced, loc=(name,), input=None)
            for name in sorted(every - set(wanted))
            if getattr(self, name)
        ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


class UserCreate(RequestModel):
    username: Username
    email: Email
    password: Password


class UserAdminUpdate(PatchModel):
    status: StatusValue | None = None
    is_superuser: bool | None = None


# The account's password, confirming a sensitive change (checked, never stored).
CurrentPassword = Annotated[str, StringConstraints(max_length=128)]


class ProfileUpdate(PatchModel):
    username: Username | None = None
    email: Email | None = None
    password: Password | None = None
    current_password: CurrentPassword | None = None


class ProfileDeletion(RequestModel):
    current_password: CurrentPassword


class Token(BaseModel):
    """An OAuth 2 token response (RFC 6749 section 5.1); lifetimes in seconds."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth 2 token type, no secret
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class RefreshRequest(RequestModel):
    refresh_token: OpaqueToken


class LogoutRequest(RequestModel):
    refresh_token: OpaqueToken | None = Field(
        default=None, description="Also revoke this refresh token and its whole family"
    )


class RestorePasswordRequest(RequestModel):
    email: EmailStr


class ResetPasswordRequest(RequestModel):
    token: OpaqueToken
    password: Password
