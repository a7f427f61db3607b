"""RequestModel: the base of every request body."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.schemas import PatchModel, RequestModel


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


class SamplePatch(PatchModel):
    name: str | None = None
    count: int | None = None


def test_a_patch_field_may_be_left_out_but_not_null() -> None:
    assert SamplePatch.model_validate({"count": 2}).model_dump(exclude_unset=True) == {"count": 2}
    with pytest.raises(ValidationError) as refused:
        SamplePatch.model_validate({"name": None})
    assert refused.value.errors()[0]["loc"] == ("name",)


def test_a_patch_schema_documents_no_null() -> None:
    properties = SamplePatch.model_json_schema()["properties"]
    assert properties == {
        "name": {"type": "string", "title": "Name"},
        "count": {"type": "integer", "title": "Count"},
    }
