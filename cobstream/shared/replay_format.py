"""The replay format of CONTRACT.md, JSON Lines in and out: shared by `cobstream replay`, the demo,
the Kafka helpers, `cobstream explain` and the tests."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import IO, Any

import orjson

from cobstream.engine import Engine
from models.cob.processor import Published
from models.contract.outcomes import event_json
from models.contract.topics import EOB_TOPICS, REMITTANCE_X12, SUBMITTED
from models.contract.types import NonFinite, RawNumber, format_timestamp, parse_timestamp
from models.remittance.decode import Rejected, load_json


def _fragment(value: Any) -> Any:
    if isinstance(value, RawNumber | NonFinite):
        return orjson.Fragment(str(value))
    raise TypeError(f"cannot serialize {type(value).__name__}")


def value_text(value: Any) -> str | None:
    """The message text a replay `value` stands for: a string as it is, anything else as JSON
    (numbers written back exactly as they were read)."""
    if value is None:
        return None
    if isinstance(value, str) and not isinstance(value, RawNumber | NonFinite):
        return value
    return orjson.dumps(value, default=_fragment, option=orjson.OPT_PASSTHROUGH_SUBCLASS).decode()


def line_key_text(key: Any) -> str | None:
    if key is None or (isinstance(key, str) and not isinstance(key, RawNumber | NonFinite)):
        return key
    return value_text(key)


def replay_lines(lines: Iterable[bytes], engine: Engine, now: datetime | None = None) -> Iterator[Published]:
    """Feed replay lines (bytes, one JSON object each) to the engine; yield what it publishes."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        yield from _replay_line(number, line.rstrip(b"\r\n"), engine)
    if now is not None:
        yield from engine.advance(now)


def _replay_line(number: int, line: bytes, engine: Engine) -> list[Published]:
    try:
        record = load_json(line)
    except (ValueError, RecursionError) as exc:
        reason = "is nested too deeply" if isinstance(exc, RecursionError) else f"is not valid JSON: {exc}"
        return engine.receive(None, None, line, offset=number, rejected=Rejected(f"replay line {reason}"))
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("topic"), str)
        or isinstance(record.get("topic"), RawNumber | NonFinite)
    ):
        return engine.receive(
            None, None, line, offset=number, rejected=Rejected('replay line must be an object with a "topic" string')
        )
    try:
        key = line_key_text(record.get("key"))
        raw = value_text(record.get("value"))
    except (TypeError, orjson.JSONEncodeError) as exc:
        return engine.receive(
            record["topic"],
            None,
            line,
            offset=number,
            rejected=Rejected(f"value cannot be written as UTF-8 JSON: {exc}"),
        )
    return engine.receive(record["topic"], key, raw, offset=number)


def write_jsonl(events: Iterable[Published], out: IO[bytes]) -> int:
    count = 0
    for event in events:
        out.write(
            orjson.dumps({"topic": event.topic, "key": event.key, "value": orjson.Fragment(event_json(event.value))})
            + b"\n"
        )
        count += 1
    return count


def shift_times(lines: Iterable[bytes], now: datetime) -> list[bytes]:
    """The same replay lines with every EOB's `adjudicated_at` and every submission's
    `submitted_at` moved by whole days so that the latest falls in the day before `now`: a past
    day replayed as if it were yesterday, so that a worker on wall-clock time finds no timeout due
    yet. Raw X12 on `remittance.x12` moves by the same days (every CCYYMMDD date in it). Lines
    that are not events are kept."""
    parsed: list[tuple[bytes, Any]] = []
    latest: datetime | None = None
    for line in lines:
        try:
            record = load_json(line) if line.strip() else None
        except (ValueError, RecursionError):
            record = None
        at = _event_time(record)
        if at is not None:
            latest = at if latest is None else max(latest, at)
        parsed.append((line, record))
    if latest is None:
        return [line for line, _ in parsed]
    delta = timedelta(days=(now - latest).days - 1)
    shifted = []
    for line, record in parsed:
        at = _event_time(record)
        if isinstance(record, dict) and record.get("topic") == REMITTANCE_X12 and isinstance(record.get("value"), str):
            record["value"] = _X12_DATE.sub(lambda found: _moved(found[0], delta), record["value"])
            shifted.append(value_text(record).encode() + b"\n")
            continue
        if at is None:
            shifted.append(line)
            continue
        record["value"][EVENT_TIME_FIELDS[record["topic"]]] = format_timestamp(at + delta)
        shifted.append(value_text(record).encode() + b"\n")
    return shifted


_X12_DATE = re.compile(r"(?<![0-9])(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])(?![0-9])")


def _moved(ccyymmdd: str, delta: timedelta) -> str:
    try:
        day = date(int(ccyymmdd[:4]), int(ccyymmdd[4:6]), int(ccyymmdd[6:]))
    except ValueError:
        return ccyymmdd  # digits that only look like a date
    return f"{day + delta:%Y%m%d}"


# The field of each claim input that moves event time (CONTRACT.md; COVERAGE.md section 2).
EVENT_TIME_FIELDS = {**dict.fromkeys(EOB_TOPICS, "adjudicated_at"), SUBMITTED: "submitted_at"}


def _event_time(record: Any) -> datetime | None:
    if not (
        isinstance(record, dict) and record.get("topic") in EVENT_TIME_FIELDS and isinstance(record.get("value"), dict)
    ):
        return None
    try:
        return parse_timestamp(record["value"].get(EVENT_TIME_FIELDS[record["topic"]]))
    except ValueError:
        return None
