"""The auth module's public API: the only names other modules may import."""

from fastapi import APIRouter

from app.auth.bootstrap import InvalidAccountError, create_account, lifespan, new_account
from app.auth.deps import ActiveUser, CurrentUser, Superuser
from app.auth.events import UserBlocked, UserCreated, UserDeleted
from app.auth.gateway import AuthGateway, AuthGatewayDep, UserPublic
from app.auth.router import auth_router, profile_router, users_router
from app.auth.schemas import UserRead

routers: list[APIRouter] = [auth_router, users_router, profile_router]

__all__ = [
    "ActiveUser",
    "AuthGateway",
    "AuthGatewayDep",
    "CurrentUser",
    "InvalidAccountError",
    "Superuser",
    "UserBlocked",
    "UserCreated",
    "UserDeleted",
    "UserPublic",
    "UserRead",
    "create_account",
    "lifespan",
    "new_account",
    "routers",
]
