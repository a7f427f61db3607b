"""Typed injection for listeners and module start-ups: ask for a type, get the process's one.

A listener or a module's start-up names what it needs as typed parameters
(`database: Database`, `broker: TaskBroker`); the composition root registers one object
per type in a `Provided` and the dispatcher calls the function with exactly those
(Cosmic Python's bootstrap, by type instead of by name). Nothing sees the whole set,
and a missing type is an error at start-up, not at the first event.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, get_type_hints

from starlette.applications import Starlette

T = TypeVar("T")


class MissingProviderError(LookupError):
    """A function asks for a type that nothing provides in this process."""


class Provided:
    """One object per type: the shared services a listener or start-up may ask for."""

    def __init__(self) -> None:
        self._objects: dict[type[Any], object] = {}

    def add(self, kind: type[T], instance: T) -> None:
        self._objects[kind] = instance

    def find(self, kind: type[T]) -> T | None:
        return self._objects.get(kind)  # type: ignore[return-value]  # stored by `add`

    def get(self, kind: type[T]) -> T:
        try:
            found = self._objects[kind]
        except KeyError:
            raise MissingProviderError(f"nothing provides {kind.__qualname__}") from None
        return found  # type: ignore[return-value]  # stored under its own type by `add`

    def kinds(self) -> list[type[Any]]:
        """The types provided, in the order they were first added."""
        return list(self._objects)

    def arguments_for(self, fn: Callable[..., Any], *, skip: int = 0) -> dict[str, object]:
        """The keyword arguments of `fn` (after its first `skip` parameters), by annotation."""
        hints = get_type_hints(fn)
        parameters = list(inspect.signature(fn).parameters)[skip:]
        arguments: dict[str, object] = {}
        for name in parameters:
            if name not in hints:
                raise MissingProviderError(f"{fn.__qualname__}: parameter {name!r} has no type")
            try:
                arguments[name] = self.get(hints[name])
            except MissingProviderError as error:
                raise MissingProviderError(f"{fn.__qualname__}({name}): {error}") from None
        return arguments


APP_STATE_ATTRIBUTE = "provided"


def attach_to_app(app: Starlette, provided: Provided) -> None:
    """Make `provided` the app's state (its one typed state object)."""
    setattr(app.state, APP_STATE_ATTRIBUTE, provided)


def provided_by(app: Starlette) -> Provided:
    """The app's typed state: the one place that reads Starlette's untyped `app.state`."""
    provided: Provided = getattr(app.state, APP_STATE_ATTRIBUTE)
    return provided
