"""The bench itself: one method per phase (core, baseline, faust, faust_table, pipeline, audit,
latency, scaleout, state)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from cobstream.bench.audit_speed import run_audit
from cobstream.bench.kafka import Offsets, broker_answers, consumer, edge_time, produce
from cobstream.bench.latency import LatencyProbe
from cobstream.bench.options import FAUST_PHASES, IN_PROCESS, MIB, MILLION, BenchError, Sizes
from cobstream.bench.profiling import Profiler
from cobstream.bench.remittance_speed import measure_837, measure_fhir, measure_x12
from cobstream.bench.replay_speed import CACHE as REPLAY_CACHE
from cobstream.bench.replay_speed import fit, measure_replay
from cobstream.bench.traffic import Traffic
from cobstream.bench.workers import (
    DONE_READING,
    FAUST_APP,
    READY,
    RECOVERED,
    RESTORING,
    CpuSampler,
    Deployment,
    MachineLoad,
    disk_usage,
)
from cobstream.bench.workload import Workload, build_workload, open_claims, run_core
from cobstream.shared.kafka_io import producer
from models.contract.topics import CLAIM_EVENTS, DEAD_LETTER, EOB_TOPICS, EXPECTED, OUTPUT_TOPICS
from streams.preflight import changelog_topic
from streams.settings import Settings


class Bench:
    def __init__(self, sizes: Sizes, sections: list[str], *, profile: Path | None, keep_topics: bool) -> None:
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
        kafka = [s for s in self.sections if s not in IN_PROCESS]
        if kafka:
            problem = await broker_answers(self.base_settings)
            if problem:
                raise BenchError(
                    f"no broker at {self.base_settings.brokers} ({problem}); start one: scripts/kafka start"
                )
        needs_traffic = any(
            s in self.sections for s in ("core", "baseline", *FAUST_PHASES, "pipeline", "scaleout", "rekeyed")
        )
        workload = None
        if needs_traffic:
            self.say(f"generating {self.sizes.claims:,} claims of traffic")
            workload = build_workload(self.sizes.claims, now)
            run_core(workload)
            if "core" in self.sections:
                self.results["core"] = self.core_figures(workload)
                self.say(f"core: {self.results['core']['claims_per_s']:,.0f} claims/s")
        if "convert" in self.sections:
            self.results["convert"] = self.conversion_figures()
        if "replay" in self.sections:
            self.results["replay"] = self.replay_figures()
        try:
            await self.phase("baseline", lambda: self.baseline(workload))
            for name in FAUST_PHASES:
                await self.phase(name, lambda name=name: self.faust_passthrough(workload, name))
            pipeline_deployment = await self.phase("pipeline", lambda: self.pipeline(workload))
            await self.phase("audit", lambda: self.audit(pipeline_deployment))
            await self.phase("latency", lambda: self.latency(pipeline_deployment))
            await self.phase("scaleout", lambda: self.scaleout(workload))
            await self.phase("rekeyed", lambda: self.rekeyed(workload))
            await self.phase("state", self.state)
        finally:
            for deployment in self.live:
                await deployment.close()

    def conversion_figures(self) -> dict[str, Any]:
        """Remittance files to EOB events and 837 claims to submissions in-process (`cobstream convert`,
        the remittance.x12 intake)."""

        x12, fhir = measure_x12(self.sizes.claims), measure_fhir(self.sizes.claims)
        claims = measure_837(self.sizes.claims)
        self.say(
            f"convert: X12 835 {x12['claims_per_second']:,} claims/s, X12 837P {claims['claims_per_second']:,} "
            f"claims/s, FHIR {fhir['claims_per_second']:,} EOB/s"
        )
        return {
            "x12_claims_per_s": x12["claims_per_second"],
            "x12_837_claims_per_s": claims["claims_per_second"],
            "fhir_eobs_per_s": fhir["claims_per_second"],
            "x12": x12,
            "x12_837": claims,
        }

    def replay_figures(self) -> dict[str, Any]:
        """`cobstream replay` over the generated traffic as a file (cobstream.bench.replay_speed)."""
        self.say(
            f"replay: generating (once, cached in {REPLAY_CACHE}) and replaying {self.sizes.replay_claims:,} claims"
        )
        found = measure_replay(self.sizes.replay_claims)
        label = "extrapolated" if found["extrapolated"] else "measured"
        self.say(
            f"replay: {found['claims_per_s']:,.0f} claims/s, peak RSS {found['peak_rss_mib']:,.0f} MiB; "
            f"a million ({label}): {found['seconds_per_million']:,.0f} s"
        )
        return found

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

    # ---- Faust's own ceiling: the passthroughs, with the worker's settings ----

    async def faust_passthrough(self, workload: Workload, phase: str) -> None:
        """A minimal Faust app (`cobstream.bench.faust_app`, built by the worker's `create_app`)
        passes the pipeline's backlog through to `claim-events`; with `faust_table` it also
        writes each message to a table like the worker's claims table."""

        deployment = self.deployment(phase)
        settings = deployment.settings
        await deployment.create_topics()
        await produce(settings, workload.reference + workload.eobs)  # the pipeline's backlog
        total, out = len(workload.eobs), [settings.topic(CLAIM_EVENTS)]
        app = deployment.worker("app", command=(FAUST_APP, FAUST_PHASES[phase])).start()
        sampler = CpuSampler([app])
        profiler = None
        try:
            ready = await app.wait(READY, 120) - app.spawned
            if self.profile_dir is not None and phase == "faust_table":
                profiler = Profiler(self.profile_dir, app.pid, "app-faust_table")
            await deployment.drain([CLAIM_EVENTS], total, f"{phase} messages")
            peak = app.peak_rss()
        finally:
            profile = profiler.stop() if profiler else None
            await sampler.stop()
        if profile is not None:
            self.results["profile_faust_table"] = {"app": phase, "folder": str(self.profile_dir), **profile}
        first = await edge_time(settings, out, first=True)
        last = await edge_time(settings, out, first=False)
        if first is None or last is None:
            raise BenchError("the passthrough topic is empty")
        seconds = max(last - first, 0.001)
        cpu = sampler.at(last) - sampler.at(first)
        result = {
            "messages": total,
            "table": phase == "faust_table",
            "partitions": settings.partitions,
            "seconds": round(seconds, 3),
            "messages_per_s": total / seconds,
            "app_cpu_s": round(cpu, 2),
            "messages_per_app_cpu_s": total / cpu if cpu > 0 else None,
            "app_cpu_share": round(cpu / seconds, 3),
            "app_start_to_ready_s": round(ready, 2),
            "app_peak_rss_mib": round(peak / MIB, 1),
            "app_rss_mib": sampler.rss_between(first, last),
        }
        self.results[phase] = result
        self.say(f"  {result['messages_per_s']:,.0f} messages/s, peak RSS {result['app_peak_rss_mib']:,.0f} MiB")
        await self.retire(deployment)

    # ---- pipeline and scale-out: draining a backlog ----

    async def drain_backlog(
        self, workload: Workload, phase: str, workers: int, *, keep: bool = False, **env: str
    ) -> Any:
        deployment = self.deployment(phase)
        settings = deployment.settings
        await deployment.create_topics()
        await produce(settings, workload.reference + workload.eobs)
        started = [deployment.worker(f"w{n + 1}", **env).start() for n in range(workers)]
        sampler = CpuSampler(started)
        ready = [await w.wait_serving(120) - w.spawned for w in started]
        profiler = None
        if self.profile_dir is not None and phase == "pipeline":
            profiler = Profiler(self.profile_dir, started[0].pid, "worker-pipeline")
        try:
            arrived = await deployment.drain(list(OUTPUT_TOPICS), workload.expected, f"{phase} outcomes")
            peaks = [w.peak_rss() for w in started]
        finally:
            profile = profiler.stop() if profiler else None
            await sampler.stop()
        first = await first_write(settings)
        last = await edge_time(settings, [settings.topic(t) for t in OUTPUT_TOPICS], first=False)
        if first is None or last is None:
            raise BenchError("no table writes or no outcomes on the topics")
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
            "worker_peak_rss_mib": [round(p / MIB, 1) for p in peaks],
            # Summed over the workers, sampled every 0.1 s from the first input to the last outcome.
            "worker_rss_mib": sampler.rss_between(first, last),
        }
        if profile is not None:
            result["profiled"] = True
            self.results["profile"] = {"worker": "pipeline", "folder": str(self.profile_dir), **profile}
        if not keep:
            await self.retire(deployment)
        return result, deployment

    async def pipeline(self, workload: Workload) -> Deployment:
        keep = "latency" in self.sections or "audit" in self.sections
        result, deployment = await self.drain_backlog(workload, "pipeline", 1, keep=keep)
        result["peak_rss_mib"] = result["worker_peak_rss_mib"][0]
        baseline = self.results.get("baseline")
        if baseline:
            result["baseline_messages_per_s"] = baseline["messages_per_s"]
            result["ratio_to_baseline"] = result["events_per_s"] / baseline["messages_per_s"]
        for name in FAUST_PHASES:
            passthrough = self.results.get(name)
            if passthrough:
                result[f"{name}_messages_per_s"] = passthrough["messages_per_s"]
                result[f"ratio_to_{name}"] = result["events_per_s"] / passthrough["messages_per_s"]
        self.results["pipeline"] = result
        self.say(f"  {result['events_per_s']:,.0f} EOB events/s ({result['claims_per_s']:,.0f} claims/s)")
        return deployment

    async def audit(self, deployment: Deployment | None) -> None:
        """`cobstream audit` over what the pipeline phase's worker left on its topics (every
        claim of the traffic, its EOBs and its outcomes), the worker idle meanwhile."""
        try:
            pipeline = self.results.get("pipeline")
            if deployment is None or pipeline is None:
                raise BenchError("needs the pipeline phase in the same run")
            result = await asyncio.to_thread(run_audit, deployment.env(), pipeline["claims"])
        finally:
            if deployment is not None and "latency" not in self.sections:
                await self.retire(deployment)
        self.results["audit"] = result
        counts = result["counts"]
        self.say(
            f"  {result['claims_per_s']:,.0f} claims/s ({result['seconds']:.1f} s, {result['jobs']} jobs, "
            f"exit {result['exit_status']}, "
            f"{counts['taken_in']:,} taken in, {counts['problems']} problems), largest process's peak "
            f"RSS {result['peak_rss_mib']:,.0f} MiB; a million (proportional): {result['seconds_per_million']:,.0f} s"
        )

    async def rekeyed(self, workload: Workload) -> None:
        """The pipeline again with every EOB re-keyed through claim-events first
        (COBSTREAM_INPUT_PATH=claim-events, the path before the direct one): the direct path's
        gain, as a ratio within one run."""
        result, _ = await self.drain_backlog(workload, "rekeyed", 1, COBSTREAM_INPUT_PATH="claim-events")
        direct = self.results.get("pipeline")
        if direct:
            result["direct_events_per_s"] = direct["events_per_s"]
            result["direct_speedup"] = direct["events_per_s"] / result["events_per_s"]
        self.results["rekeyed"] = result
        self.say(f"  {result['events_per_s']:,.0f} EOB events/s with every EOB through claim-events")

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
            deployment = self.deployment("latency")
            await deployment.create_topics()
            reference = Traffic(0).reference()
            await produce(deployment.settings, ((r["topic"], r["key"], orjson.dumps(r["value"])) for r in reference))
            await deployment.worker("w1").start().wait_serving(120)
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
        first = await first_write(settings)
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
        rebuilt_at = await fresh.wait_rebuilt(max(120.0, m / 500))
        await asyncio.sleep(self.sizes.settle)
        fresh_rss, fresh_peak = fresh.rss(), fresh.peak_rss()
        fresh_disk = disk_usage(fresh.state)
        recovery = recovered_at - fresh.spawned
        rss = max(loaded_rss, fresh_rss)
        # A fixed part and a part per claim, fitted through the ingesting worker at half and at
        # all of its claims: from an empty worker instead, what grows in steps and stops (RocksDB
        # memtables, the allocator's arenas) counted as per claim and overstated a million 2 times.
        fixed, per_claim = fit_rss(halfway.get("claims", 0), halfway.get("rss", 0), m, loaded_rss, empty_rss)
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
            "rss_fixed_mib": fixed / MIB,
            "disk_mib": max(ingest_disk, fresh_disk) / MIB,
            "ingesting_worker_disk_mib": ingest_disk / MIB,
            "recovered_worker_disk_mib": fresh_disk / MIB,
            "empty_worker_start_s": round(empty_start, 3),
            "recovery_s": round(recovery, 3),
            "changelog_read_s": round(done_reading - restoring, 3) if restoring and done_reading else None,
            "extrapolated": m != MILLION,
            "rss_mib_per_million": rss / MIB if m == MILLION else (fixed + per_claim * MILLION) / MIB,
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


def fit_rss(half_claims: int, half_rss: float, claims: int, rss: float, empty_rss: float) -> tuple[float, float]:
    """(fixed bytes, bytes per claim) of the line through the ingesting worker's RSS at half and at
    all of its claims; from the empty worker when there is no half-way sample (a tiny run)."""
    if half_claims and half_rss and claims > half_claims:
        fixed, per_claim = fit(half_rss, rss, half_claims, claims)
        return (fixed, per_claim) if per_claim >= 0 else (rss, 0.0)
    return empty_rss, max(0.0, (rss - empty_rss) / claims)


def recovery_per_million(
    recovery: float, empty_start: float, restoring: float | None, done_reading: float | None, scale: float
) -> float:
    """The fresh worker's start-up as it was, with its changelog reading scaled to a million
    claims (or, without those log lines, everything beyond an empty worker's start-up)."""
    if restoring is not None and done_reading is not None and done_reading >= restoring:
        reading = done_reading - restoring
        return recovery - reading + reading * scale
    return empty_start + max(0.0, recovery - empty_start) * scale


async def first_write(settings: Settings) -> float | None:
    """When the workers started on their input: the first record they wrote (a claim event
    re-keyed, a claims-table write or an outcome; on the direct input path there may be no
    claim event at all), as its CreateTime."""
    written = [CLAIM_EVENTS, *OUTPUT_TOPICS]
    return await edge_time(settings, [*map(settings.topic, written), changelog_topic(settings)], first=True)
