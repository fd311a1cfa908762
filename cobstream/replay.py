"""`cobstream replay`: the replay format of CONTRACT.md, JSON Lines in and out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any

import orjson

from cobstream.engine import Emitted, Engine
from models.decode import Rejected, load_json
from models.types import NonFinite, RawNumber


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


def key_text(key: Any) -> str | None:
    if key is None or (isinstance(key, str) and not isinstance(key, RawNumber | NonFinite)):
        return key
    return value_text(key)


def replay_lines(lines: Iterable[bytes], engine: Engine, now: datetime | None = None) -> Iterator[Emitted]:
    """Feed replay lines (bytes, one JSON object each) to the engine; yield what it publishes."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        yield from _replay_line(number, line.rstrip(b"\r\n"), engine)
    if now is not None:
        yield from engine.advance(now)


def _replay_line(number: int, line: bytes, engine: Engine) -> list[Emitted]:
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
        key = key_text(record.get("key"))
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


def write_jsonl(events: Iterable[Emitted], out: IO[bytes]) -> int:
    count = 0
    for event in events:
        out.write(
            orjson.dumps({"topic": event.topic, "key": event.key, "value": event.value.model_dump(mode="json")}) + b"\n"
        )
        count += 1
    return count
