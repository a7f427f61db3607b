"""In-process domain events, dispatched only after the transaction that raised them commits.

A module declares its events as `BaseEvent` subclasses (frozen pydantic models
named in the past tense, `UserDeleted`) in its `events.py`, and reacts to
other modules' events with `@listener(UserDeleted)` functions in its
`listeners.py`:

```python
@listener(UserDeleted)
async def hide_posts_of_deleted_user(event: UserDeleted, services: CoreServices) -> None:
    async with services.unit_of_work() as uow:
        ...
```

A listener gets the event and the process's `CoreServices`. The publisher's
transaction has already committed when it runs, so a listener that writes
opens its own unit of work; work that must not be lost (mail, anything slow)
is enqueued there as a task, which the outbox makes durable.

Publishing goes through `Events`, bound to a unit of work (`EventsDep` in a
request; `Events(services, uow)` in a task or the CLI). The event is validated
when published (an invalid one raises there, before anything commits), and
dispatched by an after-commit hook: a rolled-back transaction dispatches
nothing. Inside a request the hook hands the event to fastapi-events, whose
middleware (`EventsMiddleware`) runs the listeners once the handler is done and
before the response starts, so the client's next request sees their effects.
Anywhere else (worker tasks, CLI, background work that outlived its request)
the listeners are awaited directly after the commit.

Every listener runs isolated: an exception is logged (with the request id
bound in the log context) and the other listeners still run; nothing reaches
the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from fastapi_events import event_store, handler_store
from fastapi_events.dispatcher import dispatch as fastapi_events_dispatch
from fastapi_events.handlers.base import BaseEventHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.typing import Event
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.db import UnitOfWork

if TYPE_CHECKING:
    from app.core.services import CoreServices

logger = structlog.get_logger(__name__)

EventT = TypeVar("EventT", bound="BaseEvent")
Listener = Callable[[EventT, "CoreServices"], Awaitable[None]]

LISTENER_ATTRIBUTE = "__listens_to__"


class BaseEvent(BaseModel):
    """A fact that happened, named in the past tense; immutable, JSON-serializable fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def event_name(cls) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"


class InvalidEventError(ValueError):
    """An event that is not a valid, JSON-serializable `BaseEvent`."""


def listener(event_type: type[EventT]) -> Callable[[Listener[EventT]], Listener[EventT]]:
    """Mark an async function of a module's `listeners.py` as a listener of `event_type`.

    Marking only records the event type on the function; the composition root
    collects marked functions with `listeners_in` (no global registry). A
    listener of a base class hears its subclasses too.
    """

    def mark(fn: Listener[EventT]) -> Listener[EventT]:
        setattr(fn, LISTENER_ATTRIBUTE, event_type)
        return fn

    return mark


def listens_to(fn: Callable[..., Any]) -> type[BaseEvent] | None:
    event_type = getattr(fn, LISTENER_ATTRIBUTE, None)
    if isinstance(event_type, type) and issubclass(event_type, BaseEvent):
        return event_type
    return None


def listeners_in(modules: Iterable[ModuleType]) -> list[Listener[Any]]:
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


class EventsService:
    """The listeners of this process and the isolated way of running them."""

    def __init__(self, listeners: Iterable[Listener[Any]] = ()) -> None:
        self._listeners: list[tuple[type[BaseEvent], Listener[Any]]] = []
        for fn in listeners:
            event_type = listens_to(fn)
            if event_type is None:
                raise TypeError(f"{_name_of(fn)} is not marked with @listener")
            self._listeners.append((event_type, fn))

    def listeners_for(self, event: BaseEvent) -> list[Listener[Any]]:
        return [fn for event_type, fn in self._listeners if isinstance(event, event_type)]

    async def dispatch(self, event: BaseEvent, services: CoreServices) -> None:
        """Run every listener of `event` in turn; a failing one is logged, never raised."""
        for fn in self.listeners_for(event):
            try:
                await fn(event, services)
            except Exception:
                logger.exception(
                    "event listener failed", event_name=event.event_name(), listener=_name_of(fn)
                )


class Events:
    """Publishes events on one unit of work: they are dispatched after it commits."""

    def __init__(self, services: CoreServices, uow: UnitOfWork) -> None:
        self._services = services
        self._uow = uow

    def publish(self, event: BaseEvent) -> None:
        """Validate now; dispatch to the listeners only once the unit of work commits."""
        checked = validated(event)
        self._uow.after_commit(partial(self._dispatch_committed, checked))

    async def _dispatch_committed(self, event: BaseEvent) -> None:
        delivery = partial(self._services.events.dispatch, event, self._services)
        window = _request_window.get(None)
        if window is not None and window.is_open:
            fastapi_events_dispatch(
                event.event_name(), delivery, validate_payload=False, payload_schema_dump=False
            )
        else:
            await delivery()


@dataclass
class _RequestWindow:
    """Whether the current request's middleware will still process dispatched events.

    Background work started during a request inherits its context variables
    (fastapi-events' among them) but may finish after the request did; once
    the window is closed its events are dispatched directly instead of being
    appended to a queue nobody reads any more.
    """

    is_open: bool = True


_request_window: ContextVar[_RequestWindow] = ContextVar("events_request_window")


class _DeliveryHandler(BaseEventHandler):
    """Runs the delivery (a bound `EventsService.dispatch`) carried as the payload."""

    async def handle(self, event: Event) -> None:
        _, delivery = event
        await delivery()


class EventsMiddleware(EventHandlerASGIMiddleware):
    """fastapi-events' middleware, running a request's events before its response starts.

    Install it inside the request-context middleware so listeners log with the
    request id. Events dispatched later in the request (a streamed body) are
    run at its end.
    """

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, handlers=[_DeliveryHandler()])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return

        async def send_after_events(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._process_events()
            await send(message)

        window = _RequestWindow()
        token = _request_window.set(window)
        try:
            await super().__call__(scope, receive, send_after_events)
        finally:
            # No await between the last processing pass and here: nothing can slip in.
            window.is_open = False
            _request_window.reset(token)

    async def _process_events(self) -> None:
        """Run the pending events one after the other, in the order they were published.

        Not concurrently, as fastapi-events would: listeners open sessions of
        their own, and a predictable order is worth more than the overlap.
        """
        pending = event_store.get()
        while pending:  # a listener may publish more events on its own commit
            event = pending.popleft()
            for handler in handler_store[self._id]:
                await handler.handle(event)
