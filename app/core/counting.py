"""How many rows a list matches, at a cost that stops growing past `EXACT_UP_TO`.

The count reads at most `EXACT_UP_TO + 1` matching rows. Above the bound, PostgreSQL
answers the planner's estimate of the statement's rows (never below the bound, and said
to be inexact); other databases (SQLite, the embedded default: small by nature) count
them all, exactly.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.visitors import InternalTraversal

EXACT_UP_TO = 10_000


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <statement>` (PostgreSQL): the plan, with its row estimate,
    of a statement with its parameters bound as when it runs."""

    inherit_cache = True
    _traverse_internals = [("statement", InternalTraversal.dp_clauseelement)]  # noqa: RUF012 - SQLAlchemy's protocol

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


class RowCount:
    """Counts the rows of one list statement (its statements built once, when first used)."""

    def __init__(self, rows: Select[Any]) -> None:
        self._rows = rows.order_by(None)

    @functools.cached_property
    def _bounded(self) -> Select[Any]:
        return _count(self._rows.limit(EXACT_UP_TO + 1))

    @functools.cached_property
    def _exact(self) -> Select[Any]:
        return _count(self._rows)

    @functools.cached_property
    def _estimate(self) -> Explain:
        return Explain(self._rows)

    async def run(self, connection: AsyncConnection) -> tuple[int, bool]:
        """The number of matching rows, and whether it is exact."""
        total: int = (await connection.execute(self._bounded)).scalar_one()
        if total <= EXACT_UP_TO:
            return total, True
        if connection.dialect.name != "postgresql":
            return (await connection.execute(self._exact)).scalar_one(), True
        plan = (await connection.execute(self._estimate)).scalar_one()
        # psycopg reads the JSON plan as a list; another driver may hand over its text.
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return max(int(plan[0]["Plan"]["Plan Rows"]), total), False


def _count(rows: Select[Any]) -> Select[Any]:
    return select(func.count()).select_from(rows.subquery())
