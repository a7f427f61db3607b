"""Property: a cursor walk is keyset paging done right, on SQLite and on PostgreSQL.

Hypothesis makes rows of posts, movies or users whose sort values collide (a few titles,
years, ratings and statuses) and whose `created_at` instants collide too: on SQLite,
whole seconds are written as `func.now()` writes them (`YYYY-MM-DD HH:MM:SS` text), a
fraction as the ORM writes it. It picks a whitelisted sort (fields and directions, or
the default) and a page size, walks the list by `next_cursor` through the HTTP API, and
inserts and deletes rows between pages. Each page must be the first rows of a sorted
model in Python that come strictly after the previous page's last row; once the rows
stop changing, a walk must equal the offset listing and the sorted model.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import ColumnElement, String, delete, insert, literal, update
from sqlalchemy.orm import DeclarativeBase

from app.auth.models import User
from app.auth.names import name_key
from app.auth.queries import USER_LIST_SPEC
from app.core.db import utc_now
from app.core.listing import ListSpec, SortField
from app.movies.models import Movie
from app.movies.queries import MOVIE_LIST_SPEC
from app.posts.models import Post
from app.posts.queries import POST_LIST_SPEC
from tests.integration.paging import (  # noqa: F401
    ADMIN,
    ListingDatabase,
    listing_database_fixture,
    migrated_sqlite_file_fixture,
    suite_app_parts_fixture,
)

# Coverage's tracer would quadruple this test's CPU for code the rest of the suite covers
# already: it checks the answers to generated walks, not which lines they reach.
pytestmark = pytest.mark.no_cover

START = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
# Colliding instants: whole seconds (SQLite's own text format) and one with a fraction.
MOMENTS = [START + dt.timedelta(seconds=seconds) for seconds in (0, 1, 1.5, 2)]
TITLES = ["a", "ab", "b"]
FIRST_ID = 100_000  # above the ids the database hands out (the admin's)
Row = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """A list of the API, and how to make rows of it whose sort values collide."""

    path: str
    model: type[DeclarativeBase]
    spec: ListSpec
    pools: Mapping[str, Sequence[Any]]  # a few values of each field
    # Unique fields, from a pooled value and the row's id (`{value}`, `{id}`).
    unique: Mapping[str, str] = field(default_factory=dict)
    soft_delete: bool = True

    @property
    def id_field(self) -> str:
        return self.spec.tiebreaker.key

    def row(self, row_id: int, values: Mapping[str, Any]) -> Row:
        """The public fields of a row: its id, and `values` (one from each pool)."""
        unique = {
            name: form.format(value=values[name], id=row_id) for name, form in self.unique.items()
        }
        return {self.id_field: row_id, **values, **unique}

    def rows(self, row_id: int) -> st.SearchStrategy[Row]:
        pooled = {name: st.sampled_from(pool) for name, pool in self.pools.items()}
        return st.fixed_dictionaries(pooled).map(lambda values: self.row(row_id, values))

    def fixed_rows(self, count: int) -> list[Row]:
        """`count` rows that go through every pool, in a different rhythm for each field."""
        return [
            self.row(
                FIRST_ID + index,
                {
                    name: pool[index // (k + 1) % len(pool)]
                    for k, (name, pool) in enumerate(self.pools.items())
                },
            )
            for index in range(count)
        ]


RESOURCES = [
    Resource("posts", Post, POST_LIST_SPEC, {"title": TITLES, "created_at": MOMENTS}),
    Resource(
        "movies",
        Movie,
        MOVIE_LIST_SPEC,
        {
            "title": TITLES,
            "released": [1990, 1991],
            "rating": [Decimal("8.0"), Decimal("8.5"), Decimal("9.0")],
        },
        soft_delete=False,
    ),
    Resource(
        "users",
        User,
        USER_LIST_SPEC,
        {
            "username": TITLES,
            "email": TITLES,
            "status": ["active", "blocked"],
            "created_at": MOMENTS,
        },
        unique={"username": "{value}{id}", "email": "{value}{id}@example.com"},
    ),
]


@st.composite
def sorts(draw: st.DrawFn, resource: Resource) -> tuple[SortField, ...]:
    """Up to two whitelisted fields, each ascending or descending; none: the default."""
    names = draw(st.lists(st.sampled_from(list(resource.spec.sortable)), max_size=2, unique=True))
    return tuple(SortField(name, draw(st.booleans())) for name in names)


def sort_param(sort: tuple[SortField, ...]) -> dict[str, str]:
    if not sort:
        return {}
    return {
        "sort": ",".join(f"{item.name}:{'desc' if item.descending else 'asc'}" for item in sort)
    }


@dataclass
class SortedModel:
    """The rows of one list as Python sees them, in the list's order."""

    resource: Resource
    sort: tuple[SortField, ...]
    live: dict[int, Row] = field(default_factory=dict)
    ever: dict[int, Row] = field(default_factory=dict)  # deleted ones too

    @functools.cached_property
    def keys(self) -> list[tuple[str, bool]]:
        """The sort fields with their direction; the id breaks ties in the direction of
        the last one."""
        keys = [
            (item.name, item.descending) for item in self.sort or self.resource.spec.default_sort
        ]
        if all(name != self.resource.id_field for name, _ in keys):
            keys.append((self.resource.id_field, keys[-1][1]))
        return keys

    def compare(self, first: Row, second: Row) -> int:
        for name, descending in self.keys:
            if first[name] != second[name]:
                order = -1 if first[name] < second[name] else 1
                return -order if descending else order
        return 0

    def add(self, row: Row) -> None:
        row_id = row[self.resource.id_field]
        self.live[row_id] = self.ever[row_id] = row

    def rows(self) -> list[Row]:
        return sorted(self.live.values(), key=functools.cmp_to_key(self.compare))

    def page_after(self, last_id: int | None, size: int) -> tuple[list[int], bool]:
        """The ids of the first `size` live rows after row `last_id`, and whether more follow."""
        rows = self.rows()
        if last_id is not None:
            last = self.ever[last_id]
            rows = [row for row in rows if self.compare(row, last) > 0]
        return [row[self.resource.id_field] for row in rows[:size]], len(rows) > size


class Rows:
    """Inserts and deletes rows of one resource, in the database and in the model."""

    def __init__(self, database: ListingDatabase, model: SortedModel) -> None:
        self.database, self.resource, self.model = database, model.resource, model
        self.ids = itertools.count(FIRST_ID)

    async def insert_drawn(self, data: st.DataObject, count: int) -> None:
        await self.insert([data.draw(self.resource.rows(next(self.ids))) for _ in range(count)])

    async def insert(self, rows: list[Row]) -> None:
        if not rows:
            return
        stored = [self._stored(row) for row in rows]
        await self.database.execute(insert(self.resource.model).values(stored))
        for row in rows:
            self.model.add(row)

    async def delete(self, data: st.DataObject, count: int) -> None:
        deletable = sorted(set(self.model.live) - {self.database.admin_id})
        if not deletable or not count:
            return
        gone = data.draw(st.lists(st.sampled_from(deletable), max_size=count, unique=True))
        table: Any = self.resource.model
        chosen = getattr(table, self.resource.id_field).in_(gone)
        statement = (
            update(table).where(chosen).values(deleted_at=utc_now())
            if self.resource.soft_delete
            else delete(table).where(chosen)
        )
        await self.database.execute(statement)
        for row_id in gone:
            del self.model.live[row_id]

    async def add_admin(self, created_at: dt.datetime) -> None:
        """The admin is a user too: listed with the others, at an instant of the pool."""
        if self.resource.model is not User:
            return
        admin = {"id": self.database.admin_id, "username": ADMIN, "email": f"{ADMIN}@example.com"}
        admin |= {"status": "active", "created_at": created_at}
        await self.database.execute(
            update(User)
            .where(User.id == self.database.admin_id)
            .values(created_at=self._moment(created_at))
        )
        self.model.add(admin)

    def _stored(self, row: Row) -> Row:
        stored = dict(row)
        if "created_at" in row:
            stored["created_at"] = self._moment(row["created_at"])
        if self.resource.model is Post:
            stored |= {"content": "text", "user_id": self.database.admin_id}
        if self.resource.model is User:
            keys = {"username_key": name_key(row["username"]), "email_key": name_key(row["email"])}
            stored |= keys | {"password_hash": "not-a-hash"}
        return stored

    def _moment(self, moment: dt.datetime) -> dt.datetime | ColumnElement[str]:
        """On SQLite, a whole second as `func.now()` stores it: text, no fraction."""
        if self.database.name == "sqlite" and not moment.microsecond:
            return literal(moment.strftime("%Y-%m-%d %H:%M:%S"), String())
        return moment


async def listed_ids(
    database: ListingDatabase, resource: Resource, params: Mapping[str, Any], pages: int
) -> list[list[int]]:
    """The ids of each of the first `pages` pages of the offset listing."""
    bodies = [
        (await database.get(resource.path, **params, page=page)).json()
        for page in range(1, pages + 1)
    ]
    return [[item[resource.id_field] for item in body["items"]] for body in bodies]


async def checked_walk(
    database: ListingDatabase,
    model: SortedModel,
    params: Mapping[str, Any],
    between_pages: Callable[[], Awaitable[None]],
) -> list[list[int]]:
    """The ids of every page of a cursor walk, each page checked against the model as it
    is when the page is read: the first rows strictly after the last row of the page
    before (whatever `between_pages` changed meanwhile)."""
    resource, per_page = model.resource, params["per_page"]
    response = await database.get(resource.path, **params)
    total, pages = len(model.live), list[list[int]]()
    for page in itertools.count(1):
        assert response.status_code == 200, response.text
        body = response.json()
        expected, more = model.page_after(pages[-1][-1] if pages else None, per_page)
        pages.append([item[resource.id_field] for item in body["items"]])
        assert pages[-1] == expected, f"page {page}"
        assert (body["page"], body["total"], body["total_exact"]) == (page, total, True)
        assert (body["next_cursor"] is not None) == more
        if not more:
            return pages
        assert page <= len(model.ever), "the walk does not end"
        await between_pages()
        cursor = body["next_cursor"]
        response = await database.get(resource.path, **params, cursor=cursor)
    raise AssertionError("unreachable")


async def nothing() -> None:
    """Between the pages of a walk at rest."""


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # the suite's runs are all alike
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_a_cursor_walk_is_the_sorted_model_and_the_offset_listing(
    listing_database: ListingDatabase, data: st.DataObject
) -> None:
    resource = data.draw(st.sampled_from(RESOURCES), label="resource")
    sort = data.draw(sorts(resource), label="sort")
    per_page = data.draw(st.integers(1, 4), label="per_page")
    params = {"per_page": per_page, **sort_param(sort)}
    model = SortedModel(resource, sort)
    async with listing_database.example():
        rows = Rows(listing_database, model)
        await rows.add_admin(data.draw(st.sampled_from(MOMENTS), label="admin created_at"))
        await rows.insert_drawn(data, data.draw(st.integers(0, 6), label="rows"))

        async def insert_and_delete() -> None:
            await rows.insert_drawn(data, data.draw(st.integers(0, 2), label="inserted"))
            await rows.delete(data, data.draw(st.integers(0, 2), label="deleted"))

        await checked_walk(listing_database, model, params, insert_and_delete)

        # At rest: a walk, the offset pages and the sorted model agree.
        walked = await checked_walk(listing_database, model, params, nothing)
        ordered = [row[resource.id_field] for row in model.rows()]
        chunks = [ordered[start : start + per_page] for start in range(0, len(ordered), per_page)]
        assert walked == (chunks or [[]])
        assert await listed_ids(listing_database, resource, params, len(walked)) == walked


async def test_every_whitelisted_sort_walks_both_ways_like_the_offset_listing(
    listing_database: ListingDatabase,
) -> None:
    """Each sort field of each list, ascending and descending, over rows where every field
    has ties: the walk is the sorted model, page by page, and the offset listing."""
    for resource in RESOURCES:
        for name, descending in itertools.product(resource.spec.sortable, (False, True)):
            model = SortedModel(resource, (SortField(name, descending),))
            async with listing_database.example():
                rows = Rows(listing_database, model)
                await rows.add_admin(MOMENTS[1])
                await rows.insert(resource.fixed_rows(8))
                params = {"per_page": 3, **sort_param(model.sort)}
                walked = await checked_walk(listing_database, model, params, nothing)
                listed = await listed_ids(listing_database, resource, params | {"per_page": 100}, 1)
                assert [row_id for page in walked for row_id in page] == listed[0], params
