"""The bases of every request body the API accepts, and the type of every path id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, field_validator

NUL = "\x00"
# Ids are PostgreSQL `integer` columns: a larger one is a 422, never a database error.
MAX_ID = 2**31 - 1

PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="A positive integer id")]


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_contains_nul(item) for item in value)
    return False


class RequestModel(BaseModel):
    """Unknown fields are refused (no mass assignment), types are strict (`false` is not
    an int, `"1"` is not a number) and no text may carry a NUL character, which
    PostgreSQL cannot store: each of these is a 422."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if _contains_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


def _drop_null_choices(schema: dict[str, Any]) -> None:
    """Document the fields of a patch as omittable but never null."""
    for prop in schema.get("properties", {}).values():
        choices = [choice for choice in prop.pop("anyOf", ()) if choice != {"type": "null"}]
        if len(choices) == 1:
            prop.update(choices[0])
        elif choices:
            prop["anyOf"] = choices
        if prop.get("default", ...) is None:
            del prop["default"]


class PatchModel(RequestModel):
    """The body of a partial update: every field may be left out, none may be null.

    Fields are declared `X | None = None` so that an omitted one reads as None;
    an explicit `null` is a 422 naming the field, since it would otherwise be
    silently ignored.
    """

    model_config = ConfigDict(json_schema_extra=_drop_null_choices)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value
