"""`cobstream worker` processes started by the bench, the load on the machine, and one phase's deployment."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from cobstream.bench.kafka import Offsets, delete_topics, wait_for_leaders
from cobstream.bench.options import MIB, ROOT, BenchError, Sizes
from cobstream.shared.processes import free_port, stop_process
from cobstream.shared.progress import bar
from streams.settings import Settings
from streams.topics import create_topics, topic_specs

# What a `cobstream worker` says on /metrics (streams/metrics.py): whether it serves its claims,
# and when its deadline index was rebuilt from the table after an assignment (0 until then).
SERVING = "cobstream_worker_serving"
REBUILT = "cobstream_deadline_index_rebuilt_timestamp_seconds"
GC_LONGEST = "cobstream_gc_longest_pause_seconds"
LOOP_LONGEST = "cobstream_event_loop_longest_lag_seconds"
GC_PAUSE = "cobstream_gc_pause_seconds"  # histograms: their _count and _bucket samples
LOOP_LAG = "cobstream_event_loop_lag_seconds"
# What Faust logs, and when: its own start (the bench's Faust passthroughs have no /metrics) and
# recovery steps, which no metric of ours times.
READY = "[^Worker]: Ready"
RECOVERED = "]: Worker ready"  # the Recovery service, once the table is restored and streams resume
RESTORING = "Restoring state from changelog topics"
DONE_READING = "Done reading from changelog topics"
GENERATION = re.compile(r"Successfully synced group \S+ with generation (\d+)")
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def find_sample(samples: list[Any], name: str, **labels: str) -> float | None:
    """The value of the sample of that name and those labels, or None."""
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return None


def log_time(line: str) -> float | None:
    found = LOG_TIME.match(line)
    if not found:
        return None
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as logged


WORKER = ("cobstream.cli", "worker")  # the module a process runs, and its arguments
FAUST_APP = "cobstream.bench.faust_app"  # the passthroughs of the faust and faust_table phases


class Worker:
    """One `cobstream worker` process (or another Faust app: the bench's passthroughs) with its
    own state folder, web port and log."""

    def __init__(
        self, name: str, env: dict[str, str], state: Path, log: Path, command: tuple[str, ...] = WORKER
    ) -> None:
        self.name, self.env, self.state, self.log, self.command = name, env, state, log, command
        self.process: subprocess.Popen | None = None
        self.spawned = 0.0

    def start(self) -> Worker:
        self.spawned = time.time()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *self.command],
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

    async def metric(self, name: str, **labels: str) -> float | None:
        """A sample of the worker's /metrics page, with these labels (None when the page or the
        sample is not there)."""
        return find_sample(await self.samples(), name, **labels)

    async def samples(self) -> list[Any]:
        """Every sample of one scrape of the worker's /metrics page (none when it does not answer)."""
        url = f"http://127.0.0.1:{self.env['COBSTREAM_WEB_PORT']}/metrics"
        try:
            async with aiohttp.ClientSession() as session, session.get(url, timeout=aiohttp.ClientTimeout(2)) as reply:
                text = await reply.text()
        except (aiohttp.ClientError, TimeoutError):
            return []
        return [sample for family in text_string_to_metric_families(text) for sample in family.samples]

    async def wait_serving(self, timeout: float) -> float:
        """When the worker's /metrics first said it serves its claims, waiting for it."""
        deadline = time.monotonic() + timeout
        while (await self.metric(SERVING)) != 1:
            self.check()
            if time.monotonic() > deadline:
                raise BenchError(f"worker {self.name} did not serve its claims within {timeout:.0f}s (log {self.log})")
            await asyncio.sleep(0.05)
        return time.time()

    async def wait_rebuilt(self, timeout: float) -> float:
        """When the worker rebuilt its deadline index (its /metrics says so), waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.metric(REBUILT)
            if found:
                return found
            self.check()
            if time.monotonic() > deadline:
                raise BenchError(f"worker {self.name} did not rebuild its deadline index within {timeout:.0f}s")
            await asyncio.sleep(0.1)

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

    def rss_or_zero(self) -> int:
        """VmRSS, or 0 when the process is gone (a sampler must not fail on that)."""
        try:
            return self.rss()
        except (OSError, BenchError):
            return 0

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
    between two instants known only afterwards (from record timestamps) can be read off; and
    their resident memory (summed over the workers) at the same instants."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self.samples: list[tuple[float, float]] = []
        self.rss_samples: list[tuple[float, int]] = []
        self.task = asyncio.create_task(self._run())

    def _sample(self) -> None:
        now = time.time()
        self.samples.append((now, sum(w.cpu_seconds() for w in self.workers)))
        self.rss_samples.append((now, sum(w.rss_or_zero() for w in self.workers)))

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self._sample()

    def rss_between(self, first: float, last: float) -> dict[str, float]:
        """The workers' RSS (MiB) sampled from `first` to `last`: its peak, its median and its
        value at the end (the samples nearest those instants when none falls between)."""
        inside = [rss for when, rss in self.rss_samples if first <= when <= last and rss > 0]
        if not inside:
            inside = [min(self.rss_samples, key=lambda s: abs(s[0] - last))[1]] if self.rss_samples else [0]
        ordered = sorted(inside)
        return {
            "peak": round(ordered[-1] / MIB, 1),
            "median": round(ordered[len(ordered) // 2] / MIB, 1),
            "end": round(inside[-1] / MIB, 1),
        }

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


class Bench(Protocol):
    """What a deployment uses of the run (`cobstream.bench.phases.Bench`), named here so that this
    module does not import the phases that import it."""

    run_id: str
    base_settings: Settings
    sizes: Sizes
    tmp: Path
    keep_topics: bool

    def say(self, text: str) -> None: ...


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
        await create_topics(self.settings)
        await wait_for_leaders(self.settings, [self.settings.topic(s.name) for s in topic_specs(self.settings)])

    def worker(self, name: str, *, command: tuple[str, ...] = WORKER, **env_extra: str) -> Worker:
        folder = self.bench.tmp / f"{self.phase}-{name}"
        env = self.env(
            **{
                "COBSTREAM_STATE_DIR": str(folder / "state"),
                "COBSTREAM_WEB_PORT": str(free_port()),
                # info: the worker logs "Ready" and its recovery steps (nothing per message).
                "COBSTREAM_LOG_LEVEL": "info",
                "COBSTREAM_TIMER_INTERVAL": "60",
                **env_extra,  # a phase's own settings win
            }
        )
        folder.mkdir(parents=True, exist_ok=True)
        worker = Worker(f"{self.phase}-{name}", env, folder / "state", folder / "worker.log", command)
        self.workers.append(worker)
        return worker

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a cobstream process on this deployment's topics."""
        return {
            **os.environ,
            "COBSTREAM_BROKERS": self.settings.brokers,
            "COBSTREAM_TOPIC_PREFIX": self.prefix,
            "COBSTREAM_PARTITIONS": str(self.settings.partitions),
            **extra,
        }

    def check(self) -> None:
        for worker in self.workers:
            worker.check()

    async def drain(
        self, topics: list[str], expected: int, label: str, on_progress: Callable[[int], None] | None = None
    ) -> int:
        """Wait until `topics` hold `expected` records and nothing new came for `settle` seconds
        (a bar on a terminal, a line every 10 s in a log)."""
        names = [self.settings.topic(t) for t in topics]
        with bar(f"  {label}", total=expected, unit="msg") as progress:
            return await self._drain(names, expected, label, on_progress, progress)

    async def _drain(
        self, names: list[str], expected: int, label: str, on_progress: Callable[[int], None] | None, progress: Any
    ) -> int:
        sizes = self.bench.sizes
        async with Offsets(self.settings) as offsets:
            last, changed, reported = -1, time.monotonic(), time.monotonic()
            while True:
                total = await offsets.total(names)
                now = time.monotonic()
                if total != last:
                    last, changed = total, now
                    progress.update(total - progress.n)
                    if on_progress is not None:
                        on_progress(total)
                if now - reported >= 10 and progress.disable:  # a log, not a terminal: a line now and then
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
