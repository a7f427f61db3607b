"""Events the auth module publishes; each is dispatched only after its transaction commits."""

from __future__ import annotations

from app.core.events import BaseEvent


class UserCreated(BaseEvent):
    user_id: int
    username: str


class UserDeleted(BaseEvent):
    """The account is gone for good: other modules hide or drop what it owned."""

    user_id: int


class UserBlocked(BaseEvent):
    user_id: int
