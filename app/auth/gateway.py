"""What other modules may ask of the auth module: public views of users."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.repository import UserRepository
from app.core.deps import SessionDep


class UserPublic(BaseModel):
    """What any module may know of a user: no email, no status."""

    model_config = ConfigDict(frozen=True)

    id: int
    username: str


class AuthGateway:
    """Reads users for other modules; deleted users are not found."""

    def __init__(self, session: AsyncSession) -> None:
        self._users = UserRepository(session)

    async def get_user(self, user_id: int) -> UserPublic | None:
        return (await self.get_users([user_id])).get(user_id)

    async def get_users(self, user_ids: Iterable[int]) -> dict[int, UserPublic]:
        """The users among `user_ids` that exist, by id, in one query."""
        names = await self._users.get_names(user_ids)
        return {user_id: UserPublic(id=user_id, username=name) for user_id, name in names.items()}


async def get_auth_gateway(session: SessionDep) -> AuthGateway:
    return AuthGateway(session)


AuthGatewayDep = Annotated[AuthGateway, Depends(get_auth_gateway)]
