"""Events: validation when published, listener marking and collection, isolated dispatch."""

from __future__ import annotations

import types
from typing import Any, cast

import pytest
from starlette.types import Message, Receive, Scope, Send

from app.core.events import (
    BaseEvent,
    EventsMiddleware,
    EventsService,
    InvalidEventError,
    listener,
    listeners_in,
    validated,
)
from app.core.services import CoreServices

NO_SERVICES = cast(CoreServices, None)  # these listeners need none


class ParcelShipped(BaseEvent):
    parcel_id: int


class ExpressParcelShipped(ParcelShipped):
    courier: str


class NotAnEvent:
    parcel_id = 1


def test_a_valid_event_passes_validation_unchanged() -> None:
    event = ParcelShipped(parcel_id=1)
    assert validated(event) == event


@pytest.mark.parametrize(
    "event",
    [
        ParcelShipped.model_construct(parcel_id=cast(int, "not a number")),
        NotAnEvent(),
    ],
)
def test_an_invalid_event_is_refused_before_anything_is_dispatched(event: Any) -> None:
    with pytest.raises(InvalidEventError):
        validated(event)


def test_events_are_immutable_facts() -> None:
    event = ParcelShipped(parcel_id=1)
    with pytest.raises(ValueError, match="frozen"):
        event.parcel_id = 2  # type: ignore[misc]


def test_listeners_are_collected_from_the_modules_that_define_them() -> None:
    @listener(ParcelShipped)
    async def on_shipped(event: ParcelShipped, services: CoreServices) -> None:
        return None

    async def unmarked(event: ParcelShipped, services: CoreServices) -> None:
        return None

    defining = types.ModuleType("shipping.listeners")
    on_shipped.__module__ = unmarked.__module__ = defining.__name__
    defining.on_shipped = on_shipped  # type: ignore[attr-defined]
    defining.unmarked = unmarked  # type: ignore[attr-defined]
    importing = types.ModuleType("billing.listeners")
    importing.on_shipped = on_shipped  # type: ignore[attr-defined]

    assert listeners_in([defining, importing]) == [on_shipped]
    with pytest.raises(TypeError, match="not marked with @listener"):
        EventsService([unmarked])


async def test_a_listener_of_a_base_event_hears_its_subclasses_and_failures_stay_isolated() -> None:
    heard: list[tuple[str, BaseEvent]] = []

    @listener(ParcelShipped)
    async def failing(event: ParcelShipped, services: CoreServices) -> None:
        raise RuntimeError("boom")

    @listener(ParcelShipped)
    async def any_parcel(event: ParcelShipped, services: CoreServices) -> None:
        heard.append(("any", event))

    @listener(ExpressParcelShipped)
    async def express_only(event: ExpressParcelShipped, services: CoreServices) -> None:
        heard.append(("express", event))

    service = EventsService([failing, any_parcel, express_only])
    express = ExpressParcelShipped(parcel_id=2, courier="fast")

    await service.dispatch(ParcelShipped(parcel_id=1), NO_SERVICES)
    await service.dispatch(express, NO_SERVICES)

    assert heard == [("any", ParcelShipped(parcel_id=1)), ("any", express), ("express", express)]


async def test_the_middleware_passes_other_scopes_through() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def no_receive() -> Message:
        raise AssertionError("not called")

    async def no_send(message: Message) -> None:
        raise AssertionError("not called")

    await EventsMiddleware(inner)({"type": "lifespan"}, no_receive, no_send)

    assert seen == ["lifespan"]
