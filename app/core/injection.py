"""One way to inject: a parameter typed `Provide[T]` gets the process's one `T`.

Routes (and their dependencies), queue tasks and event listeners all declare what they
need the same way, `database: Provide[Database]`, and all three are served from one
typed registry, `Provided`, that the composition root fills (Cosmic Python's bootstrap,
by type instead of by name). `Provide[T]` is `T` for the type checker; at run time it
carries a marker for each framework: FastAPI's `Depends` for routes, taskiq's
`TaskiqDepends` for tasks, and `Provides(T)` for listeners and for the start-up check.

`check_provided` walks every route, task and listener before the process serves
anything: a type that nothing provides fails at start-up, not at the first request.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_type_hints

from fastapi import Depends, Request
from fastapi.params import Depends as RouteDependency
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from taskiq import Context, TaskiqDepends
from taskiq_dependencies.dependency import Dependency as TaskDependency

T = TypeVar("T")


class MissingProviderError(LookupError):
    """A function asks for a type that nothing provides in this process."""


class Provides:
    """The marker `Provide[T]` leaves in a parameter's annotation."""

    __slots__ = ("kind",)

    def __init__(self, kind: type[Any]) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"Provides({self.kind.__qualname__})"


class Provided:
    """The registry: one object per type, built by the process's composition root."""

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
        """The keyword arguments of `fn` (after its first `skip` parameters): each one a
        `Provide[T]`, by its `T`. How a listener gets what it asks for."""
        hints = get_type_hints(fn, include_extras=True)
        arguments: dict[str, object] = {}
        for name in list(inspect.signature(fn).parameters)[skip:]:
            kind = _provided_kind(hints.get(name))
            if kind is None:
                raise MissingProviderError(
                    f"{fn.__qualname__}: declare parameter {name!r} as Provide[SomeType]"
                )
            try:
                arguments[name] = self.get(kind)
            except MissingProviderError as error:
                raise MissingProviderError(f"{fn.__qualname__}({name}): {error}") from None
        return arguments


APP_STATE_ATTRIBUTE = "provided"


def attach_to_app(app: Starlette, provided: Provided) -> None:
    """Make `provided` the app's state (its one typed state object)."""
    setattr(app.state, APP_STATE_ATTRIBUTE, provided)


def provided_by(app: Starlette) -> Provided:
    """The app's registry: the one place that reads Starlette's untyped `app.state`
    (for `Provide`'s route dependency and for tests; request code asks by parameter)."""
    provided: Provided = getattr(app.state, APP_STATE_ATTRIBUTE)
    return provided


TASK_STATE_ATTRIBUTE = "provided"


def provided_to_tasks(state: object, provided: Provided) -> None:
    """Make `provided` what the tasks of a taskiq broker (its `state`) are served from."""
    setattr(state, TASK_STATE_ATTRIBUTE, provided)


@cache
def _provision(kind: type[Any]) -> Any:
    """`Annotated[kind, ...]` with the marker of each framework that injects it."""

    async def from_app(request: Request) -> Any:
        return provided_by(request.app).get(kind)

    def from_broker(context: Annotated[Context, TaskiqDepends()]) -> Any:
        provided: Provided = getattr(context.state, TASK_STATE_ATTRIBUTE)
        return provided.get(kind)

    for function in (from_app, from_broker):
        function.__qualname__ = f"Provide[{kind.__qualname__}].{function.__name__}"
    # taskiq reads the metadata from the end, FastAPI takes its own marker: each finds its.
    return Annotated[kind, Provides(kind), Depends(from_app), TaskiqDepends(from_broker)]


if TYPE_CHECKING:
    Provide = Annotated[T, Provides]
else:

    class Provide:
        """`Provide[T]`: the process's one `T`, injected into a route, a task or a listener."""

        def __class_getitem__(cls, kind: type[Any]) -> Any:
            return _provision(kind)


def _provided_kind(hint: object) -> type[Any] | None:
    for marker in getattr(hint, "__metadata__", ()):
        if isinstance(marker, Provides):
            return marker.kind
    return None


def _dependencies_of(marker: object) -> Iterator[Callable[..., Any]]:
    if isinstance(marker, RouteDependency | TaskDependency) and marker.dependency is not None:
        yield marker.dependency


def _asked_for(target: Callable[..., Any], seen: set[int]) -> Iterator[tuple[str, type[Any]]]:
    """Each `Provide[T]` that calling `target` (through its framework) needs, with the
    name of the function that asks for it, depth first through its dependencies."""
    if id(target) in seen:
        return
    seen.add(id(target))
    if inspect.isroutine(target):
        annotated: Callable[..., Any] = target
    elif inspect.isclass(target):
        annotated = target.__init__
    else:  # an instance with `__call__`, such as a rate limit
        annotated = type(target).__call__
    hints = get_type_hints(annotated, include_extras=True)
    asker = annotated.__qualname__
    for name, parameter in inspect.signature(target).parameters.items():
        hint = hints.get(name)
        kind = _provided_kind(hint)
        if kind is not None:
            yield f"{asker}({name})", kind
            continue
        for marker in (*getattr(hint, "__metadata__", ()), parameter.default):
            for dependency in _dependencies_of(marker):
                yield from _asked_for(dependency, seen)


def route_callables(routes: Sequence[BaseRoute]) -> Iterator[Callable[..., Any]]:
    """What FastAPI calls for each of `routes`, included routers flattened: its endpoint
    and its dependencies (the app's, the routers' and its own)."""
    for context in iter_route_contexts(routes):
        if isinstance(context.original_route, APIRoute):
            yield context.original_route.endpoint
            for marker in context.dependencies:
                yield from _dependencies_of(marker)


def check_provided(provided: Provided, consumers: Iterable[Callable[..., Any]]) -> None:
    """Fail (naming every gap) unless `provided` holds each type that `consumers` (routes'
    callables, tasks) ask for through `Provide[...]`."""
    seen: set[int] = set()
    missing = [
        f"{asker}: nothing provides {kind.__qualname__}"
        for consumer in consumers
        for asker, kind in _asked_for(consumer, seen)
        if provided.find(kind) is None
    ]
    if missing:
        raise MissingProviderError("; ".join(dict.fromkeys(missing)))
