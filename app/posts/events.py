"""Events the posts module publishes; each is dispatched only after its transaction commits."""

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
