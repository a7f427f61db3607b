"""Events the movies module publishes; each is dispatched only after its transaction commits.

Part of the module's published contract: no module listens to them yet (tests do); they
are here so that a module you add can react to the catalogue without reaching inside.
"""

from __future__ import annotations

from app.core.events import BaseEvent


class MovieCreated(BaseEvent):
    movie_id: int
    title: str


class MovieUpdated(BaseEvent):
    movie_id: int


class MovieDeleted(BaseEvent):
    movie_id: int
