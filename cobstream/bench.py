"""`cobstream bench`: throughput, latency, memory and recovery figures on the local real broker.

One run measures, each in a fresh topic prefix (`bench-<run>-<phase>.`) so that nothing mixes
with other runs or with the integration tests sharing the broker:

- core: the in-process engine (`cobstream.engine.Engine`, what `cobstream replay` drives) over
  the generated messages, no broker: claims/s and EOB events/s;
- baseline: a bare aiokafka consume-then-produce passthrough of the same EOB messages (same
  partition counts): messages/s, the ceiling for Python on this machine;
- pipeline: one `cobstream worker` draining the same messages, pre-loaded as a backlog:
  EOB events/s and its ratio to the baseline;
- latency: secondary EOB produced -> its billing.ready consumed, at a fixed offered load of
  half the pipeline's rate (p50, p95, p99);
- scaleout: the same backlog drained by two workers (or `--workers-scaleout N`);
- state: RSS and on-disk state of a worker holding M open claims, and the time a fresh worker
  takes to recover that table from its changelog (extrapolated to 1,000,000 when M is smaller).

docs/PERFORMANCE.md says exactly what each figure measures. A benchmark reports, it never fails
on a timing: the exit status is non-zero only when a phase could not be measured at all (no
broker, a worker that died, outcomes that never came).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import hashlib
import importlib.metadata
import json
import logging
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from cobstream.processes import stop_process

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("core", "baseline", "pipeline", "latency", "scaleout", "state")
MILLION = 1_000_000
MIB = 1024 * 1024

READY = "[^Worker]: Ready"
CLAIM_EVENTS_TOPIC = "cobstream.claim-events"
REBUILT = "schedule rebuilt for"  # agents.claims: the first timer tick decoded the whole table
RECOVERED = "]: Worker ready"  # the Recovery service, once the table is restored and streams resume
RESTORING = "Restoring state from changelog topics"
DONE_READING = "Done reading from changelog topics"
GENERATION = re.compile(r"Successfully synced group \S+ with generation (\d+)")
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")

TARGETS = {
    "pipeline.events_per_s": (">=", 10_000),
    "pipeline.ratio_to_baseline": (">=", 0.5),
    "latency.p99_ms": ("<", 100),
    "core.claims_per_s": (">=", 50_000),
    "state.rss_mib_per_million": ("<", 1024),
    "state.recovery_s_per_million": ("<", 60),
}


class BenchError(Exception):
    """A phase could not be measured (not a slow result: those are reported, never errors)."""


@dataclass
class Sizes:
    claims: int = 10_000
    state_claims: int = MILLION
    seconds_latency: float = 30.0
    scaleout_workers: int = 2
    partitions: int = 3
    latency_gap: float = 0.2
    latency_rate: float | None = None
    stall: float = 120.0
    settle: float = 2.0
    baseline_messages: int = 100_000

    @classmethod
    def smoke(cls) -> Sizes:
        return cls(claims=200, state_claims=500, seconds_latency=5.0, stall=45.0, settle=1.0, baseline_messages=0)


# ---- arguments -----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--claims",
        type=int,
        help="claims of generated traffic for core, baseline, pipeline, scaleout (default 10000; --smoke 200)",
    )
    parser.add_argument(
        "--state-claims",
        type=int,
        help="open claims for the state phase (default 1000000; "
        "--smoke 500); below 1000000 the per-million figures are extrapolated",
    )
    parser.add_argument("--seconds-latency", type=float, help="seconds of offered load for latency (default 30)")
    parser.add_argument("--workers-scaleout", type=int, metavar="N", help="workers in the scale-out phase (default 2)")
    parser.add_argument(
        "--partitions",
        type=int,
        help="partitions of the EOB, claim-events and output topics (default: COBSTREAM_PARTITIONS or 3)",
    )
    parser.add_argument(
        "--latency-rate",
        type=float,
        metavar="EOB_PER_S",
        help="offered load for latency (default: half the pipeline rate measured in this run)",
    )
    parser.add_argument(
        "--latency-gap",
        type=float,
        default=0.2,
        metavar="S",
        help="seconds between a claim's primary and its secondary under offered load (default 0.2)",
    )
    parser.add_argument("--only", type=_sections, help=f"comma-separated phases: {','.join(SECTIONS)} (default all)")
    parser.add_argument("--json", dest="json_path", help="write the results here (default bench-results/<time>.json)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes that keep the bench working (CI)")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="attach py-spy to the pipeline worker and write its samples "
        "and a summary of hot spots to DIR (slows that worker: do not compare its figures)",
    )
    parser.add_argument("--keep-topics", action="store_true", help="leave the bench topics on the broker")
    parser.add_argument("--note", help="free text kept in the JSON (what this run measures, e.g. the tree)")
    parser.add_argument(
        "--stall", type=float, help="give a phase up after this many seconds without progress (default 120; --smoke 45)"
    )


def _sections(text: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown phase {', '.join(unknown)}; choose from {','.join(SECTIONS)}")
    return chosen


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.smoke() if args.smoke else Sizes()
    env_partitions = os.environ.get("COBSTREAM_PARTITIONS")
    overrides = {
        "claims": args.claims,
        "state_claims": args.state_claims,
        "seconds_latency": args.seconds_latency,
        "scaleout_workers": args.workers_scaleout,
        "partitions": args.partitions or (int(env_partitions) if env_partitions else None),
        "latency_rate": args.latency_rate,
        "latency_gap": args.latency_gap,
        "stall": args.stall,
    }
    sizes = dataclasses.replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
    for name in ("claims", "state_claims", "scaleout_workers", "partitions"):
        if getattr(sizes, name) < 1:
            raise BenchError(f"--{name.replace('_', '-')} must be at least 1")
    if sizes.seconds_latency <= 0 or sizes.stall <= 0 or sizes.latency_gap < 0:
        raise BenchError("--seconds-latency and --stall must be positive, --latency-gap not negative")
    return sizes


# ---- the workload ----------------------------------------------------------------------------------

Message = tuple[str, str | None, bytes]  # unprefixed topic, key, value


@dataclass
class Workload:
    """Generated traffic (cobstream.traffic) as Kafka messages, and what the engine makes of it."""

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
    from cobstream.traffic import Traffic

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
    from cobstream.engine import Engine
    from cobstream.gc_tuning import tune_gc

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


# ---- Kafka helpers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def produce(settings: Any, messages: Iterable[Message], *, linger_ms: int = 5) -> int:
    """Publish as fast as the producer goes (acks=all, idempotent, as `cobstream produce`)."""
    from cobstream.kafka_io import producer

    client = producer(settings, linger_ms=linger_ms, max_batch_size=256 * 1024)
    await client.start()
    sent = 0
    pending: list[asyncio.Future] = []
    try:
        for topic, key, value in messages:
            pending.append(
                await client.send(settings.topic(topic), key=key.encode() if key is not None else None, value=value)
            )
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await client.flush()
    finally:
        await client.stop()
    return sent


def consumer(settings: Any, *topics: str, **options: Any) -> Any:
    from aiokafka import AIOKafkaConsumer

    options.setdefault("group_id", None)
    options.setdefault("enable_auto_commit", False)
    return AIOKafkaConsumer(
        *topics, bootstrap_servers=settings.broker_list, **settings.security.aiokafka_options(), **options
    )


async def partitions_of(client: Any, topic: str) -> list[Any]:
    from aiokafka import TopicPartition

    for _ in range(100):
        found = client.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        await client._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise BenchError(f"topic {topic} not found")


class Offsets:
    """End offsets of whole topics: how many records they hold, without reading any."""

    def __init__(self, settings: Any) -> None:
        self.client = consumer(settings)
        self.tps: dict[str, list[Any]] = {}

    async def __aenter__(self) -> Offsets:
        await self.client.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.client.stop()

    async def total(self, topics: Iterable[str]) -> int:
        tps = []
        for topic in topics:
            if topic not in self.tps:
                self.tps[topic] = await partitions_of(self.client, topic)
            tps += self.tps[topic]
        ends = await self.client.end_offsets(tps)
        return sum(ends.values())


async def edge_time(settings: Any, topics: list[str], *, first: bool) -> float | None:
    """The CreateTime (epoch seconds) of the earliest first record, or of the latest last
    record, over every partition of `topics`. The producer that wrote the record stamped it."""
    client = consumer(settings)
    await client.start()
    try:
        tps = [tp for topic in topics for tp in await partitions_of(client, topic)]
        begins, ends = await client.beginning_offsets(tps), await client.end_offsets(tps)
        tps = [tp for tp in tps if ends[tp] > begins[tp]]
        if not tps:
            return None
        client.assign(tps)
        for tp in tps:
            client.seek(tp, begins[tp] if first else max(begins[tp], ends[tp] - 3))
        found: dict[Any, float] = {}
        pending, deadline = set(tps), time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            batch = await client.getmany(*pending, timeout_ms=1500)
            if not batch:
                break
            for tp, records in batch.items():
                stamps = [r.timestamp / 1000 for r in records]
                if first:
                    found[tp] = stamps[0]
                    pending.discard(tp)
                else:
                    found[tp] = max(found.get(tp, 0.0), *stamps)
                    if records[-1].offset >= ends[tp] - 1:
                        pending.discard(tp)
        if not found:
            return None
        return min(found.values()) if first else max(found.values())
    finally:
        await client.stop()


async def delete_topics(settings: Any, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker_list, **settings.security.aiokafka_options())
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def wait_for_leaders(settings: Any, names: list[str], timeout: float = 30.0) -> None:
    """Until every partition of the new topics has a leader (producing earlier only retries)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker_list, **settings.security.aiokafka_options())
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = await admin.describe_topics(names)
            if len(described) == len(names) and all(
                t.get("error_code", 0) == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
                for t in described
            ):
                return
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    raise BenchError(f"topics {names[0]}... have no leader after {timeout:.0f}s")


async def broker_answers(settings: Any, timeout: float = 10.0) -> str | None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.broker_list,
        request_timeout_ms=int(timeout * 1000),
        **settings.security.aiokafka_options(),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.list_topics(), timeout)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return None


# ---- workers -----------------------------------------------------------------------------------------


def log_time(line: str) -> float | None:
    found = LOG_TIME.match(line)
    if not found:
        return None
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as logged


class Worker:
    """One `cobstream worker` process with its own state folder, web port and log."""

    def __init__(self, name: str, env: dict[str, str], state: Path, log: Path) -> None:
        self.name, self.env, self.state, self.log = name, env, state, log
        self.process: subprocess.Popen | None = None
        self.spawned = 0.0

    def start(self) -> Worker:
        self.spawned = time.time()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cobstream.cli", "worker"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def marker(self, text: str) -> float | None:
        """When the log first said `text` (its timestamp, else now)."""
        for line in self.text().splitlines():
            if text in line:
                return log_time(line) or time.time()
        return None

    def generations(self) -> int:
        return max((int(g) for g in GENERATION.findall(self.text())), default=0)

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = "\n".join(self.text().splitlines()[-25:])
            raise BenchError(
                f"worker {self.name} exited with status {self.process.returncode}; log {self.log}:\n{tail}"
            )

    async def wait(self, text: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while True:
            found = self.marker(text)
            if found is not None:
                return found
            self.check()
            if time.monotonic() > deadline:
                raise BenchError(f"worker {self.name} did not log {text!r} within {timeout:.0f}s (log {self.log})")
            await asyncio.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the worker process so far."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        """Resident memory in bytes (VmRSS)."""
        return self._status("VmRSS")

    def peak_rss(self) -> int:
        return self._status("VmHWM")

    def _status(self, field_name: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
        raise BenchError(f"no {field_name} for worker {self.name}")

    def stop(self, timeout: float = 30) -> None:
        if self.process is not None:
            stop_process(self.process, timeout)


def machine_cpu() -> tuple[float, float]:
    """Busy and total CPU time of the whole machine so far (/proc/stat), in clock ticks."""
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields[:8]) - idle, sum(fields[:8])


class MachineLoad:
    """How busy the whole machine was during a phase: the bench shares it with whatever else
    runs (the broker, other engineers' tests), and its figures depend on that."""

    def __init__(self) -> None:
        self.load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        self.cpu = machine_cpu()
        self.own, self.wall = time.process_time(), time.monotonic()

    def done(self) -> dict[str, Any]:
        busy, total = machine_cpu()
        share = (busy - self.cpu[0]) / (total - self.cpu[1]) if total > self.cpu[1] else None
        return {
            "load1_at_start": self.load,
            "load1_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "machine_busy_share": round(share, 3) if share is not None else None,
            # The bench process itself (generating, producing, reading) on one core.
            "bench_cpu_share": round((time.process_time() - self.own) / max(time.monotonic() - self.wall, 1e-9), 3),
        }


class CpuSampler:
    """The workers' CPU time, sampled every 0.1 s from their start, so that the CPU they spent
    between two instants known only afterwards (from record timestamps) can be read off."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self.samples: list[tuple[float, float]] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.samples.append((time.time(), sum(w.cpu_seconds() for w in self.workers)))
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.samples.append((time.time(), sum(w.cpu_seconds() for w in self.workers)))

    def at(self, when: float) -> float:
        before = [s for s in self.samples if s[0] <= when]
        after = [s for s in self.samples if s[0] >= when]
        if not before or not after:
            return (before or after or [(when, 0.0)])[-1 if before else 0][1]
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (when - t0) / (t1 - t0)


def disk_usage(path: Path) -> int:
    """Bytes on disk (allocated blocks) under `path`, like `du`."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return total


class Deployment:
    """One phase's environment on the shared broker: a topic prefix, its settings, its workers."""

    def __init__(self, bench: Bench, phase: str) -> None:
        self.bench, self.phase = bench, phase
        self.prefix = f"{bench.run_id}-{phase}."
        self.settings = dataclasses.replace(
            bench.base_settings, topic_prefix=self.prefix, partitions=bench.sizes.partitions
        )
        self.workers: list[Worker] = []

    async def create_topics(self) -> None:
        from streams.topics import create_topics, topic_specs

        await create_topics(self.settings)
        await wait_for_leaders(self.settings, [self.settings.topic(s.name) for s in topic_specs(self.settings)])

    def worker(self, name: str, **env_extra: str) -> Worker:
        folder = self.bench.tmp / f"{self.phase}-{name}"
        env = {
            **os.environ,
            "COBSTREAM_BROKERS": self.settings.brokers,
            "COBSTREAM_TOPIC_PREFIX": self.prefix,
            "COBSTREAM_PARTITIONS": str(self.settings.partitions),
            "COBSTREAM_STATE_DIR": str(folder / "state"),
            "COBSTREAM_WEB_PORT": str(free_port()),
            # info: the worker logs "Ready" and its recovery steps (nothing per message).
            "COBSTREAM_LOG_LEVEL": "info",
            "COBSTREAM_TIMER_INTERVAL": "60",
            **env_extra,
        }
        folder.mkdir(parents=True, exist_ok=True)
        worker = Worker(f"{self.phase}-{name}", env, folder / "state", folder / "worker.log")
        self.workers.append(worker)
        return worker

    def check(self) -> None:
        for worker in self.workers:
            worker.check()

    async def drain(
        self, topics: list[str], expected: int, label: str, on_progress: Callable[[int], None] | None = None
    ) -> int:
        """Wait until `topics` hold `expected` records and nothing new came for `settle` seconds."""
        sizes = self.bench.sizes
        names = [self.settings.topic(t) for t in topics]
        async with Offsets(self.settings) as offsets:
            last, changed, reported = -1, time.monotonic(), time.monotonic()
            while True:
                total = await offsets.total(names)
                now = time.monotonic()
                if total != last:
                    last, changed = total, now
                    if on_progress is not None:
                        on_progress(total)
                if now - reported >= 10:
                    self.bench.say(f"  {label}: {total:,}/{expected:,}")
                    reported = now
                if total >= expected and now - changed >= sizes.settle:
                    return total
                if now - changed > sizes.stall:
                    raise BenchError(f"{label}: no progress for {sizes.stall:.0f}s at {total:,} of {expected:,}")
                self.check()
                await asyncio.sleep(0.25)

    async def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        if not self.bench.keep_topics:
            try:
                await delete_topics(self.settings, self.prefix)
            except Exception as exc:
                self.bench.say(f"  could not delete the topics {self.prefix}*: {exc}")
        for worker in self.workers:
            shutil.rmtree(worker.state, ignore_errors=True)


# ---- profile ---------------------------------------------------------------------------------------


class Profiler:
    """py-spy attached to a worker; `stop` leaves its collapsed stacks and a summary."""

    def __init__(self, folder: Path, pid: int, name: str) -> None:
        self.out = folder / f"{name}.pyspy.txt"
        folder.mkdir(parents=True, exist_ok=True)
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(spy).exists():
            raise BenchError("--profile needs py-spy (pip install py-spy)")
        with (folder / f"{name}.pyspy.log").open("wb") as log:
            self.process = subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--output", str(self.out)],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def stop(self) -> dict[str, Any]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if not self.out.exists():
            return {"error": "py-spy wrote nothing (see its .pyspy.log)"}
        return summarize_stacks(self.out.read_text().splitlines())


FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*)(?::\d+)?\)$")
LIBRARY = re.compile(r"^.*?lib/python3\.\d+/")


def _frame_name(frame: str) -> str:
    found = FRAME.match(frame.strip())
    if not found:
        return frame.strip()
    path = found.group("file")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif LIBRARY.match(path):
        path = LIBRARY.sub("", path, count=1)
    else:
        with contextlib.suppress(ValueError, OSError):
            path = str(Path(path).resolve().relative_to(ROOT))
    return f"{found.group('func')} ({path})"


def _package_of(name: str) -> str:
    path = name.rsplit("(", 1)[-1].rstrip(")")
    return path.split("/", 1)[0].removesuffix(".py") if "/" in path else path.removesuffix(".py")


def summarize_stacks(lines: Iterable[str], top: int = 25) -> dict[str, Any]:
    """Collapsed stacks (`frame;frame;... count`) to shares of samples: by the function on CPU
    (self), by every function on the stack (inclusive), and by the package on CPU."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        packages[_package_of(frames[-1])] += count
        for name in set(frames):
            inclusive[name] += count

    def shares(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"name": n, "share": round(c / total, 4)} for n, c in counter.most_common(top)]

    return {"samples": total, "self": shares(own), "inclusive": shares(inclusive), "self_by_package": shares(packages)}


# ---- the bench ---------------------------------------------------------------------------------------


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted `values`."""
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[min(rank, len(values)) - 1]


class Bench:
    def __init__(self, sizes: Sizes, sections: list[str], *, profile: Path | None, keep_topics: bool) -> None:
        from streams.settings import Settings

        self.sizes, self.sections, self.profile_dir, self.keep_topics = sizes, sections, profile, keep_topics
        self.base_settings = Settings.from_env()
        self.run_id = f"bench-{uuid.uuid4().hex[:8]}"
        self.tmp = Path(tempfile.mkdtemp(prefix="cobstream-bench-"))
        self.results: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.live: list[Deployment] = []

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    async def run(self) -> None:
        now = datetime.now(UTC)
        kafka = [s for s in self.sections if s != "core"]
        if kafka:
            problem = await broker_answers(self.base_settings)
            if problem:
                raise BenchError(
                    f"no broker at {self.base_settings.brokers} ({problem}); start one: scripts/kafka start"
                )
        needs_traffic = any(s in self.sections for s in ("core", "baseline", "pipeline", "scaleout"))
        workload = None
        if needs_traffic:
            self.say(f"generating {self.sizes.claims:,} claims of traffic")
            workload = build_workload(self.sizes.claims, now)
            run_core(workload)
            if "core" in self.sections:
                self.results["core"] = self.core_figures(workload)
                self.say(f"core: {self.results['core']['claims_per_s']:,.0f} claims/s")
        try:
            await self.phase("baseline", lambda: self.baseline(workload))
            pipeline_deployment = await self.phase("pipeline", lambda: self.pipeline(workload))
            await self.phase("latency", lambda: self.latency(pipeline_deployment))
            await self.phase("scaleout", lambda: self.scaleout(workload))
            await self.phase("state", self.state)
        finally:
            for deployment in self.live:
                await deployment.close()

    async def phase(self, name: str, body: Callable[[], Any]) -> Any:
        if name not in self.sections:
            return None
        self.say(f"{name}:")
        started, load, before = time.monotonic(), MachineLoad(), list(self.live)
        try:
            found = await body()
            if isinstance(self.results.get(name), dict):
                self.results[name]["machine_load"] = load.done()
            return found
        except Exception as exc:
            self.errors[name] = str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"
            self.say(f"  {name} not measured: {self.errors[name]}")
            # Its workers must not run on through the next phases.
            for deployment in [d for d in self.live if d not in before]:
                await self.retire(deployment)
        finally:
            self.say(f"  ({time.monotonic() - started:.1f}s)")
        return None

    def deployment(self, phase: str) -> Deployment:
        found = Deployment(self, phase)
        self.live.append(found)
        return found

    async def retire(self, deployment: Deployment) -> None:
        await deployment.close()
        with contextlib.suppress(ValueError):
            self.live.remove(deployment)

    # ---- core ----

    def core_figures(self, workload: Workload) -> dict[str, Any]:
        seconds = max(workload.core_seconds, 1e-9)
        return {
            "claims": workload.claims,
            "eob_events": len(workload.eobs),
            "outcomes": workload.expected,
            "seconds": round(seconds, 4),
            "claims_per_s": workload.claims / seconds,
            "events_per_s": len(workload.eobs) / seconds,
            "outcomes_per_s": workload.expected / seconds,
            "cpu_seconds": round(workload.core_cpu_seconds, 4),
            "claims_per_cpu_s": workload.claims / max(workload.core_cpu_seconds, 1e-9),
        }

    # ---- baseline ----

    async def baseline(self, workload: Workload) -> None:
        from cobstream.kafka_io import producer
        from streams.topics import CLAIM_EVENTS, EOB_TOPICS

        deployment = self.deployment("baseline")
        settings = deployment.settings
        await deployment.create_topics()
        # The same messages, several times over when they are few: a passthrough of 10,000
        # messages lasts a fraction of a second, too short to time.
        rounds = max(1, math.ceil(self.sizes.baseline_messages / len(workload.eobs)))
        await produce(settings, workload.eobs * rounds)
        total, out = len(workload.eobs) * rounds, settings.topic(CLAIM_EVENTS)
        source = consumer(
            settings,
            *(settings.topic(t) for t in EOB_TOPICS),
            group_id=f"{self.run_id}-baseline",
            auto_offset_reset="earliest",
            enable_auto_commit=True,
        )
        sink = producer(settings)
        await source.start()
        await sink.start()
        count, changed = 0, time.monotonic()
        try:
            while count < total:
                batch = await source.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        await sink.send(out, key=record.key, value=record.value)
                    count += len(records)
                    changed = time.monotonic()
                if time.monotonic() - changed > self.sizes.stall:
                    raise BenchError(f"passthrough stalled at {count} of {total} messages")
            await sink.flush()
        finally:
            await sink.stop()
            await source.stop()
        first = await edge_time(settings, [out], first=True)
        last = await edge_time(settings, [out], first=False)
        if first is None or last is None:
            raise BenchError("the passthrough topic is empty")
        seconds = max(last - first, 0.001)
        self.results["baseline"] = {
            "messages": total,
            "rounds_of_the_workload": rounds,
            "partitions": settings.partitions,
            "seconds": round(seconds, 3),
            "messages_per_s": total / seconds,
        }
        self.say(f"  {total / seconds:,.0f} messages/s")
        await self.retire(deployment)

    # ---- pipeline and scale-out: draining a backlog ----

    async def drain_backlog(self, workload: Workload, phase: str, workers: int, *, keep: bool = False) -> Any:
        from streams.topics import CLAIM_EVENTS, DEAD_LETTER, OUTPUT_TOPICS

        deployment = self.deployment(phase)
        settings = deployment.settings
        await deployment.create_topics()
        await produce(settings, workload.reference + workload.eobs)
        started = [deployment.worker(f"w{n + 1}").start() for n in range(workers)]
        sampler = CpuSampler(started)
        ready = [await w.wait(READY, 120) - w.spawned for w in started]
        profiler = None
        if self.profile_dir is not None and phase == "pipeline":
            profiler = Profiler(self.profile_dir, started[0].pid, "worker-pipeline")
        try:
            arrived = await deployment.drain(list(OUTPUT_TOPICS), workload.expected, f"{phase} outcomes")
        finally:
            profile = profiler.stop() if profiler else None
            await sampler.stop()
        first = await edge_time(settings, [settings.topic(CLAIM_EVENTS)], first=True)
        last = await edge_time(settings, [settings.topic(t) for t in OUTPUT_TOPICS], first=False)
        if first is None or last is None:
            raise BenchError("no claim events or no outcomes on the topics")
        async with Offsets(settings) as offsets:
            letters = await offsets.total([settings.topic(DEAD_LETTER)])
        seconds = max(last - first, 0.001)
        cpu = sampler.at(last) - sampler.at(first)
        result = {
            "workers": workers,
            "claims": workload.claims,
            "eob_events": len(workload.eobs),
            "outcomes_expected": workload.expected,
            "outcomes_arrived": arrived,
            "dead_letters": letters,
            "partitions": settings.partitions,
            "seconds": round(seconds, 3),
            "events_per_s": len(workload.eobs) / seconds,
            "claims_per_s": workload.claims / seconds,
            "outcomes_per_s": arrived / seconds,
            # CPU the workers spent from the first input to the last outcome; a share near 1 per
            # worker means each had a core to itself and was busy all along.
            "worker_cpu_s": round(cpu, 2),
            "events_per_worker_cpu_s": len(workload.eobs) / cpu if cpu > 0 else None,
            "worker_cpu_share": round(cpu / seconds / workers, 3),
            "worker_start_to_ready_s": [round(r, 2) for r in ready],
            "consumer_generations": max(w.generations() for w in started),
            "worker_peak_rss_mib": [round(w.peak_rss() / MIB, 1) for w in started],
        }
        if profile is not None:
            result["profiled"] = True
            self.results["profile"] = {"worker": "pipeline", "folder": str(self.profile_dir), **profile}
        if not keep:
            await self.retire(deployment)
        return result, deployment

    async def pipeline(self, workload: Workload) -> Deployment:
        result, deployment = await self.drain_backlog(workload, "pipeline", 1, keep="latency" in self.sections)
        baseline = self.results.get("baseline")
        if baseline:
            result["baseline_messages_per_s"] = baseline["messages_per_s"]
            result["ratio_to_baseline"] = result["events_per_s"] / baseline["messages_per_s"]
        self.results["pipeline"] = result
        self.say(f"  {result['events_per_s']:,.0f} EOB events/s ({result['claims_per_s']:,.0f} claims/s)")
        return deployment

    async def scaleout(self, workload: Workload) -> None:
        n = self.sizes.scaleout_workers
        one = self.results.get("pipeline")
        if one is None:
            one, _ = await self.drain_backlog(workload, "scaleout-1", 1)
        many, _ = await self.drain_backlog(workload, f"scaleout-{n}", n)
        self.results["scaleout"] = {
            "workers": n,
            "one_worker_events_per_s": one["events_per_s"],
            "events_per_s": many["events_per_s"],
            "speedup": many["events_per_s"] / one["events_per_s"],
            "worker_cpu_s": many["worker_cpu_s"],
            "events_per_worker_cpu_s": many["events_per_worker_cpu_s"],
            "worker_cpu_share": many["worker_cpu_share"],
            "seconds": many["seconds"],
            "eob_events": many["eob_events"],
            "consumer_generations": many["consumer_generations"],
            "worker_start_to_ready_s": many["worker_start_to_ready_s"],
        }
        self.say(
            f"  {n} workers: {many['events_per_s']:,.0f} EOB events/s (x{self.results['scaleout']['speedup']:.2f})"
        )

    # ---- latency ----

    async def latency(self, deployment: Deployment | None) -> None:
        try:
            await self._latency(deployment)
        finally:
            if deployment is not None:
                await self.retire(deployment)

    async def _latency(self, deployment: Deployment | None) -> None:
        rate = self.sizes.latency_rate
        if rate is None:
            pipeline = self.results.get("pipeline")
            if pipeline is None:
                raise BenchError("needs the pipeline phase in the same run, or --latency-rate")
            rate = pipeline["events_per_s"] / 2
        if deployment is None or not deployment.workers:
            from cobstream.traffic import Traffic

            deployment = self.deployment("latency")
            await deployment.create_topics()
            reference = Traffic(0).reference()
            await produce(deployment.settings, ((r["topic"], r["key"], orjson.dumps(r["value"])) for r in reference))
            await deployment.worker("w1").start().wait(READY, 120)
        probe = LatencyProbe(deployment, rate, self.sizes)
        await probe.offer()
        result = probe.summary()
        self.results["latency"] = result
        self.say_latency(result)
        if result["saturated"]:
            # The figures at half the maximum grow with the run; also measure where it keeps up.
            lower = LatencyProbe(deployment, rate / 2, self.sizes, seed=10)
            await lower.offer()
            result["at_half_that_load"] = lower.summary()
            self.say_latency(result["at_half_that_load"])

    def say_latency(self, result: dict[str, Any]) -> None:
        note = f"; NOT STEADY, rising {result['trend_ms_per_s']:,.0f} ms/s" if result["saturated"] else ""
        self.say(
            f"  at {result['offered_events_per_s']:,.0f} EOB/s: p50 {result['p50_ms']:.1f} ms, "
            f"p95 {result['p95_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms ({result['samples']} samples{note})"
        )

    # ---- state at scale ----

    async def state(self) -> None:
        from cobstream.traffic import Traffic
        from streams.preflight import changelog_topic
        from streams.topics import CLAIM_EVENTS, EXPECTED

        m = self.sizes.state_claims
        deployment = self.deployment("state")
        settings = deployment.settings
        await deployment.create_topics()
        now = datetime.now(UTC)
        traffic = Traffic(m, seed=9, start=now - timedelta(days=2))
        await produce(settings, ((r["topic"], r["key"], orjson.dumps(r["value"])) for r in traffic.reference()))
        self.say(f"  publishing {m:,} primaries (secondaries never come: every claim stays open)")
        await produce(settings, open_claims(traffic, m, now))

        ingest = deployment.worker("ingest").start()
        await ingest.wait(RECOVERED, 120)
        empty_start = (ingest.marker(RECOVERED) or time.time()) - ingest.spawned
        await asyncio.sleep(1.0)
        empty_rss = ingest.rss()
        halfway: dict[str, int] = {}

        def sample(total: int) -> None:
            if not halfway and total >= m // 2:
                halfway.update(claims=total, rss=ingest.rss())

        await deployment.drain([EXPECTED], m, "open claims", on_progress=sample)
        first = await edge_time(settings, [settings.topic(CLAIM_EVENTS)], first=True)
        last = await edge_time(settings, [settings.topic(EXPECTED)], first=False)
        await asyncio.sleep(self.sizes.settle)
        loaded_rss, loaded_peak = ingest.rss(), ingest.peak_rss()
        ingest_disk = disk_usage(ingest.state)
        ingest.stop()
        async with Offsets(settings) as offsets:
            changelog = await offsets.total([changelog_topic(settings)])

        # A timer tick every 5 s instead of 60: its first tick after recovery rebuilds the
        # in-memory deadline schedule from the whole table, as every worker does once.
        fresh = deployment.worker("fresh", COBSTREAM_TIMER_INTERVAL="5").start()
        await fresh.wait(RECOVERED, max(300.0, m / 1000))
        recovered_rss = fresh.rss()
        recovered_at = fresh.marker(RECOVERED) or time.time()
        restoring, done_reading = fresh.marker(RESTORING), fresh.marker(DONE_READING)
        rebuilt_at = await fresh.wait(REBUILT, max(120.0, m / 500))
        await asyncio.sleep(self.sizes.settle)
        fresh_rss, fresh_peak = fresh.rss(), fresh.peak_rss()
        fresh_disk = disk_usage(fresh.state)
        recovery = recovered_at - fresh.spawned
        rss = max(loaded_rss, fresh_rss)
        # Linear from an empty worker: overstates what grows in steps and stops (RocksDB
        # memtables); a run with --state-claims 1000000 measures instead.
        per_claim = max(0.0, (rss - empty_rss) / m)
        scale = MILLION / m
        result = {
            "open_claims": m,
            "changelog_records": changelog,
            "ingest_seconds": round(last - first, 3) if first and last else None,
            "ingest_claims_per_s": m / max(last - first, 0.001) if first and last else None,
            "empty_worker_rss_mib": empty_rss / MIB,
            "rss_mib": rss / MIB,
            "ingesting_worker_rss_mib": loaded_rss / MIB,
            "ingesting_worker_peak_rss_mib": loaded_peak / MIB,
            "ingesting_worker_rss_at_half_mib": halfway.get("rss", 0) / MIB,
            "recovered_worker_rss_mib": fresh_rss / MIB,
            "recovered_worker_rss_before_schedule_rebuild_mib": recovered_rss / MIB,
            "recovered_worker_peak_rss_mib": fresh_peak / MIB,
            "schedule_rebuilt_after_recovery_s": round(rebuilt_at - recovered_at, 3),
            "rss_bytes_per_open_claim": per_claim,
            "disk_mib": max(ingest_disk, fresh_disk) / MIB,
            "ingesting_worker_disk_mib": ingest_disk / MIB,
            "recovered_worker_disk_mib": fresh_disk / MIB,
            "empty_worker_start_s": round(empty_start, 3),
            "recovery_s": round(recovery, 3),
            "changelog_read_s": round(done_reading - restoring, 3) if restoring and done_reading else None,
            "extrapolated": m != MILLION,
            "rss_mib_per_million": (empty_rss + per_claim * MILLION) / MIB,
            "disk_mib_per_million": max(ingest_disk, fresh_disk) * scale / MIB,
            "recovery_s_per_million": recovery_per_million(recovery, empty_start, restoring, done_reading, scale),
        }
        self.results["state"] = result
        label = "extrapolated" if m != MILLION else "measured"
        self.say(
            f"  {m:,} open claims: RSS {result['rss_mib']:,.0f} MiB, disk {result['disk_mib']:,.0f} MiB, "
            f"recovery {recovery:.1f}s; per million ({label}): RSS {result['rss_mib_per_million']:,.0f} MiB, "
            f"recovery {result['recovery_s_per_million']:.1f}s"
        )
        await self.retire(deployment)


class LatencyProbe:
    """Offers claims at a fixed rate (open loop: each send at its scheduled time, whatever came
    back) and times each secondary EOB from its send to its billing.ready being consumed."""

    def __init__(self, deployment: Deployment, rate: float, sizes: Sizes, seed: int = 8) -> None:
        from cobstream.traffic import Traffic

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

    async def offer(self) -> None:
        from cobstream.kafka_io import producer
        from streams import topics

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
        finally:
            done.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reading, 10)
            await sink.stop()
            await reader.stop()

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
                    if topic == CLAIM_EVENTS_TOPIC:
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
        """p50/p99 of each leg, for the steady secondaries: sent -> re-keyed by intake ->
        billing.ready published by the claims agent -> consumed by the bench."""
        legs: dict[str, list[float]] = {"intake_ms": [], "claims_agent_ms": [], "delivery_ms": []}
        for key, sent in steady.items():
            if key in self.rekeyed and key in self.published and key in self.arrived:
                legs["intake_ms"].append((self.rekeyed[key] - sent) * 1000)
                legs["claims_agent_ms"].append((self.published[key] - self.rekeyed[key]) * 1000)
                legs["delivery_ms"].append((self.arrived[key][0] - self.published[key]) * 1000)
        found: dict[str, Any] = {"samples": len(legs["intake_ms"])}
        for name, values in legs.items():
            if values:
                values.sort()
                found[name] = {"p50": round(percentile(values, 50), 1), "p99": round(percentile(values, 99), 1)}
        return found

    def summary(self) -> dict[str, Any]:
        from streams.topics import DISCREPANCY, READY

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
        # The worker's first timer tick decodes its whole table once (agents.claims): a stall.
        rebuilt = [w.marker(REBUILT) for w in self.deployment.workers]
        rebuilt_at = [round(t - self.began, 1) for t in rebuilt if t is not None]
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
            "hops": self.hops(steady),
            "windows": windows,
        }


def recovery_per_million(
    recovery: float, empty_start: float, restoring: float | None, done_reading: float | None, scale: float
) -> float:
    """The fresh worker's start-up as it was, with its changelog reading scaled to a million
    claims (or, without those log lines, everything beyond an empty worker's start-up)."""
    if restoring is not None and done_reading is not None and done_reading >= restoring:
        reading = done_reading - restoring
        return recovery - reading + reading * scale
    return empty_start + max(0.0, recovery - empty_start) * scale


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


# ---- the report ----------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_mib"] = int(line.split()[1]) // 1024
    for package in ("faust-streaming", "aiokafka", "rocksdict", "pydantic", "orjson"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            info.setdefault("packages", {})[package] = importlib.metadata.version(package)
    return info


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.rstrip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    found: dict[str, Any] = {"commit": commit, "dirty": bool(status) if status is not None else None}
    if status:
        # Workers run the working tree: say which files differ from the commit, and how.
        diff = git("diff", "HEAD") or ""
        found["modified"] = sorted(line[3:] for line in status.splitlines())
        found["diff_sha1"] = hashlib.sha1(diff.encode(), usedforsecurity=False).hexdigest()
    return found


FIGURES: tuple[tuple[str, str, str], ...] = (
    ("baseline.messages_per_s", "baseline: bare aiokafka passthrough", "msg/s"),
    ("pipeline.events_per_s", "pipeline: one worker", "EOB/s"),
    ("pipeline.ratio_to_baseline", "pipeline / baseline", "x"),
    ("pipeline.events_per_worker_cpu_s", "pipeline: per worker CPU-second", "EOB/cpu-s"),
    ("latency.p50_ms", "latency p50 (secondary -> billing.ready){load}", "ms"),
    ("latency.p95_ms", "latency p95", "ms"),
    ("latency.p99_ms", "latency p99{saturated}", "ms"),
    ("latency.at_half_that_load.p50_ms", "latency p50{load}", "ms"),
    ("latency.at_half_that_load.p99_ms", "latency p99{saturated}", "ms"),
    ("core.claims_per_s", "core: engine in-process", "claims/s"),
    ("core.events_per_s", "core: engine in-process", "EOB/s"),
    ("state.rss_mib", "state: worker RSS with {claims} open claims", "MiB"),
    ("state.disk_mib", "state: on-disk state with {claims} open claims", "MiB"),
    ("state.recovery_s", "state: fresh worker recovers {claims} claims", "s"),
    ("state.rss_mib_per_million", "state: RSS with 1,000,000 open claims", "MiB"),
    ("state.disk_mib_per_million", "state: disk with 1,000,000 open claims", "MiB"),
    ("state.recovery_s_per_million", "state: recovery of 1,000,000 claims", "s"),
    ("scaleout.events_per_s", "scale-out: {workers} workers", "EOB/s"),
    ("scaleout.speedup", "scale-out: {workers} workers / one", "x"),
)


def figures(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline figures, each with its unit and, where the issue sets one, its target."""
    out = []
    for key, template, unit in FIGURES:
        *path, name = key.split(".")
        found: Any = results
        for part in path:
            found = found.get(part) if isinstance(found, dict) else None
        if not isinstance(found, dict) or found.get(name) is None:
            continue
        value = found[name]
        label = template.format(
            load=f" at {found['offered_events_per_s']:,.0f} EOB/s" if "offered_events_per_s" in found else "",
            saturated=" (NOT STEADY: rose during the run)" if found.get("saturated") else "",
            claims=f"{found.get('open_claims', 0):,}",
            workers=found.get("workers", "?"),
        )
        target = TARGETS.get(key)
        met = None
        if target is not None:
            op, limit = target
            met = value >= limit if op == ">=" else value < limit
        out.append(
            {
                "id": key,
                "label": label,
                "value": value,
                "unit": unit,
                "target": f"{target[0]} {target[1]:,}" if target else None,
                "met": met,
                "extrapolated": key.endswith("_per_million") and bool(found.get("extrapolated")),
            }
        )
    return out


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(report: dict[str, Any]) -> str:
    machine_info, git = report["machine"], report["git"]
    commit = (git.get("commit") or "unknown")[:10] + (" (dirty)" if git.get("dirty") else "")
    sizes = report["sizes"]
    lines = [
        f"cobstream bench  {report['started_at']}  commit {commit}  {machine_info['nproc']} CPUs  "
        f"Python {machine_info['python']}",
        f"claims {sizes['claims']:,}, state claims {sizes['state_claims']:,}, latency {sizes['seconds_latency']:g}s, "
        f"partitions {sizes['partitions']}, scale-out workers {sizes['scaleout_workers']}",
        "",
        f"{'figure':<66} {'value':>10}  {'unit':<9} {'target':<10} met",
    ]
    for row in report["figures"]:
        label = row["label"] + (" (extrapolated)" if row["extrapolated"] else "")
        met = "-" if row["met"] is None else ("yes" if row["met"] else "no")
        lines.append(f"{label:<66} {_number(row['value']):>10}  {row['unit']:<9} {row['target'] or '':<10} {met}")
    for section, error in report["errors"].items():
        lines.append(f"{section}: NOT MEASURED: {error.splitlines()[0]}")
    busy = [
        f"{section} {found['machine_load']['machine_busy_share'] * 100:.0f}%"
        for section, found in report["results"].items()
        if isinstance(found, dict) and (found.get("machine_load") or {}).get("machine_busy_share") is not None
    ]
    if busy:
        lines += ["", "whole machine busy (all processes, not only the bench's): " + ", ".join(busy)]
    profile = report["results"].get("profile")
    if profile and profile.get("self"):
        lines += ["", f"worker profile (py-spy, {profile['samples']} samples), on CPU by function:"]
        lines += [f"  {row['share'] * 100:5.1f}%  {row['name']}" for row in profile["self"][:15]]
        lines += ["by package:"]
        lines += [f"  {row['share'] * 100:5.1f}%  {row['name']}" for row in profile["self_by_package"][:10]]
    return "\n".join(lines)


def default_json_path(started: datetime) -> Path:
    return Path("bench-results") / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"


def run_bench(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    try:
        sizes = sizes_from(args)
    except BenchError as exc:
        print(f"cobstream bench: {exc}", file=sys.stderr)
        return 2
    sections = args.only or list(SECTIONS)
    bench = Bench(sizes, sections, profile=Path(args.profile) if args.profile else None, keep_topics=args.keep_topics)

    def terminated(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminated)
    # The producer's retries while a new topic gets its leader are expected here, not news.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    fatal = None
    try:
        asyncio.run(bench.run())
    except BenchError as exc:
        fatal = str(exc)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if fatal:
        print(f"cobstream bench: {fatal}", file=sys.stderr)
        shutil.rmtree(bench.tmp, ignore_errors=True)
        return 2
    report = {
        "schema": 1,
        "run_id": bench.run_id,
        "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "git": git_commit(),
        "machine": machine(),
        "brokers": bench.base_settings.brokers,
        "store": bench.base_settings.store,
        "processing_guarantee": bench.base_settings.processing_guarantee,
        "smoke": bool(args.smoke),
        "note": args.note,
        "sections": sections,
        "sizes": dataclasses.asdict(sizes),
        "results": bench.results,
        "figures": figures(bench.results),
        "errors": bench.errors,
    }
    print(table(report))
    path = Path(args.json_path) if args.json_path else default_json_path(started)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    print(f"\nresults: {path}", file=sys.stderr)
    if bench.errors:
        print(f"worker logs kept in {bench.tmp}", file=sys.stderr)
    else:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    return 1 if bench.errors else 0
