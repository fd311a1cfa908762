"""Helpers shared by the X12 and FHIR conversion tests: converted events run through replay."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson

from cobstream.engine import Engine
from cobstream.shared.replay_format import replay_lines
from models.cob.processor import Published
from models.remittance import ConvertedEob, Item


def converted(items: list[Item]) -> list[ConvertedEob]:
    return [i for i in items if isinstance(i, ConvertedEob)]


def reconciled(convert: Callable[[bytes | str], list[Item]], inputs: Iterable[bytes | str]) -> list[Published]:
    """Convert each remittance and run the events through the replay engine, in order."""
    lines = [orjson.dumps(e.replay_line()) for data in inputs for e in converted(convert(data))]
    return list(replay_lines(lines, Engine()))


def labels(emitted: list[Published]) -> list[str]:
    """`topic:kind` (discrepancies) or `topic:status` (billing-ready events) of each outcome."""
    out = []
    for e in emitted:
        detail = getattr(e.value, "kind", None) or getattr(e.value, "status", None)
        out.append(f"{e.topic}:{detail}" if detail else e.topic)
    return out
