"""In-process domain events, dispatched only after the transaction that raised them commits.

A module declares its events as `BaseEvent` subclasses (frozen pydantic models
named in the past tense, `UserDeleted`) in its `events.py`, and reacts to
other modules' events with `@listener(UserDeleted)` functions in its
`listeners.py`. A listener's first parameter is the event; every other one is
a typed dependency that the bus injects (see `app.core.injection`):

```python
@listener(UserDeleted)
async def hide_posts_of_deleted_user(event: UserDeleted, database: Database) -> None:
    async with database.unit_of_work() as uow:
        ...
```

The publisher's transaction has already committed when a listener runs, so a
listener that writes opens its own unit of work; work that must not be lost
(mail, anything slow) is enqueued there as a task, which the outbox makes durable.

Publishing goes through `Events`, bound to a unit of work (`EventsDep` in a request,
`TaskEventsDep` in a task). The event is validated when published (an invalid one
raises there, before anything commits) and dispatched by an after-commit hook: a
rolled-back transaction dispatches nothing. In a request the commit happens before
the response starts, so the listeners have run when the client reads it.

Every listener runs isolated: an exception is logged (with the request id bound in
the log context) and the other listeners still run; nothing reaches the publisher.

fastapi-events is the transport, through its public API only: each bus owns a
`LocalHandler` on which the listeners are registered by event name, and dispatching
is `handler.handle((name, event))`. Its middleware and `dispatch()` are not used:
they queue events for after the response and run them even when the request failed,
while our events must run after the commit and before the response, in requests,
tasks and commands alike (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from types import ModuleType
from typing import Any, TypeVar

import structlog
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.typing import Event
from pydantic import BaseModel, ConfigDict, ValidationError

from app.core.db import UnitOfWork
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


class EventBus:
    """The listeners of this process, each with its dependencies, run in isolation."""

    def __init__(self, listeners: Iterable[Listener], provided: Provided) -> None:
        self._handler = LocalHandler()  # type: ignore[no-untyped-call]  # untyped library
        provided.add(EventBus, self)  # a listener may publish follow-up events
        for fn in listeners:
            event_type = listens_to(fn)
            if event_type is None:
                raise TypeError(f"{_name_of(fn)} is not marked with @listener")
            isolated = _isolated(fn, provided.arguments_for(fn, skip=1))
            self._handler.register(  # type: ignore[no-untyped-call]
                isolated, event_name=event_type.event_name()
            )

    async def dispatch(self, event: BaseEvent) -> None:
        """Run the listeners of `event`'s base events, then its own; failures are only logged."""
        for kind in reversed(type(event).__mro__):
            if isinstance(kind, type) and issubclass(kind, BaseEvent):
                await self._handler.handle((kind.event_name(), event))


def _isolated(fn: Listener, arguments: dict[str, object]) -> Callable[[Event], Awaitable[None]]:
    async def run(event: Event) -> None:
        event_name, payload = event
        try:
            await fn(payload, **arguments)
        except Exception:
            logger.exception("event listener failed", event_name=event_name, listener=_name_of(fn))

    return run


class Events:
    """Publishes events on one unit of work: they are dispatched after it commits."""

    def __init__(self, bus: EventBus, uow: UnitOfWork) -> None:
        self._bus = bus
        self._uow = uow

    def publish(self, event: BaseEvent) -> None:
        """Validate now; dispatch to the listeners only once the unit of work commits."""
        self._uow.after_commit(partial(self._bus.dispatch, validated(event)))
