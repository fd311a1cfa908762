"""From the bytes of one message to a validated input, or to the reason it cannot be used.

Used by the stream agents (Kafka record values) and by the replay (JSONL values) alike, so both
reject exactly the same input with the same words. Numbers are kept as their literal text until
a field says what they are, so money is never read through a binary float.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from models.cob.claim import EobReceived, SubmissionReceived
from models.cob.reference import ReferenceChange
from models.contract.events import (
    ClaimSubmission,
    EobEvent,
    FeeScheduleEntry,
    PayerProfile,
    Role,
    fast_eob,
    fee_schedule_key,
)
from models.contract.outcomes import DeadLetter
from models.contract.topics import EOB_TOPICS, INPUT_TOPICS, PAYERS, REFERENCE_TOPICS, SUBMITTED
from models.contract.types import MAX_CODE_LENGTH, MAX_ID_LENGTH, NonFinite, RawNumber

M = TypeVar("M", bound=BaseModel)

MAX_MESSAGE_BYTES = 1_048_576
# What a dead letter keeps of the original: enough to diagnose, and small enough that even
# with JSON escaping (up to 6 bytes per byte) the dead letter fits a default Kafka message.
MAX_DEAD_LETTER_RAW = 65_536
MAX_ERRORS_SHOWN = 3


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that goes to the dead-letter topic: one line saying why, and its claim if known."""

    error: str
    claim_id: str | None = None
    part: str | None = None  # the part of the message at fault, when not all of it (an 835 claim)
    # Why, as a code from a closed set (`DEAD_LETTER_REASONS`), set where the rejection is made:
    # the contract field at fault (`lines[].paid`), the X12 segment (`x12:CAS`) or the kind of
    # fault (`invalid_json`). The metrics label dead letters with it; it never carries a value.
    reason: str = "other"


def load_json(text: str | bytes) -> Any:
    """Parse JSON keeping numbers as their literal text (RawNumber) and NaN/Infinity marked."""
    return json.loads(text, parse_float=RawNumber, parse_int=_int_or_raw, parse_constant=NonFinite)


def _int_or_raw(text: str) -> int | RawNumber:
    # Integers as long as a money field may be are ints; longer ones stay text so that a
    # million-digit number costs nothing to reject.
    return int(text) if len(text) <= 18 else RawNumber(text)


def parse_value(raw: bytes | str) -> tuple[Any, Rejected | None]:
    """Bytes to a JSON value, or the reason they are not one."""
    size = len(raw) if isinstance(raw, bytes) or len(raw) * 4 <= MAX_MESSAGE_BYTES else _utf8_size(raw)
    if size > MAX_MESSAGE_BYTES:
        return None, Rejected(
            f"message is {size} bytes, over the {MAX_MESSAGE_BYTES}-byte limit", reason="message_too_large"
        )
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, Rejected(f"value is not UTF-8 text ({exc.reason} at byte {exc.start})", reason="not_utf8")
    try:
        return load_json(raw), None
    except RecursionError:
        return None, Rejected("value is nested too deeply to be an event", reason="nested_too_deeply")
    except ValueError as exc:
        return None, Rejected(f"value is not valid JSON: {exc}", reason="invalid_json")


def _utf8_size(text: str) -> int:
    """Bytes on the wire, so that a replayed text and a Kafka message hit the limit alike."""
    return len(text.encode("utf-8", "surrogatepass"))


Decision = EobReceived | SubmissionReceived | ReferenceChange | Rejected


def decode(topic: str, key: str | None, raw: bytes | str | None) -> Decision:
    """One input message (value bytes, or None for a tombstone) to what it means."""
    if topic in EOB_TOPICS or topic == SUBMITTED:
        if raw is None:
            return Rejected("value is null; only the reference topics accept null (a delete)", reason="null_value")
        return decode_eob(EOB_TOPICS[topic], raw) if topic in EOB_TOPICS else decode_submission(raw)
    if topic in REFERENCE_TOPICS:
        return decode_reference(topic, key, raw)
    return Rejected(f"unknown input topic {topic!r}; expected one of {', '.join(INPUT_TOPICS)}", reason="unknown_topic")


def decode_eob(role: Role, raw: bytes | str) -> EobReceived | Rejected:
    text = _plain_json(raw)
    if text is not None and (eob := fast_eob(role, text)) is not None:
        return EobReceived(role, eob)
    return _validated_eob(role, raw)


def _plain_json(raw: bytes | str) -> str | None:
    """The message as text for `fast_eob`, when nothing in it needs Python's reading: within the
    size limit, UTF-8, and no backslash (an escape could spell what the full validation refuses,
    such as a lone surrogate, or the key `fast_eob` reads for nothing)."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_MESSAGE_BYTES or b"\\" in raw:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if len(raw) * 4 > MAX_MESSAGE_BYTES or "\\" in raw:
        return None
    return raw


def _validated_eob(role: Role, raw: bytes | str) -> EobReceived | Rejected:
    """The full validation of an EOB, its role's rules for `secondary_payer_id` applied first."""

    def by_role(value: dict[str, Any]) -> None:
        # Set here from the message, never taken from it: absent `secondary_payer_id` on
        # eob.primary means the sender does not know the coverage (COVERAGE.md section 1).
        value.pop("states_secondary", None)
        if role == "primary" and "secondary_payer_id" not in value:
            value["states_secondary"] = False
        if role == "secondary":
            value.pop("secondary_payer_id", None)  # ignored on eob.secondary, whatever it holds

    eob = _validated(raw, EobEvent, "an EobEvent", by_role)
    return eob if isinstance(eob, Rejected) else EobReceived(role, eob)


def decode_submission(raw: bytes | str) -> SubmissionReceived | Rejected:
    """A `claims.submitted` message: the claim as billed, with its coverage (COVERAGE.md)."""
    submission = _validated(raw, ClaimSubmission, "a ClaimSubmission", _without_original_837)
    return submission if isinstance(submission, Rejected) else SubmissionReceived(submission)


def _without_original_837(value: dict[str, Any]) -> None:
    # Set by the X12 converter from the 837 itself, never taken from a message: a JSON
    # submission carries no 837 to build the secondary's from (docs/X12.md).
    value.pop("original_837", None)


def _validated(
    raw: bytes | str, model: type[M], what: str, prepare: Callable[[dict[str, Any]], None] | None = None
) -> M | Rejected:
    """The full validation of a claim input: JSON read by Python, every field by its type's own
    validator; `prepare` adjusts the parsed object first."""
    value, rejected = parse_value(raw)
    if rejected:
        return rejected
    if not isinstance(value, dict):
        return Rejected(f"value must be a JSON object ({what}), not {_kind(value)}", reason="not_an_object")
    claim_id = _readable_id(value.get("claim_id"))
    if prepare is not None:
        prepare(value)
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        return Rejected(describe(exc), claim_id, reason=field_reason(exc))
    except RecursionError:
        return Rejected("value is nested too deeply to be an event", claim_id, reason="nested_too_deeply")


def decode_reference(topic: str, key: str | None, raw: bytes | str | None) -> ReferenceChange | Rejected:
    model: type[BaseModel] = PayerProfile if topic == PAYERS else FeeScheduleEntry
    if raw is None:
        normal = _delete_key(topic, key)
        if normal is None:
            shape = "the payer_id" if topic == PAYERS else "payer_id|procedure_code|modifiers"
            return Rejected(
                f"a null value deletes an entry and needs its key ({shape}); the key is {key!r}",
                reason="delete_without_key",
            )
        return ReferenceChange(topic, normal, None)
    value, rejected = parse_value(raw)
    if rejected:
        return rejected
    if not isinstance(value, dict):
        return Rejected(
            f"value must be a JSON object (a {model.__name__}) or null, not {_kind(value)}", reason="not_an_object"
        )
    try:
        entry = model.model_validate(value)
    except ValidationError as exc:
        return Rejected(describe(exc), reason=field_reason(exc))
    if isinstance(entry, PayerProfile):
        return ReferenceChange(topic, entry.payer_id, entry)
    assert isinstance(entry, FeeScheduleEntry)
    return ReferenceChange(topic, entry.key(), entry)


def _delete_key(topic: str, key: str | None) -> str | None:
    if not key or len(key) > 2 * MAX_ID_LENGTH:
        return None
    if topic == PAYERS:
        return key
    parts = key.split("|")
    if len(parts) != 3 or not parts[0] or not parts[1] or len(parts[1]) > MAX_CODE_LENGTH:
        return None
    modifiers = [m for m in parts[2].split(",") if m]
    return fee_schedule_key(parts[0], parts[1], modifiers)


def _readable_id(value: Any) -> str | None:
    if isinstance(value, str) and not isinstance(value, RawNumber | NonFinite) and 0 < len(value) <= MAX_ID_LENGTH:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return value
    return None


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, RawNumber | NonFinite | int):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "null" if value is None else type(value).__name__


_MESSAGES = {
    "missing": "is required",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
}


def describe(exc: ValidationError) -> str:
    """A pydantic error as one line a billing engineer can act on: `where: what` (first few)."""
    parts = []
    errors = exc.errors(include_url=False)
    # A list whose items failed is also reported as too short; the item's error is the news.
    failed = [e["loc"] for e in errors]
    errors = [
        e
        for e in errors
        if not (e["type"] == "too_short" and any(loc[: len(e["loc"])] == e["loc"] != loc for loc in failed))
    ]
    for error in errors[:MAX_ERRORS_SHOWN]:
        where = _location(error["loc"])
        kind = error["type"]
        ctx = error.get("ctx") or {}
        if kind == "literal_error":
            shown = repr(error.get("input"))
            what = f"must be {ctx.get('expected', 'one of the allowed values')}, not {shown[:40]}"
        elif kind == "string_too_long" or (kind == "too_long" and not _is_list(ctx)):
            what = f"is longer than {ctx.get('max_length')} characters"
        elif kind == "too_short":
            what = "must be a non-empty list" if _is_list(ctx) else "must not be empty"
        elif kind == "too_long":
            what = f"has more than {ctx.get('max_length')} items"
        else:
            what = _MESSAGES.get(kind, error["msg"])
        parts.append(f"{where}: {what}" if where else what)
    if len(errors) > MAX_ERRORS_SHOWN:
        parts.append(f"and {len(errors) - MAX_ERRORS_SHOWN} more")
    return "; ".join(parts)


def _is_list(ctx: dict[str, Any]) -> bool:
    return ctx.get("field_type") in ("List", "Tuple", "Set")


def field_reason(exc: ValidationError) -> str:
    """The contract field of the first error, indices dropped (`lines[].paid`): the closest
    field of the contract at or above where pydantic placed it, else `other`."""
    errors = exc.errors()
    if not errors:
        return "other"
    field = (errors[0].get("ctx") or {}).get("field")  # an error of the model as a whole says where
    path = field if isinstance(field, str) else _INDEX.sub("[]", _location(errors[0]["loc"]))
    while path:
        if path in CONTRACT_FIELDS:
            return path
        path = path.rpartition(".")[0]  # a validator's step under a known field
    return "other"


def _field_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every field a contract model has, as `describe` names them with the indices dropped."""
    for name, field in model.model_fields.items():
        yield prefix + name
        yield from _nested_paths(field.annotation, prefix + name)


def _nested_paths(annotation: Any, path: str) -> Iterator[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _field_paths(annotation, path + ".")
        return
    if get_origin(annotation) in (tuple, list):
        yield path + "[]"
        path += "[]"
    for argument in get_args(annotation):
        yield from _nested_paths(argument, path)


_INDEX = re.compile(r"\[\d+\]")
CONTRACT_FIELDS = frozenset(
    path for model in (EobEvent, ClaimSubmission, PayerProfile, FeeScheduleEntry) for path in _field_paths(model)
)
# Every reason this module gives a rejection.
FAULT_KINDS = frozenset(
    {
        "message_too_large",
        "not_utf8",
        "invalid_json",
        "nested_too_deeply",
        "not_an_object",
        "null_value",
        "delete_without_key",
        "unknown_topic",
        "internal_error",
        "other",
    }
)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("function-") or part.endswith("]"):
            continue  # pydantic's internal step names, not fields
        else:
            text += f".{part}" if text else part
    return text


def dead_letter(
    rejected: Rejected,
    *,
    source_topic: str | None,
    partition: int | None,
    offset: int | None,
    key: str | None,
    raw: bytes | str | None,
    received_at: datetime | None,
) -> DeadLetter:
    """The dead-letter event for rejected input: the original bytes (or only the part at fault,
    `rejected.part`), as text when they are UTF-8.

    Bytes beyond `MAX_DEAD_LETTER_RAW` are cut (`raw_truncated`, with `raw_size` the original
    size), so that the dead letter itself always fits in a Kafka message; the source topic,
    partition and offset still point at the whole original.
    """
    if rejected.part is not None:
        raw = rejected.part
    data = b"" if raw is None else raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    kept = data[:MAX_DEAD_LETTER_RAW]
    try:
        text, encoding = kept.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if len(kept) < len(data) and exc.start >= len(kept) - 3:
            text, encoding = kept[: exc.start].decode("utf-8"), "utf-8"  # a character cut in two
        else:
            text, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    return DeadLetter(
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        key=key,
        claim_id=rejected.claim_id,
        raw=text,
        raw_encoding=encoding,  # type: ignore[arg-type]
        raw_truncated=len(kept) < len(data),
        raw_size=len(data),
        error=rejected.error,
        received_at=received_at,
    )
