"""`Provide[T]`: one declaration for routes, tasks and listeners, served from one registry,
and checked before anything runs."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from taskiq import InMemoryBroker, TaskiqDepends

from app.core.injection import (
    MissingProviderError,
    Provide,
    Provided,
    attach_to_app,
    check_provided,
    provided_to_tasks,
    route_callables,
)


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


def _app() -> FastAPI:
    router = APIRouter()

    @router.get("/time", dependencies=[Depends(Stamp())])
    async def read_time(time: Annotated[int, Depends(get_time)]) -> int:
        return time

    app = FastAPI()
    app.include_router(router)
    return app


async def test_a_route_gets_the_registered_instances_through_its_dependencies() -> None:
    app, provided, ledger = _app(), Provided(), Ledger()
    provided.add(Clock, Clock())
    provided.add(Ledger, ledger)
    attach_to_app(app, provided)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/time")
    assert answer.json() == 42
    assert ledger.lines == [len("/time")]


def test_the_check_names_every_route_dependency_that_nothing_provides() -> None:
    routes = list(route_callables(_app().routes))
    with pytest.raises(MissingProviderError) as raised:
        check_provided(Provided(), routes)
    assert str(raised.value) == (
        "get_time(clock): nothing provides Clock; Stamp.__call__(ledger): nothing provides Ledger"
    )
    provided = Provided()
    provided.add(Clock, Clock())
    provided.add(Ledger, Ledger())
    check_provided(provided, routes)


async def book(number: int, ledger: Provide[Ledger]) -> None:
    ledger.lines.append(number)


async def book_later(number: int, time: Annotated[int, TaskiqDepends(get_time)]) -> int:
    return number + time


async def test_a_task_gets_the_registered_instances_from_its_brokers_registry() -> None:
    broker, provided, ledger = InMemoryBroker(), Provided(), Ledger()
    provided.add(Ledger, ledger)
    provided.add(Clock, Clock())
    provided_to_tasks(broker.state, provided)
    booking, later = broker.task(book), broker.task(book_later)
    await broker.startup()
    # The signatures name the injected parameters, which the caller does not pass.
    await (await booking.kiq(7)).wait_result()  # type: ignore[call-overload]
    result = await (await later.kiq(1)).wait_result()  # type: ignore[call-overload]
    await broker.shutdown()
    assert ledger.lines == [7]
    assert result.return_value == 43


def test_the_check_names_what_a_task_asks_for_that_nothing_provides() -> None:
    with pytest.raises(MissingProviderError, match=r"^get_time\(clock\): nothing provides Clock$"):
        check_provided(Provided(), [book_later])


def test_a_listener_declares_its_services_the_same_way() -> None:
    async def plain(event: object, ledger: Ledger) -> None:
        return None

    provided = Provided()
    provided.add(Ledger, Ledger())
    assert set(provided.arguments_for(book, skip=1)) == {"ledger"}
    with pytest.raises(MissingProviderError, match=r"declare parameter 'ledger' as Provide"):
        provided.arguments_for(plain, skip=1)
