"""Events the movies module publishes; each is dispatched only after its transaction commits."""

from __future__ import annotations

from app.core.events import BaseEvent


class MovieCreated(BaseEvent):
    movie_id: int
    title: str


class MovieUpdated(BaseEvent):
    movie_id: int


class MovieDeleted(BaseEvent):
    movie_id: int
