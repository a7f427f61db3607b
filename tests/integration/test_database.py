"""Unit of work, repository, listing and database failures against real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import Row, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.pool import QueuePool

from app.core.db import Database, create_session_factory
from app.core.deps import ReadConnectionDep, SessionDep, UnitOfWorkDep
from app.core.errors import ConflictError, NotFoundError
from app.core.listing import ListParams, Page, list_params
from app.core.queries import fetch_page, live_rows
from app.main import create_app
from tests.apps import serving
from tests.conftest import load_test_settings
from tests.gadgets import GADGET_LIST, Gadget, GadgetRepository, create_gadget_table

GadgetListParams = Annotated[ListParams, Depends(list_params(GADGET_LIST))]


def gadget_dict(gadget: Gadget | Row[Any]) -> dict[str, Any]:
    return {"id": gadget.id, "name": gadget.name, "price": str(gadget.price)}


@pytest.fixture
async def gadgets(connection: AsyncConnection, session: AsyncSession) -> list[Gadget]:
    await create_gadget_table(connection)
    repository = GadgetRepository(session)
    launched = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    made = [
        await repository.add(
            Gadget(
                id=index,
                name=name,
                price=Decimal(price),
                in_stock=index % 2 == 0,
                launched_at=launched + dt.timedelta(days=index),
            )
        )
        for index, (name, price) in enumerate(
            [("Anvil", "10.50"), ("bolt", "1.25"), ("Crank_50%", "99.99"), ("Dynamo", "10.50")],
            start=1,
        )
    ]
    await session.commit()
    return made


@pytest.fixture
def gadget_app(app: FastAPI, gadgets: list[Gadget]) -> FastAPI:
    hooks_run: list[str] = []
    app.state.hooks_run = hooks_run

    async def list_gadgets(
        connection: ReadConnectionDep, params: GadgetListParams
    ) -> Page[dict[str, Any]]:
        page = await fetch_page(connection, live_rows(Gadget), GADGET_LIST, params)
        return page.map(dict, gadget_dict)

    async def rename(gadget_id: int, name: str, uow: UnitOfWorkDep) -> dict[str, Any]:
        repository = GadgetRepository(uow.session)
        gadget = await repository.update(await repository.get_or_404(gadget_id), {"name": name})

        async def remember() -> None:
            hooks_run.append(name)

        uow.after_commit(remember)
        if name == "fail":
            raise ConflictError("refused after the write")
        return gadget_dict(gadget)

    app.add_api_route("/test/gadgets", list_gadgets)
    app.add_api_route("/test/gadgets/{gadget_id}", rename, methods=["PATCH"])
    return app


async def names(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(Gadget.name).order_by(Gadget.id)))


@pytest.mark.own_app  # gadget_app adds routes
async def test_commit_runs_after_commit_hooks(
    gadget_app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await client.patch("/test/gadgets/1", params={"name": "Hammer"})
    assert response.status_code == 200
    assert gadget_app.state.hooks_run == ["Hammer"]
    assert (await names(session))[0] == "Hammer"


@pytest.mark.own_app  # gadget_app adds routes
async def test_error_rolls_back_and_skips_hooks(
    gadget_app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await client.patch("/test/gadgets/1", params={"name": "fail"})
    assert response.status_code == 409
    assert gadget_app.state.hooks_run == []
    assert (await names(session))[0] == "Anvil"


@pytest.mark.own_app  # gadget_app adds routes
async def test_missing_row_is_404_naming_it(gadget_app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.patch("/test/gadgets/99", params={"name": "x"})
    assert response.status_code == 404
    assert response.json()["detail"] == "Gadget 99 not found"


async def test_timestamps_are_aware_utc_set_by_the_database(gadgets: list[Gadget]) -> None:
    assert gadgets[0].created_at.tzinfo is not None
    assert gadgets[0].created_at.utcoffset() == dt.timedelta(0)


async def test_soft_deleted_rows_are_hidden(session: AsyncSession, gadgets: list[Gadget]) -> None:
    repository = GadgetRepository(session)
    await repository.soft_delete(gadgets[0])
    assert await repository.get(1) is None
    assert await repository.get(1, include_deleted=True) is not None
    with pytest.raises(NotFoundError):
        await repository.get_or_404(1)


@pytest.mark.parametrize(
    ("query", "expected_ids", "total"),
    [
        ({}, [1, 2, 3, 4], 4),
        ({"sort": "price:desc,name:asc"}, [3, 1, 4, 2], 4),
        ({"sort": "name"}, [1, 3, 4, 2], 4),
        ({"filters": "id:[1,2]"}, [1, 2], 2),
        ({"filters": "id:in:[3,4]"}, [3, 4], 2),
        ({"filters": "price:gte:10.5,in_stock:false"}, [1, 3], 2),
        ({"filters": "price:lt:50,in_stock:false"}, [1], 1),
        ({"filters": "price:10.50"}, [1, 4], 2),
        ({"filters": "name:ne:bolt"}, [1, 3, 4], 3),
        ({"filters": "name:contains:AN"}, [1, 3], 2),
        ({"filters": "name:contains:_50%"}, [3], 1),
        ({"filters": "name:contains:%"}, [3], 1),
        ({"filters": "launched_at:lt:2024-01-04T00:00:00Z"}, [1, 2], 2),
        ({"page": "2", "per_page": "3"}, [4], 4),
        ({"page": "9"}, [], 4),
    ],
)
@pytest.mark.own_app  # gadget_app adds routes
async def test_list_filters_sorts_and_pages(
    gadget_app: FastAPI,
    client: httpx.AsyncClient,
    query: dict[str, str],
    expected_ids: list[int],
    total: int,
) -> None:
    response = await client.get("/test/gadgets", params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["id"] for item in body["items"]] == expected_ids
    assert body["total"] == total
    per_page = int(query.get("per_page", 10))
    assert body["pages"] == -(-total // per_page)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "101"}, "per_page"),
        ({"page": "0"}, "page"),
        ({"page": "9" * 40}, "page"),
        ({"sort": "secret:asc"}, "sort"),
        ({"sort": "id:sideways"}, "sort"),
        ({"filters": "password:x"}, "filters"),
        ({"filters": "id:like:1"}, "filters"),
        ({"filters": "id:contains:1"}, "filters"),
        ({"filters": "name:gt:a"}, "filters"),
        ({"filters": "id:abc"}, "filters"),
        ({"filters": "id:" + "9" * 40}, "filters"),
        ({"filters": "price:NaN"}, "filters"),
        ({"filters": "in_stock:maybe"}, "filters"),
        ({"filters": "id:in:1"}, "filters"),
        ({"filters": "id:[]"}, "filters"),
        ({"filters": "name"}, "filters"),
        ({"filters": "launched_at:yesterday"}, "filters"),
        ({"filters": "launched_at:lt:0001-01-01T00:00:00+01:00"}, "filters"),  # before year 1
        ({"filters": "launched_at:gt:9999-12-31T23:59:59-01:00"}, "filters"),  # after 9999
        ({"filters": "launched_at:gt:10000-01-01"}, "filters"),
        ({"filters": "price:gte:1e-16384"}, "filters"),
        ({"filters": "price:lt:0.001"}, "filters"),  # finer than the cent a price keeps
    ],
)
@pytest.mark.own_app  # gadget_app adds routes
async def test_bad_list_parameters_are_422_naming_the_parameter(
    gadget_app: FastAPI, client: httpx.AsyncClient, query: dict[str, str], param: str
) -> None:
    response = await client.get("/test/gadgets", params=query)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", param]


@pytest.mark.own_app  # gadget_app adds routes
async def test_filter_values_are_bound_not_spliced(
    gadget_app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await client.get("/test/gadgets", params={"filters": "name:x' OR '1'='1"})
    assert response.json()["items"] == []
    assert await session.scalar(select(func.count()).select_from(Gadget)) == 4


@pytest.fixture
async def unreachable_database_client() -> AsyncIterator[httpx.AsyncClient]:
    settings = load_test_settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    app = create_app(settings)

    async def touch(session: SessionDep) -> None:
        await session.execute(text("SELECT 1"))

    app.add_api_route("/test/touch", touch)
    async with serving(app) as client:
        yield client


async def test_unreachable_database_is_503_problem_with_retry_after(
    unreachable_database_client: httpx.AsyncClient,
) -> None:
    response = await unreachable_database_client.get("/test/touch")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/dependency-unavailable"
    assert response.headers["retry-after"] == "5"
    assert "psycopg" not in response.text
    assert "127.0.0.1" not in response.text


async def fail_in_the_body(database: Database) -> None:
    async with database.unit_of_work() as uow:
        await uow.session.execute(text("SELECT 1"))
        raise ConflictError("the handler failed")


async def fail_at_commit(database: Database) -> None:
    """A deferred unique constraint: every statement succeeds, COMMIT fails."""
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            text(
                "CREATE TEMP TABLE once (id int UNIQUE DEFERRABLE INITIALLY DEFERRED) "
                "ON COMMIT DROP"
            )
        )
        await uow.session.execute(text("INSERT INTO once VALUES (1), (1)"))


async def test_every_unit_of_work_gives_its_connection_back(engine: AsyncEngine) -> None:
    """Unused, committed, rolled back, or failed at COMMIT itself: the pool gets its
    connection back (a unit of work closes its session only when it still holds one)."""
    database = Database(create_session_factory(engine))
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    checked_out = pool.checkedout()
    async with database.unit_of_work():
        pass
    async with database.unit_of_work() as uow:
        await uow.session.execute(text("SELECT 1"))
    with pytest.raises(ConflictError):
        await fail_in_the_body(database)
    with pytest.raises(IntegrityError):
        await fail_at_commit(database)
    assert pool.checkedout() == checked_out
