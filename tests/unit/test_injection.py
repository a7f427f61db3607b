"""`Provide[T]`: one declaration for routes, tasks and listeners, served from one registry,
and checked before anything runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, WebSocket
from taskiq import InMemoryBroker, TaskiqDepends

from app.core.injection import (
    MissingProviderError,
    Provide,
    Provided,
    attach_to_app,
    check_provided,
    provided_to_tasks,
    route_needs,
    task_needs,
)

if TYPE_CHECKING:
    from decimal import Decimal  # never imported at run time: FastAPI needs it not


class Ledger:
    """A service some consumers need."""

    def __init__(self) -> None:
        self.lines: list[int] = []


class Clock:
    """Another service, asked for through a dependency of a dependency."""

    now = 42


async def get_time(clock: Provide[Clock]) -> int:
    return clock.now


class Stamp:
    """A callable dependency instance, such as a rate limit."""

    async def __call__(self, request: Request, ledger: Provide[Ledger]) -> None:
        ledger.lines.append(len(request.url.path))


class Teller:
    """A class dependency, built by FastAPI from its annotation (`Depends()`)."""

    def __init__(self, ledger: Provide[Ledger]) -> None:
        self.ledger = ledger


async def get_rate(clock: Provide[Clock]) -> Decimal:  # an annotation FastAPI never reads
    raise NotImplementedError


def _app() -> FastAPI:
    router = APIRouter()

    @router.get("/time", dependencies=[Depends(Stamp())])
    async def read_time(time: Annotated[int, Depends(get_time)]) -> int:
        return time

    @router.get("/count")
    async def count(teller: Annotated[Teller, Depends()]) -> int:
        return len(teller.ledger.lines)

    @router.websocket("/ticks")
    async def ticks(websocket: WebSocket, clock: Provide[Clock]) -> None:
        await websocket.close()

    app = FastAPI()
    app.include_router(router, prefix="/v1")
    return app


def _everything() -> Provided:
    provided = Provided()
    provided.add(Clock, Clock())
    provided.add(Ledger, Ledger())
    return provided


async def test_a_route_gets_the_registered_instances_through_its_dependencies() -> None:
    app, provided = _app(), _everything()
    attach_to_app(app, provided)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/v1/time")).json() == 42
        assert (await client.get("/v1/count")).json() == 1
    assert provided.get(Ledger).lines == [len("/v1/time")]


def test_the_check_names_every_route_and_dependency_that_asks_for_an_unprovided_type() -> None:
    with pytest.raises(MissingProviderError) as raised:
        check_provided(Provided(), route_needs(_app().routes))
    here = __name__
    assert str(raised.value).split("; ") == [
        f"GET /v1/time: {here}.Stamp(ledger): nothing provides Ledger",
        f"GET /v1/time: {here}.get_time(clock): nothing provides Clock",
        f"GET /v1/count: {here}.Teller(ledger): nothing provides Ledger",
        f"WEBSOCKET /v1/ticks: {here}._app.<locals>.ticks(clock): nothing provides Clock. "
        "Register each in the composition root (CoreServices.build) or a module's lifespan",
    ]
    check_provided(_everything(), route_needs(_app().routes))


def test_the_check_reads_only_the_annotations_the_framework_reads() -> None:
    router = APIRouter()

    @router.get("/rate")
    async def rate(value: Annotated[object, Depends(get_rate)]) -> None:
        return None

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(MissingProviderError, match=r"^GET /rate: .*get_rate\(clock\)"):
        check_provided(Provided(), route_needs(app.routes))


async def book(number: int, ledger: Provide[Ledger]) -> None:
    ledger.lines.append(number)


async def book_later(number: int, time: Annotated[int, TaskiqDepends(get_time)]) -> int:
    return number + time


async def test_a_task_gets_the_registered_instances_from_its_brokers_registry() -> None:
    broker, provided = InMemoryBroker(), _everything()
    provided_to_tasks(broker, provided)
    booking, later = broker.task(book), broker.task(book_later)
    await broker.startup()
    # The signatures name the injected parameters, which the caller does not pass.
    await (await booking.kiq(7)).wait_result()  # type: ignore[call-overload]
    result = await (await later.kiq(1)).wait_result()  # type: ignore[call-overload]
    await broker.shutdown()
    assert provided.get(Ledger).lines == [7]
    assert result.return_value == 43


def test_the_check_names_what_a_task_asks_for_under_its_own_name() -> None:
    InMemoryBroker().task(book_later)  # taskiq renames the function it registers
    with pytest.raises(
        MissingProviderError,
        match=rf"^task {__name__}\.book_later: clock: nothing provides Clock\. Register",
    ):
        check_provided(Provided(), task_needs([book_later]))


def test_provide_takes_a_class() -> None:
    with pytest.raises(TypeError, match="takes a class"):
        Provide["Ledger"]  # what a forward reference would pass


def test_a_listener_declares_its_services_the_same_way() -> None:
    async def plain(event: object, ledger: Ledger) -> None:
        return None

    provided = _everything()
    assert set(provided.arguments_for(book, skip=1)) == {"ledger"}
    with pytest.raises(MissingProviderError, match=r"declare parameter 'ledger' as Provide"):
        provided.arguments_for(plain, skip=1)


def test_the_check_sees_the_dependencies_of_the_app_and_of_an_include() -> None:
    """FastAPI (from 0.165) includes routers lazily: what a route runs is only known from
    its context in the app (`app/core/route_tree.py` flattens them), which the check reads."""
    router = APIRouter()

    @router.get("/plain")
    async def plain() -> None:
        return None

    app = FastAPI(dependencies=[Depends(get_time)])
    app.include_router(router, prefix="/v1", dependencies=[Depends(Stamp())])
    needs = [(asker, kind.__name__) for asker, kind in route_needs(app.routes)]
    assert needs == [
        (f"GET /v1/plain: {__name__}.get_time(clock)", "Clock"),
        (f"GET /v1/plain: {__name__}.Stamp(ledger)", "Ledger"),
    ]


def test_a_listener_whose_annotations_do_not_resolve_says_which_name_to_import() -> None:
    async def priced(event: object, ledger: Provide[Ledger]) -> Decimal:
        raise NotImplementedError

    with pytest.raises(MissingProviderError, match=r"priced: name 'Decimal' is not defined; "):
        _everything().arguments_for(priced, skip=1)
