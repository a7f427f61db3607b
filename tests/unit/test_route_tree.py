"""What the kit relies on in the route tree FastAPI builds (`app/core/route_tree.py`):
an upgrade of FastAPI that changes any of it fails here first."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from starlette.routing import Match

from app.core.route_tree import FlattenedRoute, dependencies_of, flattened_routes


async def app_wide() -> None: ...


async def router_wide() -> None: ...


async def inner() -> int:
    return 1


async def outer(value: int = Depends(inner)) -> int:
    return value


async def read_thing(thing_id: int, value: int = Depends(outer)) -> int:
    return thing_id + value


async def replace_thing(thing_id: int) -> int:
    return thing_id


def an_app() -> FastAPI:
    """A router of two routes included under a prefix, with dependencies at every level."""
    router = APIRouter(prefix="/things", dependencies=[Depends(router_wide)])
    router.add_api_route("/{thing_id}", read_thing, methods=["GET"])
    router.add_api_route("/{thing_id}", replace_thing, methods=["PUT"])
    app = FastAPI(dependencies=[Depends(app_wide)])
    app.include_router(router, prefix="/api")
    return app


def routes_of(app: FastAPI) -> dict[str, FlattenedRoute]:
    return {
        f"{' '.join(sorted(route.methods or ()))} {route.path}": route
        for route in flattened_routes(app.routes)
        if (route.path or "").startswith("/api")
    }


def test_included_routers_are_flattened_with_their_prefixes() -> None:
    assert set(routes_of(an_app())) == {"GET /api/things/{thing_id}", "PUT /api/things/{thing_id}"}


def test_a_flattened_route_matches_a_request_by_its_full_path_and_method() -> None:
    routes = routes_of(an_app())
    scope = {"type": "http", "path": "/api/things/7", "root_path": "", "method": "PUT"}
    assert routes["PUT /api/things/{thing_id}"].matches(scope)[0] is Match.FULL
    assert routes["GET /api/things/{thing_id}"].matches(scope)[0] is Match.PARTIAL
    elsewhere = {**scope, "path": "/things/7"}
    assert routes["PUT /api/things/{thing_id}"].matches(elsewhere)[0] is Match.NONE


def test_a_route_depends_on_the_apps_its_routers_and_its_own_dependencies_and_theirs() -> None:
    route = routes_of(an_app())["GET /api/things/{thing_id}"]
    found = [
        (getattr(dependency.asker, "__name__", None), dependency.parameter, dependency.call)
        for dependency in dependencies_of(route)
    ]
    assert ("read_thing", "value", outer) in found
    assert ("outer", "value", inner) in found  # a dependency's own, after it
    assert found.index(("read_thing", "value", outer)) < found.index(("outer", "value", inner))
    calls = {call for _, _, call in found}
    assert {app_wide, router_wide} <= calls


def test_a_route_fastapi_does_not_solve_has_no_dependencies() -> None:
    assert list(dependencies_of(object())) == []
