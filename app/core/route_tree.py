"""What the kit reads of the route tree FastAPI builds, in one place.

FastAPI includes routers lazily: `app.routes` holds each included router as one entry,
and `fastapi.routing.iter_route_contexts` flattens them, with their prefixes and the
dependencies each inclusion adds, the way FastAPI's own OpenAPI does. Each flattened
route carries `dependant`, the dependency tree FastAPI solves for it. Neither is part of
FastAPI's documented API, so nothing else in the kit imports them:
`tests/unit/test_route_tree.py` pins what this module relies on, and an upgrade of
FastAPI that changes it fails there first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import BaseRoute

# A route of an app, its included routers flattened.
FlattenedRoute = RouteContext


def flattened_routes(routes: Sequence[BaseRoute]) -> Iterator[FlattenedRoute]:
    """Every route of `routes`, included routers flattened: each has its full `path`, its
    `methods`, `matches(scope)` and the dependencies `dependencies_of` lists."""
    return iter_route_contexts(routes)


@dataclass(frozen=True)
class Dependency:
    """One dependency of a route: `call`, filling `parameter` of `asker`."""

    asker: Callable[..., Any] | None
    parameter: str | None
    call: Callable[..., Any] | None


def dependencies_of(route: object) -> Iterator[Dependency]:
    """Every dependency FastAPI solves for `route` (a route, or a flattened one): the
    app's, its routers' and its own, each followed by its own dependencies. Nothing for
    a route FastAPI does not solve (a mount, a plain Starlette route)."""
    dependant: Dependant | None = getattr(route, "dependant", None)
    if dependant is not None:
        yield from _walk(dependant)


def _walk(dependant: Dependant) -> Iterator[Dependency]:
    for sub in dependant.dependencies:
        yield Dependency(dependant.call, sub.name, sub.call)
        yield from _walk(sub)
