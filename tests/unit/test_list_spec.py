"""ListSpec: what a resource lets clients sort and filter on."""

from __future__ import annotations

import pytest

from app.core.listing import ListSpec, SortField
from tests.gadgets import Gadget


@pytest.mark.parametrize("field", ["price", "colour"], ids=["not-text", "not-a-filter"])
def test_case_insensitive_fields_must_be_text_filters(field: str) -> None:
    with pytest.raises(ValueError, match="case_insensitive"):
        ListSpec(
            sortable={"id": Gadget.id},
            filterable={"name": Gadget.name, "price": Gadget.price},
            default_sort=(SortField("id"),),
            tiebreaker=Gadget.id,
            case_insensitive=frozenset({field}),
        )
