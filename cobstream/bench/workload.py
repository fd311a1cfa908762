"""The generated traffic as Kafka messages, and the in-process engine over it (the core phase)."""

from __future__ import annotations

import gc
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from cobstream.bench.traffic import Traffic
from cobstream.engine import Engine
from cobstream.shared.gc_tuning import tune_gc

Message = tuple[str, str | None, bytes]  # unprefixed topic, key, value


@dataclass
class Workload:
    """Generated traffic (cobstream.bench.traffic) as Kafka messages, and what the engine makes of it."""

    claims: int
    reference: list[Message]
    eobs: list[Message]
    expected: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    core_seconds: float = 0.0
    core_cpu_seconds: float = 0.0

    @property
    def topics(self) -> dict[str, int]:
        return dict(Counter(topic for topic, _, _ in self.eobs))


def build_workload(claims: int, now: datetime) -> Workload:
    # Two days back: no timeout (30 days by default) falls due on the worker's wall clock.
    traffic = Traffic(claims, seed=7, start=now - timedelta(days=2))
    reference, eobs = [], []
    for record in traffic.records():
        message = (record["topic"], record["key"], orjson.dumps(record["value"]))
        (reference if record["topic"].startswith("reference.") else eobs).append(message)
    return Workload(claims, reference, eobs)


def run_core(workload: Workload) -> None:
    """The engine over the messages, exactly as the worker receives them (topic, key, value
    bytes); sets the expected outcomes (claim histories are order-independent, so the worker's
    interleaving of the two EOB topics yields the same count)."""

    tune_gc()  # as `cobstream replay` and the worker do
    engine = Engine()
    for topic, key, value in workload.reference:
        engine.receive(topic, key, value)
    outcomes: Counter[str] = Counter()
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    for topic, key, value in workload.eobs:
        for emitted in engine.receive(topic, key, value):
            outcomes[emitted.topic] += 1
    workload.core_seconds = time.perf_counter() - started
    workload.core_cpu_seconds = time.process_time() - cpu
    workload.outcomes = dict(outcomes)
    workload.expected = sum(outcomes.values())


def open_claims(traffic: Any, m: int, now: datetime) -> Iterator[Message]:
    """Traffic's primaries, adjudicated within one day two days back (so that none is overdue on
    the wall clock however many there are)."""
    rng = random.Random(traffic.seed)
    start = now - timedelta(days=2)
    step = 86_400 / max(m, 1)
    for n in range(m):
        primary, _ = traffic.claim(rng, n)
        primary["adjudicated_at"] = (start + timedelta(seconds=n * step)).isoformat()
        yield "eob.primary", primary["claim_id"], orjson.dumps(primary)
