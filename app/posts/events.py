"""Events the posts module publishes; each is dispatched only after its transaction commits.

Part of the module's published contract: no module listens to them yet (tests do); they
are here so that a module you add can react to posts without reaching inside.
"""

from __future__ import annotations

from app.core.events import BaseEvent


class PostCreated(BaseEvent):
    post_id: int
    user_id: int


class PostUpdated(BaseEvent):
    post_id: int
    user_id: int


class PostDeleted(BaseEvent):
    post_id: int
    user_id: int
