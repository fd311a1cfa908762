"""Field types shared by every contract: money, identifiers, codes and times.

Money is always `decimal.Decimal` quantized to cents. On input it is read exactly: a JSON
string such as ``"80.10"`` or a JSON number whose literal text we keep (see `RawNumber`), never
a binary float. Booleans, exponents, NaN and Infinity are refused with a message a billing
engineer can act on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import CoreSchema, PydanticCustomError, SchemaValidator
from pydantic_core import core_schema as cs

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# Limits that keep one hostile message from costing more than a normal claim.
MAX_ID_LENGTH = 128
MAX_CODE_LENGTH = 32
MAX_TEXT_LENGTH = 256
MAX_MONEY = Decimal("999999999.99")
EARLIEST_YEAR, LATEST_YEAR = 1900, 2199
_MONEY_TEXT = re.compile(r"-?\d{1,12}(?:\.\d{1,20})?", re.ASCII)
_RATE_TEXT = re.compile(r"\d{1,3}(?:\.\d{1,8})?", re.ASCII)
# C0/C1 control characters and lone surrogates (json.loads lets "\ud800" through, and such a
# string cannot even be written back out as UTF-8).
_FORBIDDEN_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class RawNumber(str):
    """The literal text of a JSON number, kept so that money is never read through a float."""

    __slots__ = ()


class NonFinite(str):
    """A JSON ``NaN``/``Infinity`` literal, kept so validation can say which field held it."""

    __slots__ = ()


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def parse_money(value: Any) -> Decimal:
    """Read one money amount exactly; at most two meaningful decimals."""
    if type(value) is Decimal and value.as_tuple().exponent == -2 and -MAX_MONEY <= value <= MAX_MONEY:
        # Already cents (the core's own arithmetic, or a model copied): nothing to check.
        return value + ZERO  # turns -0.00 into 0.00
    if isinstance(value, NonFinite):
        raise _fail("money_not_finite", "not finite (NaN and Infinity are not money)")
    if isinstance(value, bool):
        raise _fail("money_type", 'must be money (a string like "80.00" or a number), not a boolean')
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _fail("money_not_finite", "not finite (NaN and Infinity are not money)")
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        text = str(value)
        if not _MONEY_TEXT.fullmatch(text):
            if isinstance(value, RawNumber) and ("e" in text or "E" in text):
                raise _fail("money_format", "must be written as plain digits like 80.00 (no exponent)")
            raise _fail("money_format", 'must be money written as digits like "80.00"')
        amount = Decimal(text)
    else:
        raise _fail("money_type", f'must be money (a string like "80.00"), not {type(value).__name__}')
    if abs(amount) > MAX_MONEY:
        raise _fail("money_range", f"is beyond the largest amount accepted ({MAX_MONEY})")
    cents = amount.quantize(CENT)
    if cents != amount:
        raise _fail("money_precision", "has more than two decimals of value")
    return cents + ZERO  # turns -0.00 into 0.00


def format_money(amount: Decimal) -> str:
    """Two decimals, rounded half up, never ``-0.00``. A Decimal quantized to cents prints in
    plain notation with exactly two decimals (`str` turns to exponents only for an exponent
    above 0 or an adjusted exponent below -6), at a third of the cost of a format spec: this
    runs for every money field of every outcome and claim record written."""
    cents = amount.quantize(CENT, ROUND_HALF_UP)
    return str(cents) if cents else "0.00"


def round_cents(amount: Decimal) -> Decimal:
    """Round to cents, half up: the only rounding COB_RULES.md allows."""
    return amount.quantize(CENT, ROUND_HALF_UP)  # positional: half the cost of the keyword


_MONEY_IN_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"},
        {"type": "number"},
    ],
    "description": "Dollars and cents; at most two decimals of value; no exponent, NaN or Infinity.",
}
_MONEY_OUT_SCHEMA = {
    "type": "string",
    "pattern": r"^-?\d+\.\d{2}$",
    "description": "Dollars and cents with exactly two decimals.",
}

Money = Annotated[
    Decimal,
    PlainValidator(parse_money),
    PlainSerializer(format_money, return_type=str),
    WithJsonSchema(_MONEY_IN_SCHEMA, mode="validation"),
    WithJsonSchema(_MONEY_OUT_SCHEMA, mode="serialization"),
]


def _not_negative(amount: Decimal) -> Decimal:
    if amount < 0:
        raise _fail("money_negative", "must not be negative")
    return amount


NonNegativeMoney = Annotated[Money, AfterValidator(_not_negative)]


def parse_rate(value: Any) -> Decimal:
    """A share between 0 and 1 with at most four decimals (the secondary's coinsurance rate)."""
    if isinstance(value, NonFinite):
        raise _fail("rate_not_finite", "not finite")
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise _fail("rate_type", 'must be a decimal between 0 and 1, such as "0.80"')
    text = str(value)
    if not _RATE_TEXT.fullmatch(text):
        raise _fail("rate_format", 'must be a decimal between 0 and 1 written as digits, such as "0.80"')
    rate = Decimal(text)
    if not (0 <= rate <= 1):
        raise _fail("rate_range", "must be between 0 and 1")
    if rate != rate.quantize(Decimal("0.0001")):
        raise _fail("rate_precision", "has more than four decimals")
    return rate.quantize(Decimal("0.0001"))


Rate = Annotated[
    Decimal,
    PlainValidator(parse_rate),
    PlainSerializer(lambda r: f"{r.normalize():f}", return_type=str),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^\d+(\.\d+)?$"}, {"type": "number"}],
            "description": "0 to 1, at most four decimals.",
        },
        mode="validation",
    ),
    WithJsonSchema({"type": "string"}, mode="serialization"),
]


def _clean_text(value: str) -> str:
    if _FORBIDDEN_TEXT.search(value):
        raise _fail("text_characters", "contains control characters or invalid unicode")
    return value


def _strict_str(value: Any) -> Any:
    # RawNumber is a str subclass internally; a JSON number is not an identifier.
    if isinstance(value, RawNumber | NonFinite) or not isinstance(value, str):
        raise _fail("string_type", f"must be a string, not {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, RawNumber | NonFinite | int | float | Decimal):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


Identifier = Annotated[
    str,
    BeforeValidator(_strict_str),
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH),
    AfterValidator(_clean_text),
]
"""A non-empty id such as a claim id, event id, payer id or line id."""

Code = Annotated[
    str,
    BeforeValidator(_strict_str),
    StringConstraints(min_length=1, max_length=MAX_CODE_LENGTH),
    AfterValidator(_clean_text),
]
"""A short code: procedure code, modifier, CARC or RARC."""

Text = Annotated[
    str,
    BeforeValidator(_strict_str),
    StringConstraints(max_length=MAX_TEXT_LENGTH),
    AfterValidator(_clean_text),
]


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 date and time with a zone; naive times are refused."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and not isinstance(value, RawNumber) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _fail("timestamp_format", "must be an ISO 8601 datetime with a zone") from None
    else:
        raise _fail("timestamp_format", "must be an ISO 8601 datetime with a zone")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _fail("timestamp_format", "must be an ISO 8601 datetime with a zone")
    if not (EARLIEST_YEAR <= parsed.year <= LATEST_YEAR):
        # Also keeps deadline arithmetic (up to 3650 days later) far from datetime's limits.
        raise _fail("timestamp_range", f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return parsed.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    PlainValidator(parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def parse_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and not isinstance(value, RawNumber) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail("date_format", "must be an ISO date such as 2026-03-02")


IsoDate = Annotated[
    date,
    PlainValidator(parse_date),
    PlainSerializer(lambda d: d.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date"}),
]


def parse_positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail("int_type", "must be a whole number of days")
    if not (1 <= value <= 3650):
        raise _fail("int_range", "must be between 1 and 3650 days")
    return value


Days = Annotated[
    int,
    PlainValidator(parse_positive_int),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 3650}),
]


def strict_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail("bool_type", "must be true or false")
    return value


Flag = Annotated[bool, PlainValidator(strict_bool), WithJsonSchema({"type": "boolean"})]


# ---- Validators that stay inside pydantic-core ------------------------------------------------
# The types above call Python for every field, which is what lets them word each error for a
# billing engineer. For the hot paths (an EOB decoded, an outcome built) the same models are also
# built by schemas that never leave Rust; each accepts a subset of what its type accepts, and
# whatever it refuses goes through the full validation, which alone words the errors.

_NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"  # Rust regex: no C0/C1 control characters
# Plain cents, no sign, no leading zero, at most 999,999,999.99: Decimal(text) is then exactly
# what parse_money returns (exponent -2, never -0.00). [0-9], not \d: Rust's \d is Unicode.
_CENTS_TEXT = r"^(?:0|[1-9][0-9]{0,8})\.[0-9]{2}$"
# The same, or below zero (never "-0.00", which parse_money reads as 0.00).
_SIGNED_CENTS_TEXT = r"^(?:0|[1-9][0-9]{0,8})\.[0-9]{2}$|^-(?:0\.(?:0[1-9]|[1-9][0-9])|[1-9][0-9]{0,8}\.[0-9]{2})$"


def plain_text_schema(min_length: int, max_length: int) -> CoreSchema:
    """A JSON string without control characters (Identifier, Code, Text without the Python)."""
    return cs.str_schema(strict=True, min_length=min_length, max_length=max_length, pattern=_NO_CONTROL)


def cents_text_schema(*, signed: bool = False) -> CoreSchema:
    """Money written as "80.00" (or "-9.00" when `signed`), to the same Decimal that parse_money makes."""
    pattern = _SIGNED_CENTS_TEXT if signed else _CENTS_TEXT
    return cs.no_info_after_validator_function(Decimal, cs.str_schema(strict=True, pattern=pattern))


def computed_money_schema() -> CoreSchema:
    """Money the core computed, kept as it is when within the limits (a claim's totals can pass
    them). Only the range is checked: the core's amounts are sums, differences, minima and maxima
    of cents and cents rounded (tests/test_properties.py checks each is cents), and money is
    always written out through `format_money`. `decimal_places` would cost 0.7 us a field."""
    return cs.decimal_schema(strict=True, ge=-MAX_MONEY, le=MAX_MONEY)


def computed_timestamp_schema() -> CoreSchema:
    """A time the core stamps (its clock), kept as it is when already UTC and within the years
    parse_timestamp accepts; parse_timestamp would return it unchanged."""
    earliest, end = datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC), datetime(LATEST_YEAR + 1, 1, 1, tzinfo=UTC)
    return cs.datetime_schema(strict=True, tz_constraint=0, ge=earliest, lt=end)


def iso_date_schema() -> CoreSchema:
    """A date written YYYY-MM-DD, to the same date that parse_date makes."""
    iso_date = cs.str_schema(strict=True, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    return cs.no_info_after_validator_function(date.fromisoformat, iso_date)


def swapped(node: Any, swap: Callable[[dict[str, Any]], CoreSchema | None]) -> Any:
    """A copy of a core schema in which every node that `swap` gives a replacement for is
    replaced by it (and not looked into)."""
    if isinstance(node, dict):
        replacement = swap(node)
        if replacement is not None:
            return replacement
        return {key: swapped(value, swap) for key, value in node.items()}
    if isinstance(node, list):
        return [swapped(value, swap) for value in node]
    return node


def _python_function(node: dict[str, Any]) -> Any:
    """The Python function a validator node of a core schema calls, or None."""
    function = node.get("function") if str(node.get("type", "")).startswith("function-") else None
    return function.get("function") if isinstance(function, dict) else None


def _text_limits(node: dict[str, Any]) -> tuple[int, int] | None:
    """The (shortest, longest) of an Identifier, Code or Text: its chain of Python steps (the
    string check, the length limits, the character check) around a plain string; else None."""
    if node.get("type") != "function-after" or _python_function(node) is not _clean_text:
        return None
    limits = {"min_length": 0, "max_length": None}
    inner = node["schema"]
    while inner.get("type") in ("function-after", "function-before"):
        step = _python_function(inner)
        if isinstance(step, partial) and set(step.keywords) & set(limits):
            limits.update(step.keywords)
        elif step is not _strict_str:
            return None
        inner = inner["schema"]
    if inner != {"type": "str"} or limits["max_length"] is None:
        return None
    return limits["min_length"], limits["max_length"]


def plain_validator_replaced(
    node: dict[str, Any], replacements: dict[Any, Callable[[], CoreSchema]]
) -> CoreSchema | None:
    """A plain validator whose Python function `replacements` names, replaced by the schema it
    gives (which serializes as the node did); None for any other node."""
    make = replacements.get(_python_function(node)) if node.get("type") == "function-plain" else None
    return {**make(), "serialization": node["serialization"]} if make is not None else None


def _stored_value(node: dict[str, Any]) -> CoreSchema | None:
    limits = _text_limits(node)
    if limits is not None:
        return plain_text_schema(*limits)
    return plain_validator_replaced(node, _STORED)


_STORED: dict[Any, Callable[[], CoreSchema]] = {
    parse_money: lambda: cents_text_schema(signed=True),
    parse_date: iso_date_schema,
}


def stored_schema(schema: CoreSchema) -> CoreSchema:
    """A copy of a model's core schema for reading back the JSON this system wrote itself (a
    claims-table record): its money, dates and identifiers, codes and texts checked inside
    pydantic-core, as they were written (money as plain cents text, dates as YYYY-MM-DD, text
    without control characters). Timestamps and the models' own validators still run as Python.
    A reader built on it accepts a subset of what the full validation accepts, to the same
    values; anything else it refuses, and the caller then validates in full."""
    return swapped(schema, _stored_value)


def _model_classes(schema: CoreSchema) -> tuple[type[BaseModel], ...]:
    """Every model class a core schema builds."""
    found: list[type[BaseModel]] = []

    def note(node: dict[str, Any]) -> None:
        if node.get("type") == "model" and node["cls"] not in found:
            found.append(node["cls"])

    swapped(schema, note)  # visits every node: `note` replaces none
    return tuple(found)


@contextmanager
def _own_schema(classes: tuple[type[BaseModel], ...]) -> Iterator[None]:
    # pydantic-core reuses a complete model class's own validator wherever the class appears in a
    # schema (its "prebuilt" shortcut); while the class looks incomplete it uses the schema given.
    before = [model.__dict__.get("__pydantic_complete__", False) for model in classes]
    for model in classes:
        model.__pydantic_complete__ = False
    try:
        yield
    finally:
        for model, complete in zip(classes, before, strict=True):
            model.__pydantic_complete__ = complete


def rust_validator(schema: CoreSchema) -> SchemaValidator:
    """A validator for `schema`, which builds the model classes in it by its own rules. Should
    pydantic-core stop honouring that, the result is the classes' full validation: slower, same."""
    with _own_schema(_model_classes(schema)):
        return SchemaValidator(schema)
