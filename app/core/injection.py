"""One way to inject: a parameter typed `Provide[T]` gets the process's one `T`.

Routes (and their dependencies), queue tasks and event listeners all declare what they
need the same way, `database: Provide[Database]`, and all three are served from one
typed registry, `Provided`, that the composition root fills (Cosmic Python's bootstrap,
by type instead of by name). `Provide[T]` is `T` for the type checker; at run time it
carries a marker for each framework: FastAPI's `Depends` for routes, taskiq's
`TaskiqDepends` for tasks (from `taskiq_dependencies`: a process that runs no task never
imports taskiq), and `Provides(T)` for the event bus.

A type that nothing provides fails at start-up, not at the first request: once its
modules have started, the process checks what its routes and tasks ask for
(`check_provided` over `route_needs` and `task_needs`, read from the dependency trees
FastAPI and taskiq built) and what its listeners ask for (`EventBus.check`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar, get_type_hints

from fastapi import Depends, Request
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from taskiq_dependencies import DependencyGraph
from taskiq_dependencies import Depends as TaskiqDepends
from taskiq_dependencies.dependency import Dependency as TaskDependency

from app.core.route_tree import dependencies_of, flattened_routes

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
        try:
            hints = get_type_hints(fn, include_extras=True)
        except NameError as error:
            raise MissingProviderError(
                f"{fn.__qualname__}: {error}; import it at run time, not under TYPE_CHECKING"
            ) from None
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


# Where the registry hangs on the app's state (for routes; tasks find it in the broker's
# dependency context).
STATE_ATTRIBUTE = "provided"


def attach_to_app(app: Starlette, provided: Provided) -> None:
    """Make `provided` the app's state (its one typed state object)."""
    setattr(app.state, STATE_ATTRIBUTE, provided)


def provided_by(app: Starlette) -> Provided:
    """The app's registry (for `Provide`'s route dependency and for tests; request code
    asks by parameter)."""
    provided: Provided = getattr(app.state, STATE_ATTRIBUTE)
    return provided


class TaskDependencyContext(Protocol):
    """What `provided_to_tasks` needs of a taskiq broker (its `add_dependency_context`)."""

    def add_dependency_context(self, new_ctx: dict[Any, Any]) -> None: ...


def provided_to_tasks(broker: TaskDependencyContext, provided: Provided) -> None:
    """Make `provided` what the tasks of a taskiq broker are served from: taskiq hands it
    to every dependency that asks for a `Provided` (`from_broker` below)."""
    broker.add_dependency_context({Provided: provided})


# The functions the frameworks call for a `Provide[T]`, each with its `T`: how the
# start-up check recognises them in the dependencies FastAPI and taskiq resolved.
_PROVIDERS: dict[Callable[..., Any], type[Any]] = {}


@cache
def _provision(kind: type[Any]) -> Any:
    """`Annotated[kind, ...]` with the marker of each framework that injects it."""
    if not isinstance(kind, type):
        raise TypeError(f"Provide[...] takes a class, not {kind!r}")

    async def from_app(request: Request) -> Any:
        return provided_by(request.app).get(kind)

    def from_broker(registry: Annotated[Provided, TaskiqDepends()]) -> Any:
        return registry.get(kind)

    for function in (from_app, from_broker):
        function.__qualname__ = f"Provide[{kind.__qualname__}].{function.__name__}"
        _PROVIDERS[function] = kind
    # taskiq reads the metadata from the end (and takes FastAPI's `Depends` too, were it
    # last); FastAPI takes its own marker and ignores the others.
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


def _name(function: object) -> str:
    """A function's name as written (taskiq renames the functions it registers), or the
    class of a class dependency or of a callable instance (a rate limit)."""
    code = getattr(function, "__code__", None)
    if code is not None:
        return f"{getattr(function, '__module__', '')}.{code.co_qualname}"
    named = function if inspect.isclass(function) else type(function)
    return f"{named.__module__}.{named.__qualname__}"


def route_needs(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, type[Any]]]:
    """Each `Provide[T]` that serving `routes` takes, with the route and the function
    that asks for it: read from the dependency tree FastAPI built for each route
    (included routers flattened; the app's, the routers' and the route's dependencies)."""
    for route in flattened_routes(routes):
        label = f"{' '.join(sorted(route.methods or {'WEBSOCKET'}))} {route.path}"
        for dependency in dependencies_of(route):
            kind = _PROVIDERS.get(dependency.call) if dependency.call is not None else None
            if kind is not None:
                yield f"{label}: {_name(dependency.asker)}({dependency.parameter})", kind


def task_needs(tasks: Iterable[Callable[..., Any]]) -> Iterator[tuple[str, type[Any]]]:
    """Each `Provide[T]` that running `tasks` takes, from the dependency graph taskiq
    builds for each."""
    for task in tasks:
        graph = DependencyGraph(task)
        for dependency in (*graph.ordered_deps, *_subgraph_deps(graph)):
            kind = (
                _PROVIDERS.get(dependency.dependency) if callable(dependency.dependency) else None
            )
            if kind is not None:
                yield f"task {_name(task)}: {dependency.param_name}", kind


def _subgraph_deps(graph: DependencyGraph) -> Iterator[TaskDependency]:
    for subgraph in graph.subgraphs.values():
        yield from subgraph.ordered_deps
        yield from _subgraph_deps(subgraph)


def check_provided(provided: Provided, needs: Iterable[tuple[str, type[Any]]]) -> None:
    """Fail, naming every gap, unless `provided` holds each type of `needs` (the
    `route_needs` of an app, the `task_needs` of a process)."""
    missing = [
        f"{asker}: nothing provides {kind.__qualname__}"
        for asker, kind in needs
        if provided.find(kind) is None
    ]
    if missing:
        raise MissingProviderError(
            "; ".join(dict.fromkeys(missing))  # one line per function, whichever routes use it
            + ". Register each in the composition root (CoreServices.build) or a module's lifespan"
        )
