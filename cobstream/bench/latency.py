"""The latency phase's probe: offered load at a fixed rate, and the percentiles of what came back."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from cobstream.bench.kafka import consumer, partitions_of
from cobstream.bench.options import BenchError, Sizes
from cobstream.bench.traffic import Traffic
from cobstream.bench.workers import (
    GC_LONGEST,
    GC_PAUSE,
    LOOP_LAG,
    LOOP_LONGEST,
    REBUILT,
    Deployment,
    Worker,
    find_sample,
)
from cobstream.shared.kafka_io import producer
from models.contract import topics
from models.contract.topics import CLAIM_EVENTS, DISCREPANCY, READY


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


async def stalls_of(worker: Worker) -> dict[str, float]:
    """Counts from one scrape of the worker's histograms: event-loop lags of 100 ms and of 250 ms
    or more, and full garbage collections of 100 ms or more, since it started."""
    samples = await worker.samples()

    def over(name: str, le: str, **labels: str) -> float:
        total = find_sample(samples, f"{name}_count", **labels) or 0.0
        return total - (find_sample(samples, f"{name}_bucket", le=le, **labels) or 0.0)

    return {
        "loop_lags_100ms": over(LOOP_LAG, "0.1"),
        "loop_lags_250ms": over(LOOP_LAG, "0.25"),
        "full_gcs_100ms": over(GC_PAUSE, "0.1", generation="2"),
    }


STALL_TRACE = "event loop held for "  # streams.metrics.StallWatch's log line
GC_TRACE = "garbage collection"  # streams.metrics.GcTimer's two lines


TRACES = (STALL_TRACE, GC_TRACE, "the largest containers")


def is_trace(line: str) -> bool:
    return any(marker in line for marker in TRACES)


def traced(line: str) -> str:
    """A stall watch's log line: its time (the log's) and where the loop was held."""
    marker = next(marker for marker in TRACES if marker in line)
    return line[:23] + " " + marker + line.split(marker, 1)[1]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted `values`."""
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[min(rank, len(values)) - 1]


class LatencyProbe:
    """Offers claims at a fixed rate (open loop: each send at its scheduled time, whatever came
    back) and times each secondary EOB from its send to its billing.ready being consumed."""

    def __init__(self, deployment: Deployment, rate: float, sizes: Sizes, seed: int = 8) -> None:
        self.deployment, self.settings, self.rate, self.sizes = deployment, deployment.settings, rate, sizes
        self.claim_rate = rate / 2
        claims = max(2, math.ceil(self.claim_rate * sizes.seconds_latency))
        start = datetime.now(UTC) - timedelta(days=2)
        # A seed of its own: claim ids that no backlog used. Secondaries after their primaries.
        traffic = Traffic(claims, seed=seed, start=start, secondary_first_share=0.0, duplicate_share=0.0)
        self.schedule: list[tuple[float, str, str, bytes]] = []
        for record in traffic.records():
            topic = record["topic"]
            if topic.startswith("eob."):
                n = int(record["key"].rsplit("-", 1)[1])
                at = n / self.claim_rate + (sizes.latency_gap if topic == "eob.secondary" else 0.0)
                self.schedule.append((at, topic, record["key"], orjson.dumps(record["value"])))
        self.schedule.sort(key=lambda s: s[0])
        self.warmup = min(max(1.0, 0.2 * sizes.seconds_latency), 10.0)
        self.sent: dict[str, float] = {}
        self.arrived: dict[str, tuple[float, str]] = {}
        # Where the time goes: CreateTime of the secondary's claim event (intake re-keyed it)
        # and of its billing.ready (the claims agent published it), both stamped by the worker.
        self.rekeyed: dict[str, float] = {}
        self.published: dict[str, float] = {}
        self.lag = 0.0
        self.began = 0.0
        self.offered_for = 0.0
        self.rebuilt: list[float | None] = []  # when each worker rebuilt its deadline index (its /metrics)
        self.gc_longest: list[dict[str, float | None]] = []  # each worker's longest collection, per generation
        self.loop_longest: list[float | None] = []  # each worker's longest event-loop lag (its /metrics)
        self.stalls: list[dict[str, float]] = []  # each worker's long loop lags and collections during the offer
        self.traced: list[str] = []  # where the workers' loops were held, as their stall watch logged it
        self.traced_before: list[str] = []  # the same, before the offer (the worker's start, a backlog)

    async def offer(self) -> None:
        names = {self.settings.topic(t): t for t in (topics.READY, topics.DISCREPANCY, topics.CLAIM_EVENTS)}
        reader = consumer(self.settings, fetch_max_wait_ms=100)
        sink = producer(self.settings, linger_ms=0)
        await reader.start()
        await sink.start()
        positioned, done = asyncio.Event(), asyncio.Event()
        reading = asyncio.create_task(self._read(reader, names, positioned, done))
        try:
            await asyncio.wait_for(positioned.wait(), 30)
            # Metadata for every input partition before the clock starts.
            for topic in ("eob.primary", "eob.secondary"):
                await sink.partitions_for(self.settings.topic(topic))
            before = [await stalls_of(w) for w in self.deployment.workers]
            logged = [len(w.text()) for w in self.deployment.workers]
            await self._send(sink)
            # Until every secondary has its outcome: an overloaded worker first drains its queue.
            seen, changed = -1, time.monotonic()
            while (count := len(self.arrived.keys() & self.sent.keys())) < len(self.sent):
                if count != seen:
                    seen, changed = count, time.monotonic()
                elif time.monotonic() - changed > min(self.sizes.stall, 30.0):
                    break
                self.deployment.check()
                await asyncio.sleep(0.1)
            self.rebuilt = [await w.metric(REBUILT) for w in self.deployment.workers]
            self.gc_longest = [
                {g: await w.metric(GC_LONGEST, generation=g) for g in ("0", "1", "2")} for w in self.deployment.workers
            ]
            self.loop_longest = [await w.metric(LOOP_LONGEST) for w in self.deployment.workers]
            after = [await stalls_of(w) for w in self.deployment.workers]
            self.stalls = [{k: a[k] - b.get(k, 0.0) for k in a} for b, a in zip(before, after, strict=False)]
            self.traced_before = self._traces(logged, before=True)
            self.traced = self._traces(logged, before=False)
        finally:
            done.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reading, 10)
            await sink.stop()
            await reader.stop()

    def _traces(self, logged: list[int], *, before: bool) -> list[str]:
        """The workers' stall and collection traces logged before the offer began (each worker's
        log was `logged` characters long then), or since."""
        found = []
        for worker, start in zip(self.deployment.workers, logged, strict=False):
            text = worker.text()
            part = text[:start] if before else text[start:]
            found += [traced(line) for line in part.splitlines() if is_trace(line)]
        return found

    async def _read(self, reader: Any, names: dict[str, str], positioned: asyncio.Event, done: asyncio.Event) -> None:
        tps = [tp for name in names for tp in await partitions_of(reader, name)]
        reader.assign(tps)
        await reader.seek_to_end(*tps)
        for tp in tps:
            await reader.position(tp)
        positioned.set()
        while not done.is_set():
            batch = await reader.getmany(timeout_ms=50)
            at = time.time()
            for records in batch.values():
                for record in records:
                    key, topic = record.key.decode() if record.key else "", names[record.topic]
                    if topic == CLAIM_EVENTS:
                        if b'"role":"secondary"' in record.value:
                            self.rekeyed.setdefault(key, record.timestamp / 1000)
                        continue
                    self.arrived.setdefault(key, (at, topic))
                    self.published.setdefault(key, record.timestamp / 1000)

    async def _send(self, sink: Any) -> None:
        began = time.monotonic() + 0.2
        self.began = time.time() + 0.2
        for at, topic, key, value in self.schedule:
            delay = began + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.lag = max(self.lag, -delay)
            if topic == "eob.secondary":
                self.sent[key] = time.time()
            await sink.send(self.settings.topic(topic), key=key.encode(), value=value)
        await sink.flush()
        self.offered_for = time.monotonic() - began

    def hops(self, steady: dict[str, float]) -> dict[str, Any]:
        """p50/p99 of each leg, for the steady secondaries: sent -> billing.ready published by the
        worker (`worker_ms`) -> consumed by the bench (`delivery_ms`). A secondary that went
        through claim-events (COBSTREAM_INPUT_PATH=claim-events, or not on its claim's partition)
        has the worker's leg split at its re-keying: `intake_ms`, then `claims_agent_ms`."""
        legs: dict[str, list[float]] = {"worker_ms": [], "delivery_ms": [], "intake_ms": [], "claims_agent_ms": []}
        for key, sent in steady.items():
            if key in self.published and key in self.arrived:
                legs["worker_ms"].append((self.published[key] - sent) * 1000)
                legs["delivery_ms"].append((self.arrived[key][0] - self.published[key]) * 1000)
                if key in self.rekeyed:
                    legs["intake_ms"].append((self.rekeyed[key] - sent) * 1000)
                    legs["claims_agent_ms"].append((self.published[key] - self.rekeyed[key]) * 1000)
        found: dict[str, Any] = {"samples": len(legs["worker_ms"]), "rekeyed": len(legs["intake_ms"])}
        for name, values in legs.items():
            if values:
                values.sort()
                found[name] = {"p50": round(percentile(values, 50), 1), "p99": round(percentile(values, 99), 1)}
        return found

    def summary(self) -> dict[str, Any]:
        steady = {k: t for k, t in self.sent.items() if t >= self.began + self.warmup}
        timed = sorted(
            (t - self.began, (self.arrived[k][0] - t) * 1000)
            for k, t in steady.items()
            if k in self.arrived and self.arrived[k][1] == READY
        )
        if not timed:
            raise BenchError(f"no billing.ready arrived for the {len(steady)} secondaries sent after the warm-up")
        samples = sorted(ms for _, ms in timed)
        trend = slope(timed)
        steady_for = timed[-1][0] - timed[0][0]
        # Each worker decodes its whole table once to rebuild its deadline index (agents.claims).
        rebuilt_at = [round(t - self.began, 1) for t in self.rebuilt if t]
        window = max(1.0, self.sizes.seconds_latency / 10)
        windows = []
        for n in range(math.ceil(timed[-1][0] / window) + 1):
            inside = sorted(ms for t, ms in timed if n * window <= t < (n + 1) * window)
            if inside:
                keys = {k: t for k, t in steady.items() if n * window <= t - self.began < (n + 1) * window}
                windows.append(
                    {
                        "from_s": round(n * window, 1),
                        "samples": len(inside),
                        "p50_ms": round(percentile(inside, 50), 1),
                        "p99_ms": round(percentile(inside, 99), 1),
                        "max_ms": round(inside[-1], 1),
                        "hops": self.hops(keys),
                    }
                )
        return {
            "offered_events_per_s": self.rate,
            "offered_claims_per_s": self.claim_rate,
            "achieved_events_per_s": len(self.schedule) / max(self.offered_for, 1e-9),
            "max_send_lag_ms": round(self.lag * 1000, 1),
            "seconds": self.sizes.seconds_latency,
            "warmup_s": self.warmup,
            "gap_primary_to_secondary_s": self.sizes.latency_gap,
            "samples": len(samples),
            "excluded_discrepancies": sum(1 for k in steady if self.arrived.get(k, (0, ""))[1] == DISCREPANCY),
            "missing": sum(1 for k in steady if k not in self.arrived),
            "p50_ms": percentile(samples, 50),
            "p95_ms": percentile(samples, 95),
            "p99_ms": percentile(samples, 99),
            "max_ms": samples[-1],
            "mean_ms": sum(samples) / len(samples),
            # Latency growing through the run: the worker falls behind at this load, and the
            # percentiles only say how long the run was.
            "trend_ms_per_s": round(trend, 2),
            "saturated": trend * steady_for > 100.0,
            "worker_schedule_rebuilt_at_s": rebuilt_at,
            # Each worker's longest garbage collection since it started, per generation.
            "worker_longest_gc_ms": [
                {g: round(t * 1000, 1) for g, t in longest.items() if t is not None} for longest in self.gc_longest
            ],
            # The longest the worker's event loop was busy without yielding since it started: a
            # stall longer than this was waiting (the broker, a fetch), not working.
            "worker_longest_loop_lag_ms": [round(t * 1000, 1) for t in self.loop_longest if t is not None],
            # While the load was offered: how often each worker's loop was late by 100 ms or more,
            # by 250 ms or more, and how many full collections took 100 ms or more.
            "worker_stalls_during_offer": self.stalls,
            "worker_stalls_traced": self.traced,
            "worker_stalls_traced_before_the_offer": self.traced_before,
            "hops": self.hops(steady),
            "windows": windows,
        }
