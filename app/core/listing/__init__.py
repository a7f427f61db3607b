"""The list parameters of every list endpoint, parsed once into a typed `ListParams`.

`page`, `per_page`, `sort` and `filters` follow the contract's grammar; fields
and operators are whitelisted per resource by a `ListSpec`; values are turned
into the column's Python type and always bound, never spliced into SQL.

Two ways through a list, with the same envelope:
- offset: `?page=N` counts the matching rows and skips `(N-1) * per_page` of them, so a
  deep page costs a scan of everything before it;
- keyset: every envelope carries `next_cursor`; `?cursor=<it>` (same sort, filters and
  per_page) continues after the last row of the previous page through the sort index,
  so page 5,000 costs what page 1 costs, and rows inserted meanwhile never shift a page.
  `total` is counted once, on the page the walk started from, and carried in the cursor.

The cursor carries the last row's sort values as the database returned them, before any
type conversion, and binds them back unconverted: the keyset compares like with like in
the database's own type and format (SQLite's text timestamps included), so it orders
exactly as `ORDER BY` does.
"""

from app.core.listing.dependency import MAX_PAGE, MAX_PER_PAGE, list_params
from app.core.listing.grammar import MAX_IN_VALUES, parse_filters, parse_sort
from app.core.listing.page import Page
from app.core.listing.params import Filter, ListParams, SortField
from app.core.listing.spec import ListSpec

__all__ = [
    "MAX_IN_VALUES",
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "Filter",
    "ListParams",
    "ListSpec",
    "Page",
    "SortField",
    "list_params",
    "parse_filters",
    "parse_sort",
]
