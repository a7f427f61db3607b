"""Domain events, reaching their listeners only after the transaction that raised them commits.

A module declares its events as `BaseEvent` subclasses (frozen pydantic models
named in the past tense, `UserDeleted`) in its `events.py`, and reacts to
other modules' events with `@listener(UserDeleted)` functions in its
`listeners.py`. A listener's first parameter is the event; every other one is
a typed dependency that the bus injects (see `app.core.injection`; a missing one
fails at start-up):

```python
@listener(UserDeleted)
async def hide_posts_of_deleted_user(event: UserDeleted, database: Provide[Database]) -> None:
    async with database.unit_of_work() as uow:
        ...
```

The publisher's transaction has already committed when a listener runs, so a
listener that writes opens its own unit of work.

Publishing goes through `Events`, bound to a unit of work (`EventsDep` in a request,
`TaskEventsDep` in a task). The event is validated when published (an invalid one
raises there, before anything commits); a rolled-back transaction delivers nothing.
Which way an event travels depends on who listens (`is_durable`):

- a listener of ANOTHER module's event (`posts` hearing auth's `UserDeleted`) gets it
  through the event outbox (`app.core.event_deliveries`): one row per listener written in
  the publisher's transaction, attempted by the publisher right after its commit, and by
  the relay if that process died first or the listener raised; retried with backoff,
  dead-lettered after the last try. At least once: such listeners are idempotent.
- a listener of its OWN module's events runs in memory after the commit, once, isolated:
  an exception is logged (with the request id) and the other listeners still run. For
  in-request reactions that must see the commit and may be lost with the process.

In a request the commit happens before the response starts, so both kinds have run (once,
successfully or not) when the client reads it.

fastapi-events is the transport, through its public API only: a bus owns two
`LocalHandler`s, one with the in-memory listeners by event name, one with the durable
listeners each under its own name, and runs them with `handler.handle((name, event))`.
Its middleware and `dispatch()` are not used: they queue events for after the response
and run them even when the request failed, while our events must run after the commit
and before the response, in requests, tasks and commands alike (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from types import ModuleType
from typing import Any, TypeVar

import structlog
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.typing import Event
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import UnitOfWork
from app.core.event_deliveries import Deliver, EventDeliveries, EventDelivery
from app.core.injection import Provided

logger = structlog.get_logger(__name__)

EventT = TypeVar("EventT", bound="BaseEvent")
# The event first, then the typed dependencies the bus injects.
Listener = Callable[..., Awaitable[None]]

LISTENER_ATTRIBUTE = "__listens_to__"


class BaseEvent(BaseModel):
    """A fact that happened, named in the past tense; immutable, JSON-serializable fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def event_name(cls) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"


class InvalidEventError(ValueError):
    """An event that is not a valid, JSON-serializable `BaseEvent`."""


def listener(event_type: type[EventT]) -> Callable[[Listener], Listener]:
    """Mark an async function of a module's `listeners.py` as a listener of `event_type`.

    Marking only records the event type on the function; the composition root
    collects marked functions with `listeners_in` (no global registry). A
    listener of a base class hears its subclasses too.
    """

    def mark(fn: Listener) -> Listener:
        setattr(fn, LISTENER_ATTRIBUTE, event_type)
        return fn

    return mark


def listens_to(fn: Callable[..., Any]) -> type[BaseEvent] | None:
    event_type = getattr(fn, LISTENER_ATTRIBUTE, None)
    if isinstance(event_type, type) and issubclass(event_type, BaseEvent):
        return event_type
    return None


def listeners_in(modules: Iterable[ModuleType]) -> list[Listener]:
    """Every `@listener` function defined in (not merely imported into) the given modules."""
    return [
        value
        for module in modules
        for value in vars(module).values()
        if listens_to(value) is not None and value.__module__ == module.__name__
    ]


def validated(event: BaseEvent) -> BaseEvent:
    """The event, after proving it is a `BaseEvent` that survives a JSON round trip."""
    if not isinstance(event, BaseEvent):
        raise InvalidEventError(f"{type(event).__name__} is not a BaseEvent")
    try:
        return type(event).model_validate_json(event.model_dump_json(warnings="error"))
    except (ValidationError, ValueError, TypeError) as error:
        raise InvalidEventError(f"invalid {type(event).__name__}: {error}") from error


def _name_of(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def module_of(dotted_name: str) -> str:
    """The module a Python module belongs to: `app.posts.listeners` -> `app.posts`."""
    return ".".join(dotted_name.split(".")[:2])


def is_durable(fn: Listener, event_type: type[BaseEvent]) -> bool:
    """Whether `fn` hears `event_type` through the event outbox: it belongs to another module."""
    return module_of(fn.__module__) != module_of(event_type.__module__)


class UnknownListenerError(LookupError):
    """A delivery names a listener this process does not have (removed, or renamed)."""


class EventBus:
    """The listeners of this process, each with its dependencies, run in isolation.

    A listener of its own module's events runs in memory after the publisher's commit; a
    listener of another module's events gets each event through the event outbox
    (`app.core.event_deliveries`): at least once, retried, dead-lettered after the last try.
    """

    def __init__(self, listeners: Iterable[Listener], provided: Provided) -> None:
        # In memory: listeners by event name. Durable: each listener alone, by its own name.
        self._in_memory = LocalHandler()  # type: ignore[no-untyped-call]  # untyped library
        self._durable = LocalHandler()  # type: ignore[no-untyped-call]
        self._durable_listeners: dict[str, type[BaseEvent]] = {}
        provided.add(EventBus, self)  # a listener may publish follow-up events
        self._provided = provided
        self._listeners = list(listeners)
        # Each listener's services, found at its first run or by `check`, whichever is first:
        # a module's start-up may provide some after the bus is built.
        self._arguments: dict[Listener, dict[str, object]] = {}
        for fn in self._listeners:
            self._register(fn)
        # Only a process with durable listeners needs the outbox: a missing one fails here.
        self._deliveries = (
            provided.get(EventDeliveries)
            if self._durable_listeners
            else provided.find(EventDeliveries)
        )
        if self._deliveries is not None:
            self._deliveries.attach(self.deliver)

    def _arguments_of(self, fn: Listener) -> dict[str, object]:
        arguments = self._arguments.get(fn)
        if arguments is None:
            arguments = self._arguments[fn] = self._provided.arguments_for(fn, skip=1)
        return arguments

    def check(self) -> None:
        """Find every listener's services now: one that nothing provides fails here (at
        start-up, once the modules have started), not at its first event."""
        for fn in self._listeners:
            self._arguments_of(fn)

    def _register(self, fn: Listener) -> None:
        event_type = listens_to(fn)
        if event_type is None:
            raise TypeError(f"{_name_of(fn)} is not marked with @listener")
        if not is_durable(fn, event_type):
            self._in_memory.register(  # type: ignore[no-untyped-call]
                _isolated(fn, self._arguments_of), event_name=event_type.event_name()
            )
            return
        name = _name_of(fn)
        if name in self._durable_listeners:
            raise ValueError(f"two listeners named {name}: deliveries name their listener")
        self._durable_listeners[name] = event_type
        self._durable.register(_bound(fn, self._arguments_of), event_name=name)  # type: ignore[no-untyped-call]

    async def dispatch(self, event: BaseEvent) -> None:
        """Run the in-memory listeners of `event`'s base events, then its own; failures are
        only logged."""
        for kind in reversed(type(event).__mro__):
            if isinstance(kind, type) and issubclass(kind, BaseEvent):
                await self._in_memory.handle((kind.event_name(), event))

    def record_deliveries(
        self, session: AsyncSession, event: BaseEvent
    ) -> list[tuple[EventDelivery, Deliver]]:
        """Add `event`'s deliveries to its durable listeners to `session`'s transaction; each
        with what attempts it at once (the publisher's `deliver_now` after the commit)."""
        listeners = [
            name for name, kind in self._durable_listeners.items() if isinstance(event, kind)
        ]
        if not listeners or self._deliveries is None:
            return []
        rows = self._deliveries.record(
            session, event.event_name(), event.model_dump(mode="json"), listeners
        )
        return [(row, partial(self._run, event)) for row in rows]

    async def deliver_now(self, attempts: Sequence[tuple[EventDelivery, Deliver]]) -> None:
        """Attempt committed deliveries in this process (the fast path)."""
        if self._deliveries is not None:
            await self._deliveries.deliver_now(attempts)

    async def deliver(self, delivery: EventDelivery) -> None:
        """Run the listener `delivery` names on its event (for the relay); raises what it raises."""
        await self._run(event_named(delivery.event_name).model_validate(delivery.payload), delivery)

    async def _run(self, event: BaseEvent, delivery: EventDelivery) -> None:
        if delivery.listener not in self._durable_listeners:
            raise UnknownListenerError(f"no listener {delivery.listener} in this process")
        await self._durable.handle((delivery.listener, event))


class UnknownEventError(LookupError):
    """A delivery names an event class this process has not loaded."""


def event_named(name: str) -> type[BaseEvent]:
    """The loaded `BaseEvent` subclass whose `event_name()` is `name`."""
    kinds = [BaseEvent]
    while kinds:
        kind = kinds.pop()
        if kind.event_name() == name:
            return kind
        kinds.extend(kind.__subclasses__())
    raise UnknownEventError(f"no event {name} in this process")


ArgumentsOf = Callable[[Listener], dict[str, object]]


def _isolated(fn: Listener, arguments_of: ArgumentsOf) -> Callable[[Event], Awaitable[None]]:
    async def run(event: Event) -> None:
        event_name, payload = event
        try:
            await fn(payload, **arguments_of(fn))
        except Exception:
            logger.exception("event listener failed", event_name=event_name, listener=_name_of(fn))

    return run


def _bound(fn: Listener, arguments_of: ArgumentsOf) -> Callable[[Event], Awaitable[None]]:
    async def run(event: Event) -> None:
        await fn(event[1], **arguments_of(fn))

    return run


class Events:
    """Publishes events on one unit of work: they reach the listeners after it commits."""

    def __init__(self, bus: EventBus, uow: UnitOfWork) -> None:
        self._bus = bus
        self._uow = uow
        self._undelivered: list[tuple[EventDelivery, Deliver]] = []

    def publish(self, event: BaseEvent) -> None:
        """Validate now; write the deliveries to other modules' listeners in the unit of work's
        transaction; run the listeners only once it commits."""
        event = validated(event)
        self._uow.after_commit(partial(self._bus.dispatch, event))
        attempts = self._bus.record_deliveries(self._uow.session, event)
        if attempts and not self._undelivered:
            self._uow.after_commit(self._deliver_committed)
        self._undelivered.extend(attempts)

    async def _deliver_committed(self) -> None:
        attempts, self._undelivered = self._undelivered, []
        await self._bus.deliver_now(attempts)
