"""The worker's Prometheus metrics: their definitions, on a registry of their own, the small
functions the agents call when something happens, and the values read when Prometheus scrapes.

Every label comes from a closed set, so no label can carry patient data: contract topic names,
discrepancy kinds, partition numbers, claim statuses (`models.cob.census`), table names, and for a
dead letter the reason code set where the input was rejected (`Rejected.reason`): the contract
field at fault, the X12 segment id, or the kind of fault (anything else is `other`), never a
value. docs/METRICS.md lists
every metric and what to alert on.

The agents' hooks are on the hot path: labelled children are bound once, here, so that counting
an EOB is one dictionary look-up and one `Counter.inc`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import get_args

import faust
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from models.cob.census import CLAIM_STATUSES, ClaimCensus
from models.cob.verdict import BLOCKING
from models.contract.outcomes import DiscrepancyKind
from models.contract.topics import (
    CLAIM_EVENTS,
    CLAIM_INPUT_TOPICS,
    DISCREPANCY,
    EOB_TOPICS,
    EXPECTED,
    INPUT_TOPICS,
    OUTPUT_TOPICS,
    READY,
    REMITTANCE_X12,
    SECONDARY_CLAIM,
    SUBMITTED,
)
from models.remittance.decode import CONTRACT_FIELDS, FAULT_KINDS
from models.remittance.intake import X12_REASONS
from streams import kafka_internals
from streams.kafka_internals import PartitionLag, TableRecovery

log = logging.getLogger(__name__)

# `_created` series would double every counter for a timestamp nobody alerts on.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)
KNOWN_TOPICS = frozenset((*INPUT_TOPICS, CLAIM_EVENTS, *OUTPUT_TOPICS))
# From a millisecond (one EOB on an idle worker) to an hour (a backlog after an outage).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

INPUT_MESSAGES = Counter(
    "cobstream_input_messages_total",
    "Messages the intake read, per input topic, valid or not (an 835 message counts once).",
    ["topic"],
    registry=REGISTRY,
)
EOBS_RECEIVED = Counter(
    "cobstream_eobs_received_total",
    "EOBs accepted and passed on to their claim, per input topic (on remittance.x12, each claim payment).",
    ["topic"],
    registry=REGISTRY,
)
SUBMISSIONS_RECEIVED = Counter(
    "cobstream_submissions_received_total",
    "Claim submissions accepted and passed on to their claim, per input topic (on remittance.x12, each 837 claim).",
    ["topic"],
    registry=REGISTRY,
)
REKEYED = Counter(
    "cobstream_rekeyed_total",
    "Accepted EOBs and submissions sent on through cobstream.claim-events, per input topic: all of remittance.x12's, "
    "all with COBSTREAM_INPUT_PATH=claim-events, and on the direct path those not on their claim's partition.",
    ["topic"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "cobstream_dead_letters_total",
    "Input sent to eob.dead-letter, per source topic and reason (field, X12 segment or kind of fault).",
    ["topic", "reason"],
    registry=REGISTRY,
)
OUTCOMES = Counter(
    "cobstream_outcomes_published_total",
    "Outcomes published, per output topic and kind; blocking=true for discrepancies that hold patient billing.",
    ["topic", "kind", "blocking"],
    registry=REGISTRY,
)
OUTCOME_LATENCY = Histogram(
    "cobstream_outcome_latency_seconds",
    "From the input record's timestamp (the EOB's receipt, or the timer's tick) to each outcome's publication.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

DEADLINE_INDEX_REBUILT = Gauge(
    "cobstream_deadline_index_rebuilt_timestamp_seconds",
    "When the deadline index was last rebuilt from the claims table after an assignment (0: not yet): from then "
    "on the worker sends the ticks due. The bench waits for it.",
    registry=REGISTRY,
)

SERVING = Gauge(
    "cobstream_worker_serving",
    "1 while the worker serves its claims (not rebalancing, claims table recovered, reference data read), else 0.",
    registry=REGISTRY,
)

# A young collection takes well under a millisecond; a full one over a large heap, a second.
GC_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
GC_GENERATIONS = ("0", "1", "2")
GC_PAUSES = Histogram(
    "cobstream_gc_pause_seconds",
    "How long each garbage collection paused the worker (and its event loop with it), per generation.",
    ["generation"],
    buckets=GC_BUCKETS,
    registry=REGISTRY,
)
GC_LONGEST_PAUSE = Gauge(
    "cobstream_gc_longest_pause_seconds",
    "The longest garbage-collection pause since the worker started, per generation.",
    ["generation"],
    registry=REGISTRY,
)
LONG_GC_PAUSE = 0.25  # seconds: a pause this long is logged as well
LOOP_LAG = Histogram(
    "cobstream_event_loop_lag_seconds",
    "How late the worker's event loop woke a 50 ms sleep: time it spent on other work without yielding "
    "(decoding, the core, a garbage collection). High latency with low lag is waiting (the broker, a fetch).",
    buckets=GC_BUCKETS,
    registry=REGISTRY,
)
LOOP_LONGEST_LAG = Gauge(
    "cobstream_event_loop_longest_lag_seconds",
    "The longest the event loop was late since the worker started.",
    registry=REGISTRY,
)
LOOP_PROBE_INTERVAL = 0.05  # seconds
LONG_STALL = 0.25  # seconds the loop may be held before the stall watch names where
STALL_FRAMES = 12  # innermost frames logged

census = ClaimCensus()  # the claims agent's claims, kept by streams.claim_writer.ClaimWriter

# ---- What the agents call -------------------------------------------------------------------------

_INPUT_MESSAGES = {topic: INPUT_MESSAGES.labels(topic) for topic in INPUT_TOPICS}
_EOBS_RECEIVED = {topic: EOBS_RECEIVED.labels(topic) for topic in (*EOB_TOPICS, REMITTANCE_X12)}
_SUBMISSIONS_RECEIVED = {topic: SUBMISSIONS_RECEIVED.labels(topic) for topic in (SUBMITTED, REMITTANCE_X12)}
_REKEYED = {topic: REKEYED.labels(topic) for topic in CLAIM_INPUT_TOPICS}
_KINDS_OF: dict[str, tuple[str, ...]] = {
    EXPECTED: ("expected_payment",),
    READY: ("ready", "voided"),
    DISCREPANCY: get_args(DiscrepancyKind),
    SECONDARY_CLAIM: ("open", "replaced"),
}
_OUTCOMES = {
    (topic, kind): OUTCOMES.labels(topic, kind, "true" if kind in BLOCKING else "false")
    for topic, kinds in _KINDS_OF.items()
    for kind in kinds
}


def deadline_index_rebuilt() -> None:
    """The claims agent rebuilt its deadline index for the current assignment."""
    DEADLINE_INDEX_REBUILT.set(time.time())


def count_message_read(topic: str) -> None:
    """The intake read one message from an input topic (unprefixed name)."""
    _INPUT_MESSAGES[topic].inc()


def count_eob_received(topic: str) -> None:
    """The intake accepted one EOB from an input topic and sent it on to its claim."""
    _EOBS_RECEIVED[topic].inc()


def count_submission_received(topic: str) -> None:
    """The intake accepted one claim submission (JSON, or an 837 claim) and sent it on to its claim."""
    _SUBMISSIONS_RECEIVED[topic].inc()


def count_rekeyed(topic: str) -> None:
    """An accepted EOB or submission from an input topic went through the claim-events topic."""
    _REKEYED[topic].inc()


def count_dead_letter(topic: str | None, reason: str) -> None:
    """One dead letter for input from `topic`, rejected for `reason` (`Rejected.reason`: a code
    from a closed set, never a value)."""
    DEAD_LETTERS.labels(
        topic if topic in KNOWN_TOPICS else "other", reason if reason in DEAD_LETTER_REASONS else "other"
    ).inc()


def count_outcome_published(topic: str, kind: str, received_at: datetime) -> None:
    """One outcome of `kind` (`models.cob.processor.Published.kind`) sent on an output topic, for
    a claim event whose input record was received at `received_at`."""
    (_OUTCOMES.get((topic, kind)) or OUTCOMES.labels("other", "other", "false")).inc()
    OUTCOME_LATENCY.observe(max(0.0, time.time() - received_at.timestamp()))


# ---- Dead-letter reasons --------------------------------------------------------------------------

# Set where each rejection is made (models.remittance.decode.Rejected.reason): the contract
# field at fault, the kind of fault, the X12 segment.
DEAD_LETTER_REASONS = frozenset({*CONTRACT_FIELDS, *FAULT_KINDS, *X12_REASONS})


# ---- Read when Prometheus scrapes -----------------------------------------------------------------


class WorkerCollector(Collector):
    """The claim census, the consumer lag per partition and the tables' recovery, as they stand
    at each scrape (from callables, so that tests can give them without a running worker)."""

    def __init__(
        self,
        claims: ClaimCensus,
        lag: Callable[[], Iterable[PartitionLag]],
        recovery: Callable[[], TableRecovery],
        topic_prefix: str = "",
    ) -> None:
        self.claims = claims
        self.lag = lag
        self.recovery = recovery
        self.topic_prefix = topic_prefix

    def describe(self) -> Iterable[Metric]:
        return [*self._census_families(), self._lag_family(), *self._recovery_families()]

    def collect(self) -> Iterable[Metric]:
        if self.claims.recounted:
            yield from self._census()
        yield from self._read("consumer lag", self._lag)
        yield from self._read("table recovery", self._recovery)

    def _read(self, what: str, families: Callable[[], list[Metric]]) -> list[Metric]:
        try:
            return families()
        except Exception as exc:  # a scrape must never fail, nor stop the worker
            log.warning("metrics: %s not read (%s)", what, type(exc).__name__)
            return []

    def _census_families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "cobstream_claims", "Claims this worker holds, per status (models/cob/census.py).", None, ["status"]
            ),
            GaugeMetricFamily("cobstream_open_claims", "Claims this worker holds whose status is not settled."),
        )

    def _census(self) -> list[Metric]:
        by_status, open_claims = self._census_families()
        for status in CLAIM_STATUSES:
            by_status.add_metric([status], self.claims.counts[status])
        open_claims.add_metric([], self.claims.open)
        return [by_status, open_claims]

    def _lag_family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "cobstream_consumer_lag_records",
            "Records of an assigned partition not yet processed and committed (highwater minus committed offset).",
            labels=["topic", "partition"],
        )

    def _lag(self) -> list[Metric]:
        family = self._lag_family()
        for found in sorted(self.lag(), key=lambda p: (p.topic, p.partition)):
            topic = found.topic.removeprefix(self.topic_prefix)
            if found.topic.startswith(self.topic_prefix) and topic in KNOWN_TOPICS:
                family.add_metric([topic, str(found.partition)], found.lag)
        return [family]

    def _recovery_families(self) -> tuple[GaugeMetricFamily, ...]:
        per_partition = ["table", "partition"]
        return (
            GaugeMetricFamily(
                "cobstream_table_recovery_in_progress", "1 while the worker recovers its tables from their changelogs."
            ),
            GaugeMetricFamily(
                "cobstream_table_recovery_remaining_records",
                "Changelog records still to apply to an active table partition before it is recovered.",
                labels=per_partition,
            ),
            GaugeMetricFamily(
                "cobstream_table_recovery_recovered_offset",
                "The last changelog offset applied to an active table partition (-1: none).",
                labels=per_partition,
            ),
            GaugeMetricFamily(
                "cobstream_table_recovery_end_offset",
                "The last changelog offset an active table partition recovers up to (-1: an empty changelog).",
                labels=per_partition,
            ),
        )

    def _recovery(self) -> list[Metric]:
        found = self.recovery()
        in_progress, remaining, recovered, end = families = self._recovery_families()
        in_progress.add_metric([], 1 if found.in_progress else 0)
        for part in found.partitions:
            labels = [part.table, str(part.partition)]
            remaining.add_metric(labels, part.remaining)
            recovered.add_metric(labels, part.recovered_offset)
            end.add_metric(labels, part.end_offset)
        return list(families)


class GcTimer:
    """Times every garbage collection (a `gc.callbacks` entry): the histogram and the longest
    pause per generation, and a warning for a pause of LONG_GC_PAUSE or more (the generation,
    how long, how many objects it freed; nothing else)."""

    def __init__(self) -> None:
        self.started = self.started_cpu = 0.0
        self.longest = dict.fromkeys(GC_GENERATIONS, 0.0)
        self.pauses = {g: GC_PAUSES.labels(g) for g in GC_GENERATIONS}
        self.gauges = {g: GC_LONGEST_PAUSE.labels(g) for g in GC_GENERATIONS}
        self.inspected = False
        self.counts = (0, 0, 0)  # the collector's counts when the collection started

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started, self.started_cpu = time.perf_counter(), time.thread_time()
            self.counts = gc.get_count()
            return
        paused, generation = time.perf_counter() - self.started, str(info["generation"])
        working = time.thread_time() - self.started_cpu  # far below `paused`: the process waited for a CPU
        self.pauses[generation].observe(paused)
        if paused > self.longest[generation]:
            self.longest[generation] = paused
            self.gauges[generation].set(paused)
        if paused >= LONG_GC_PAUSE:
            log.warning(
                "garbage collection of generation %s paused the worker %.2f s (%.2f s of it on the CPU; %d objects "
                "freed; the collector's counts were %s)", generation, paused, working, info.get("collected", 0),
                self.counts,
            )  # fmt: skip
            if not self.inspected:  # once: what survived into the next generation, by size
                self.inspected = True
                log.warning("the largest containers it kept: %s", largest_containers(min(info["generation"] + 1, 2)))


def largest_containers(generation: int, shown: int = 5) -> str:
    """The largest containers the collector tracks in `generation`, as "type of size" (type names
    and sizes only, never contents)."""
    sized = []
    for found in gc.get_objects(generation):
        try:
            sized.append((len(found), type(found).__qualname__))
        except TypeError:
            continue
    sized.sort(reverse=True)
    return ", ".join(f"{kind} of {size:,}" for size, kind in sized[:shown]) or "none"


def watch_gc() -> None:
    """Time the garbage collector from now on (once per process)."""
    if not any(isinstance(callback, GcTimer) for callback in gc.callbacks):
        gc.callbacks.append(GcTimer())


async def watch_event_loop() -> None:
    """Sleep LOOP_PROBE_INTERVAL again and again and record how late each wake-up is (a task of
    the worker's app, until it stops); a thread (`StallWatch`) names the code that holds the loop
    when a wake-up is LONG_STALL late."""
    longest, watch = 0.0, StallWatch(threading.get_ident())
    watch.start()
    try:
        while True:
            asked = time.perf_counter()
            watch.beat(asked)
            await asyncio.sleep(LOOP_PROBE_INTERVAL)
            late = max(0.0, time.perf_counter() - asked - LOOP_PROBE_INTERVAL)
            LOOP_LAG.observe(late)
            if late > longest:
                longest = late
                LOOP_LONGEST_LAG.set(late)
    finally:
        watch.stop()


class StallWatch(threading.Thread):
    """Looks at the event loop's heartbeat every LONG_STALL / 5 s; when the loop has not come back
    for LONG_STALL, logs once, at WARNING, where its thread is (the innermost frames' files,
    lines and functions: code, never data), so that a stall can be traced to what caused it."""

    def __init__(self, loop_thread: int) -> None:
        super().__init__(name="cobstream-stall-watch", daemon=True)
        self.loop_thread, self.last_beat, self.reported = loop_thread, time.perf_counter(), 0.0
        self.stopped = threading.Event()

    def beat(self, at: float) -> None:
        self.last_beat = at

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        while not self.stopped.wait(LONG_STALL / 5):
            beat = self.last_beat
            if time.perf_counter() - beat - LOOP_PROBE_INTERVAL >= LONG_STALL and self.reported != beat:
                self.reported = beat
                frame = sys._current_frames().get(self.loop_thread)  # documented in `sys`, CPython's own
                where = " <- ".join(
                    f"{Path(f.filename).name}:{f.lineno} {f.name}"
                    for f in reversed(traceback.extract_stack(frame, limit=STALL_FRAMES))
                ) if frame is not None else "unknown"  # fmt: skip
                log.warning("event loop held for %.2f s or more, in %s", LONG_STALL, where)


def watch_worker(app: faust.App, topic_prefix: str) -> WorkerCollector:
    """Register the scrape-time values of this worker's app (once per process)."""
    collector = WorkerCollector(
        census, partial(kafka_internals.consumer_lag, app), partial(kafka_internals.table_recovery, app), topic_prefix
    )
    REGISTRY.register(collector)
    return collector
