"""RequestModel: the base of every request body."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.schemas import RequestModel


class Sample(RequestModel):
    name: str
    count: int = 0
    tags: tuple[str, ...] = ()


def test_a_valid_body_passes() -> None:
    assert Sample.model_validate({"name": "x", "count": 2, "tags": ("a",)}).count == 2


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "extra": 1},
        {"name": "nul\x00"},
        {"name": "x", "tags": ["ok", "n\x00l"]},
        {"name": "x", "count": False},
        {"name": "x", "count": "3"},
        {"name": 5},
    ],
    ids=["unknown-field", "nul", "nested-nul", "bool-as-int", "text-as-int", "int-as-text"],
)
def test_invalid_bodies_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Sample.model_validate(body)
