"""Events: validation when published, listener marking and collection, isolated dispatch."""

from __future__ import annotations

import types
from typing import Any, cast

import pytest

from app.core.events import (
    BaseEvent,
    EventBus,
    InvalidEventError,
    UnknownEventError,
    event_named,
    is_durable,
    listener,
    listeners_in,
    module_of,
    validated,
)
from app.core.injection import MissingProviderError, Provide, Provided


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
    async def on_shipped(event: ParcelShipped) -> None:
        return None

    async def unmarked(event: ParcelShipped) -> None:
        return None

    defining = types.ModuleType("shipping.listeners")
    on_shipped.__module__ = unmarked.__module__ = defining.__name__
    defining.on_shipped = on_shipped  # type: ignore[attr-defined]
    defining.unmarked = unmarked  # type: ignore[attr-defined]
    importing = types.ModuleType("billing.listeners")
    importing.on_shipped = on_shipped  # type: ignore[attr-defined]

    assert listeners_in([defining, importing]) == [on_shipped]
    with pytest.raises(TypeError, match="not marked with @listener"):
        EventBus([unmarked], Provided())


async def test_a_listener_of_a_base_event_hears_its_subclasses_and_failures_stay_isolated() -> None:
    heard: list[tuple[str, BaseEvent]] = []

    @listener(ParcelShipped)
    async def failing(event: ParcelShipped) -> None:
        raise RuntimeError("boom")

    @listener(ParcelShipped)
    async def any_parcel(event: ParcelShipped) -> None:
        heard.append(("any", event))

    @listener(ExpressParcelShipped)
    async def express_only(event: ExpressParcelShipped) -> None:
        heard.append(("express", event))

    bus = EventBus([failing, any_parcel, express_only], Provided())
    express = ExpressParcelShipped(parcel_id=2, courier="fast")

    await bus.dispatch(ParcelShipped(parcel_id=1))
    await bus.dispatch(express)

    assert heard == [("any", ParcelShipped(parcel_id=1)), ("any", express), ("express", express)]


class Ledger:
    """A service some listener needs."""

    def __init__(self) -> None:
        self.lines: list[int] = []


async def test_a_listener_gets_the_services_it_names_by_type() -> None:
    @listener(ParcelShipped)
    async def book(event: ParcelShipped, ledger: Provide[Ledger]) -> None:
        ledger.lines.append(event.parcel_id)

    provided = Provided()
    ledger = Ledger()
    provided.add(Ledger, ledger)
    await EventBus([book], provided).dispatch(ParcelShipped(parcel_id=3))
    assert ledger.lines == [3]


def test_a_listener_asking_for_an_unprovided_service_fails_at_start_up() -> None:
    @listener(ParcelShipped)
    async def book(event: ParcelShipped, ledger: Provide[Ledger]) -> None:
        return None

    bus = EventBus([book], Provided())
    with pytest.raises(MissingProviderError, match=r"book\(ledger\): nothing provides Ledger"):
        bus.check()


async def test_a_listener_may_ask_for_what_a_module_provides_once_the_bus_is_built() -> None:
    @listener(ParcelShipped)
    async def book(event: ParcelShipped, ledger: Provide[Ledger]) -> None:
        ledger.lines.append(event.parcel_id)

    provided = Provided()
    bus = EventBus([book], provided)
    ledger = Ledger()
    provided.add(Ledger, ledger)  # as a module's start-up does, after the core services
    bus.check()
    await bus.dispatch(ParcelShipped(parcel_id=4))
    assert ledger.lines == [4]


def test_a_listener_of_another_modules_event_is_durable_and_of_its_own_in_memory() -> None:
    @listener(ParcelShipped)
    async def on_shipped(event: ParcelShipped) -> None:
        return None

    on_shipped.__module__ = "app.billing.listeners"
    assert is_durable(on_shipped, ParcelShipped)  # ParcelShipped belongs to `tests.unit`
    on_shipped.__module__ = "tests.unit.listeners"
    assert not is_durable(on_shipped, ParcelShipped)
    assert module_of("app.posts.listeners") == module_of("app.posts.events") == "app.posts"


def test_a_durable_listener_needs_the_event_outbox_at_start_up() -> None:
    @listener(ParcelShipped)
    async def bill(event: ParcelShipped) -> None:
        return None

    bill.__module__ = "app.billing.listeners"
    with pytest.raises(MissingProviderError, match="EventDeliveries"):
        EventBus([bill], Provided())


def test_a_delivery_names_its_event_by_the_events_name() -> None:
    assert event_named(ExpressParcelShipped.event_name()) is ExpressParcelShipped
    with pytest.raises(UnknownEventError):
        event_named("tests.unit.nowhere:Gone")
