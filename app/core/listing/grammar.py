"""The grammar of `sort` and `filters`: parsed into `SortField`s and `Filter`s whose
fields and operators the resource's `ListSpec` allows, with values of the column's type."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import InstrumentedAttribute

from app.core.errors import ValidationFailedError
from app.core.listing.params import Filter, SortField
from app.core.listing.spec import OPERATORS, ListSpec
from app.core.listing.values import InvalidValueError, allowed_ops, convert

MAX_IN_VALUES = 100


def _invalid(param: str, msg: str) -> ValidationFailedError:
    return ValidationFailedError(["query", param], msg)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are neither inside `[...]` nor inside a double-quoted value
    (where a backslash escapes the next character)."""
    parts, depth, start, quoted, escaped = [], 0, 0, False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            escaped = char == "\\"
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if quoted:
        raise _invalid("filters", f"unterminated quote in {text!r}")
    parts.append(text[start:])
    return parts


_QUOTED = re.compile(r'"((?:[^"\\]|\\["\\])*)"')
_ESCAPE = re.compile(r"\\([\"\\])")


def _unquote(value: str) -> str:
    """A filter value as given, or the text of a double-quoted one (`\\"` and `\\\\` escaped)."""
    if not value.startswith('"'):
        return value
    match = _QUOTED.fullmatch(value)
    if match is None:
        raise _invalid(
            "filters", f'bad quoting in {value!r}: quote the whole value, escape only \\" and \\\\'
        )
    return _ESCAPE.sub(r"\1", match.group(1))


def parse_sort(spec: ListSpec, raw: str | None) -> tuple[SortField, ...]:
    if not raw:
        return ()
    fields = []
    for part in raw.split(","):
        name, _, direction = part.strip().partition(":")
        if name not in spec.sortable:
            raise _invalid("sort", f"cannot sort by {name!r}; {spec.sort_help}")
        if direction not in ("", "asc", "desc"):
            raise _invalid("sort", f"direction of {name!r} must be asc or desc")
        fields.append(SortField(name, direction == "desc"))
    return tuple(fields)


def _parse_filter(spec: ListSpec, text: str) -> Filter:
    name, sep, rest = text.strip().partition(":")
    if name not in spec.filterable:
        raise _invalid("filters", f"cannot filter by {name!r}; {spec.filters_help}")
    if not sep:
        raise _invalid("filters", f"{text!r} must read field:value or field:op:value")
    op, sep, value = rest.partition(":")
    if not (sep and op in OPERATORS):
        op, value = ("in" if rest.startswith("[") else "eq"), rest
    column = spec.filterable[name]
    if op not in allowed_ops(column):
        raise _invalid("filters", f"operator {op!r} does not apply to {name!r}")
    if op == "in":
        if not (value.startswith("[") and value.endswith("]")):
            raise _invalid("filters", f"'in' on {name!r} takes a list: {name}:[v1,v2]")
        items = [_unquote(item.strip()) for item in _split_top_level(value[1:-1]) if item.strip()]
        if not items or len(items) > MAX_IN_VALUES:
            raise _invalid("filters", f"'in' on {name!r} takes 1 to {MAX_IN_VALUES} values")
        return Filter(name, op, [_value(column, name, item) for item in items])
    return Filter(name, op, _value(column, name, _unquote(value)))


def parse_filters(spec: ListSpec, raw: str | None) -> tuple[Filter, ...]:
    if not raw:
        return ()
    return tuple(_parse_filter(spec, part) for part in _split_top_level(raw) if part.strip())


def _value(column: InstrumentedAttribute[Any], name: str, raw: str) -> Any:
    try:
        return convert(column, name, raw)
    except InvalidValueError as error:
        raise _invalid("filters", str(error)) from None
