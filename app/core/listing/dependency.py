"""`list_params(spec)`: the FastAPI dependency that reads a list request's query
parameters into `ListParams` (a cursor, when given, decoded and checked).

(This module does not use postponed annotations: FastAPI must see the per-resource
descriptions of the nested function's parameters.)
"""

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated

from fastapi import Query

from app.core.cursors import CursorCodec, InvalidCursorError
from app.core.errors import BadCursorError, ValidationFailedError
from app.core.injection import Provide
from app.core.listing.grammar import parse_filters, parse_sort
from app.core.listing.params import ListParams
from app.core.listing.spec import ListSpec

MAX_PAGE = 1_000_000_000
MAX_PER_PAGE = 100


def list_params(spec: ListSpec) -> Callable[..., Awaitable[ListParams]]:
    """A FastAPI dependency that parses the list query parameters for `spec`."""

    async def dependency(  # noqa: PLR0917 - FastAPI passes query parameters by keyword
        cursors: Provide[CursorCodec],
        page: Annotated[
            int | None, Query(ge=1, le=MAX_PAGE, description="Page number, from 1")
        ] = None,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="Items per page")] = 10,
        sort: Annotated[
            str | None,
            Query(max_length=500, description=f"`field:asc|desc[,...]`. {spec.sort_help}"),
        ] = None,
        filters: Annotated[
            str | None,
            Query(
                max_length=2000,
                description="`field:value`, `field:[v1,v2]` or `field:op:value`, comma "
                "separated; ops `eq ne gt gte lt lte in contains`. A value with a comma goes in "
                'double quotes, `\\"` and `\\\\` escaped: `title:contains:"Good, the Bad"`. '
                f"{spec.filters_help}",
            ),
        ] = None,
        cursor: Annotated[
            str | None,
            Query(
                max_length=2000,
                description="The `next_cursor` of the previous page (keyset paging; not "
                "with `page`)",
            ),
        ] = None,
    ) -> ListParams:
        params = ListParams(
            page or 1,
            per_page,
            parse_sort(spec, sort),
            parse_filters(spec, filters),
            cursors=cursors,
        )
        if cursor is None:
            return params
        if page is not None:
            raise ValidationFailedError(["query", "cursor"], "give either cursor or page, not both")
        try:
            state = cursors.decode(cursor, spec.query_of(params))
        except (InvalidCursorError, ValueError, KeyError, TypeError) as error:
            raise BadCursorError(f"invalid cursor: {error}") from None
        if len(state.after) != spec.key_count(params.sort):
            raise BadCursorError("invalid cursor: wrong number of sort values")
        return replace(
            params,
            page=state.page + 1,
            after=state.after,
            total=state.total,
            total_exact=state.total_exact,
        )

    return dependency
