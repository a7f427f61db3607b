"""Events: dispatched only after a commit, each listener isolated, in requests and in tasks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.db import Database
from app.core.deps import EventsDep, QueueDep
from app.core.errors import ConflictError
from app.core.events import BaseEvent, EventBus, Events, Listener, listener
from app.core.injection import Provide, provided_by
from tests.apps import client_of, replace_listeners
from tests.integration import event_probes
from tests.integration.event_probes import FollowUpHappened, ThingHappened
from tests.integration.queue.conftest import wait_for
from tests.integration.real_app import running_app

# The tests add routes to the app and replace its listeners.
pytestmark = pytest.mark.own_app


def recording_listeners(heard: list[BaseEvent]) -> list[Listener]:
    """A failing listener first, then ones that record, and one that publishes a follow-up."""

    @listener(ThingHappened)
    async def broken(event: ThingHappened) -> None:
        raise RuntimeError("a bug in a listener")

    @listener(ThingHappened)
    async def record(event: ThingHappened) -> None:
        heard.append(event)

    @listener(ThingHappened)
    async def follow_up(
        event: ThingHappened, database: Provide[Database], bus: Provide[EventBus]
    ) -> None:
        async with database.unit_of_work() as uow:
            Events(bus, uow).publish(FollowUpHappened(thing_id=event.thing_id))

    @listener(FollowUpHappened)
    async def record_follow_up(event: FollowUpHappened) -> None:
        heard.append(event)

    return [broken, record, follow_up, record_follow_up]


def event_routes() -> APIRouter:
    router = APIRouter(prefix="/events-test")

    @router.post("/things/{thing_id}", status_code=204)
    async def publish(thing_id: int, events: EventsDep, fail: bool = False) -> None:
        events.publish(ThingHappened(thing_id=thing_id))
        if fail:
            raise ConflictError("failed after publishing")

    @router.post("/tasks/{thing_id}", status_code=204)
    async def enqueue(thing_id: int, queue: QueueDep) -> None:
        await queue.enqueue(event_probes.publish_thing, thing_id=thing_id)

    return router


@pytest.fixture
def heard() -> list[BaseEvent]:
    return []


@pytest.fixture
def events_app(app: FastAPI, heard: list[BaseEvent]) -> FastAPI:
    replace_listeners(app, *recording_listeners(heard))
    app.include_router(event_routes())
    return app


async def test_committed_request_runs_every_listener_even_after_one_fails(
    events_app: FastAPI,
    client: httpx.AsyncClient,
    heard: list[BaseEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)

    response = await client.post("/events-test/things/7", headers={"X-Request-ID": "evt-1"})

    assert response.status_code == 204
    assert heard == [ThingHappened(thing_id=7), FollowUpHappened(thing_id=7)]
    [failure] = [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg["event"] == "event listener failed"
    ]
    assert failure["request_id"] == "evt-1"
    assert failure["listener"].endswith("broken")
    assert failure["event_name"] == ThingHappened.event_name()


async def test_rolled_back_request_dispatches_nothing(
    events_app: FastAPI, client: httpx.AsyncClient, heard: list[BaseEvent]
) -> None:
    response = await client.post("/events-test/things/8", params={"fail": "true"})

    assert response.status_code == 409
    assert heard == []


async def test_events_outside_a_request_are_dispatched_after_the_commit_only(
    events_app: FastAPI, heard: list[BaseEvent]
) -> None:
    database, bus = provided_by(events_app).get(Database), provided_by(events_app).get(EventBus)
    async with database.unit_of_work() as uow:
        Events(bus, uow).publish(ThingHappened(thing_id=1))
        assert heard == []
    assert heard == [ThingHappened(thing_id=1), FollowUpHappened(thing_id=1)]

    async def publish_then_fail() -> None:
        async with database.unit_of_work() as uow:
            Events(bus, uow).publish(ThingHappened(thing_id=2))
            raise RuntimeError("abandoned")

    with pytest.raises(RuntimeError, match="abandoned"):
        await publish_then_fail()
    assert ThingHappened(thing_id=2) not in heard


@pytest.fixture
async def embedded_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """The real app in embedded mode: tasks run in-process, after real commits."""
    embedded = settings.model_copy(
        update={
            "redis_url": "",
            "queue_poll_interval": 0.02,
            "queue_task_modules": event_probes.MODULE,
        }
    )
    async with running_app(embedded, engine, event_routes()) as app:
        yield app


async def test_event_raised_inside_a_task_reaches_its_listeners(
    embedded_app: FastAPI, heard: list[BaseEvent]
) -> None:
    replace_listeners(embedded_app, *recording_listeners(heard))

    async with client_of(embedded_app) as client:
        response = await client.post("/events-test/tasks/5")

    assert response.status_code == 204
    await wait_for(lambda: len(heard) == 2, seconds=5, what="listeners of the task's event")
    assert heard == [ThingHappened(thing_id=5), FollowUpHappened(thing_id=5)]
