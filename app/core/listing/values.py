"""Filter values: the operators a column's type takes, and a raw value turned into that
type, bounded so that the database binds it and compares it exactly."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, Integer, Numeric, SmallInteger
from sqlalchemy.orm import InstrumentedAttribute

# Filter numbers: their magnitude, and the decimal places of a numeric column without a
# scale of its own (well within what PostgreSQL's numeric holds).
MAX_NUMBER = Decimal(10) ** 15
UNSCALED_PLACES = 30

_INT_RANGES = {
    SmallInteger: (-(2**15), 2**15 - 1),
    BigInteger: (-(2**63), 2**63 - 1),
    Integer: (-(2**31), 2**31 - 1),
}
_EVERY_TYPE = frozenset({"eq", "ne", "in"})
_ORDERED = _EVERY_TYPE | {"gt", "gte", "lt", "lte"}
_TEXT = _EVERY_TYPE | {"contains"}


class InvalidValueError(ValueError):
    """A filter value that its column cannot take (the message says why)."""


def is_text(column: InstrumentedAttribute[Any]) -> bool:
    return _python_type(column) is str


def allowed_ops(column: InstrumentedAttribute[Any]) -> frozenset[str]:
    python_type = _python_type(column)
    if python_type is str:
        return _TEXT
    if python_type in (int, float, Decimal, dt.date, dt.datetime):
        return _ORDERED
    return _EVERY_TYPE


def _python_type(column: InstrumentedAttribute[Any]) -> type:
    try:
        python_type: type = column.type.python_type
    except NotImplementedError:  # types such as JSON have no Python equivalent
        return object
    return python_type


def convert(column: InstrumentedAttribute[Any], name: str, raw: str) -> Any:
    python_type = _python_type(column)
    try:
        if python_type is bool:
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if python_type is int:
            value = int(raw)
            low, high = next(
                (bounds for kind, bounds in _INT_RANGES.items() if isinstance(column.type, kind)),
                _INT_RANGES[BigInteger],
            )
            if not low <= value <= high:
                raise ValueError
            return value
        if python_type in (float, Decimal):
            return _number(column, raw)
        if python_type is dt.datetime:
            moment = dt.datetime.fromisoformat(raw)
            return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        if python_type is dt.date:
            return dt.date.fromisoformat(raw)
        if issubclass(python_type, enum.Enum):
            return python_type(raw)
    except (ValueError, InvalidOperation, OverflowError) as error:
        why = f": {error}" if isinstance(error, _UnfitNumberError) else ""
        raise InvalidValueError(f"{raw!r} is not a valid value for {name!r}{why}") from None
    return raw


class _UnfitNumberError(ValueError):
    """A number that parses, but that its column cannot compare exactly."""


def _number(column: InstrumentedAttribute[Any], raw: str) -> float | Decimal:
    """A finite number below `MAX_NUMBER`, with no more decimal places than the column
    keeps (else `ValueError`): a value the database can bind whatever its exponent, and
    that compares with the column's values exactly."""
    number = Decimal(raw)
    if not number.is_finite() or abs(number) >= MAX_NUMBER:
        raise _UnfitNumberError(f"a finite number below 10^{MAX_NUMBER.adjusted()} is expected")
    if _python_type(column) is float:
        value = float(number)
        if number and not value:  # too small for a float: it would compare as zero
            raise _UnfitNumberError("too small a number")
        return value
    scale = column.type.scale if isinstance(column.type, Numeric) else None
    places = UNSCALED_PLACES if scale is None else scale
    context = Context(prec=MAX_NUMBER.adjusted() + places + 1)
    exact = number.quantize(Decimal(1).scaleb(-places), context=context)
    if exact != number:  # finer than the column: no stored value could equal it
        raise _UnfitNumberError(f"at most {places} decimal places")
    return exact
