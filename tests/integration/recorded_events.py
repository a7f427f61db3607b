"""A fixture that swaps the app's listeners for one that records every event published."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.core.events import BaseEvent, listener
from tests.apps import replace_listeners


@pytest.fixture
def heard_events(app: FastAPI) -> list[BaseEvent]:
    """The events the app dispatches from now on, in order (the modules' listeners are off)."""
    heard: list[BaseEvent] = []

    @listener(BaseEvent)
    async def record(event: BaseEvent) -> None:
        heard.append(event)

    replace_listeners(app, record)
    return heard
