"""Events the auth module publishes; each is dispatched only after its transaction commits.

`UserDeleted` is heard by the posts module; `UserCreated` and `UserBlocked` have no
listener yet: they are part of the module's published contract, for the modules you add.
"""

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
