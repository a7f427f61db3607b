"""What other modules may ask of the auth module: public views of users."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.queries import user_names
from app.core.deps import ReadConnectionDep


class UserPublic(BaseModel):
    """What any module may know of a user: no email, no status."""

    model_config = ConfigDict(frozen=True)

    id: int
    username: str


class AuthGateway:
    """Reads users for other modules; deleted users are not found.

    Queries on the connection it is given: a read connection (`Database.reading`) in a
    query, the unit of work's (`await uow.session.connection()`) in a command.
    """

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get_user(self, user_id: int) -> UserPublic | None:
        return (await self.get_users([user_id])).get(user_id)

    async def get_users(self, user_ids: Iterable[int]) -> dict[int, UserPublic]:
        """The users among `user_ids` that exist, by id, in one query."""
        names = await user_names(self._connection, user_ids)
        return {user_id: UserPublic(id=user_id, username=name) for user_id, name in names.items()}


async def get_auth_gateway(connection: ReadConnectionDep) -> AuthGateway:
    return AuthGateway(connection)


AuthGatewayDep = Annotated[AuthGateway, Depends(get_auth_gateway)]
