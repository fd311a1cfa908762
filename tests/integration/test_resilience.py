"""Nothing lost, nothing wrong: SIGKILLed workers, a rebalance, a broker restart.

Each test streams generated traffic (cobstream.traffic) in two phases (reference data and every
primary, then every secondary) so that each claim's history has one order, the order of
`cobstream replay` on the same file. Outcomes must then be exactly the replay's: every one of
them present, nothing else, and any outcome delivered twice identical to its first delivery.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from harness import ROOT, Deployment, Worker, wait_for

from cobstream.engine import Engine
from cobstream.replay import replay_lines
from cobstream.traffic import Traffic
from streams.topics import OUTPUT_TOPICS

pytestmark = pytest.mark.slow

CLAIMS = int(os.environ.get("COBSTREAM_TEST_CRASH_CLAIMS", "20000"))


class Collector:
    """Reads every output topic from the beginning on a thread of its own, while the test
    kills and restarts things."""

    def __init__(self, deployment: Deployment) -> None:
        self.settings = deployment.settings
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        names = {self.settings.topic(t): t for t in OUTPUT_TOPICS}
        consumer = AIOKafkaConsumer(
            *names,
            bootstrap_servers=self.settings.broker_list,
            group_id=None,
            auto_offset_reset="earliest",
            request_timeout_ms=60_000,
            # As a downstream reader should: with exactly_once, aborted writes are not outcomes.
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=300)
                for records in batch.values():
                    self.events += [{"topic": names[r.topic], "value": json.loads(r.value)} for r in records]
        finally:
            await consumer.stop()

    def distinct(self) -> int:
        return len({e["value"].get("event_id") for e in list(self.events)})

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)


def phases(claims: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    traffic = Traffic(claims, seed=11, start=datetime.now(UTC) - timedelta(days=2), secondary_first_share=0.0)
    records = list(traffic.records())

    def lines(topic_prefix: str) -> list[bytes]:
        return [json.dumps(r).encode() + b"\n" for r in records if r["topic"].startswith(topic_prefix)]

    return lines("reference."), lines("eob.primary"), lines("eob.secondary")


def expected_outcomes(lines: list[bytes]) -> dict[str, dict[str, Any]]:
    outcomes = {}
    for emitted in replay_lines(lines, Engine()):
        value = emitted.value.model_dump(mode="json")
        outcomes[value["event_id"]] = {"topic": emitted.topic, "value": value}
    return outcomes


def assert_exactly_the_replay(events: list[dict[str, Any]], expected: dict[str, dict[str, Any]]) -> Counter:
    """Every expected outcome, nothing else, and repeats identical; returns the repeat counts."""
    letters = [e for e in events if e["topic"] == "eob.dead-letter"]
    assert not letters, letters[:2]
    first: dict[str, dict[str, Any]] = {}
    repeats: Counter = Counter()
    for event in events:
        event_id = event["value"]["event_id"]
        if event_id in first:
            assert event == first[event_id], f"outcome {event_id} delivered again with other content"
            repeats[event_id] += 1
        else:
            first[event_id] = event
    unexpected = set(first) - set(expected)
    assert not unexpected, [first[i] for i in list(unexpected)[:2]]
    missing = set(expected) - set(first)
    assert not missing, f"{len(missing)} outcomes never arrived, e.g. {[expected[i] for i in list(missing)[:2]]}"
    for event_id, event in first.items():
        got = {**event["value"], "produced_at": None}
        assert got == {**expected[event_id]["value"], "produced_at": None}, event_id
    return repeats


def kill_randomly(
    deployment: Deployment, worker: Worker, rng: random.Random, collector: Collector, until: int, kills: int
) -> tuple[Worker, int]:
    """SIGKILL the worker `kills` times at random moments while outcomes flow; restart it each
    time (alternately with its RocksDB state and with an empty state folder)."""
    done = 0
    for n in range(kills):
        if collector.distinct() >= until:
            break
        time.sleep(rng.uniform(0.5, 6.0))
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(10)
        done += 1
        worker = deployment.start_worker("crash" if n % 2 == 0 else f"crash-fresh-{n}")
    return worker, done


def stream_two_phases(deployment: Deployment, during: Any) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    reference, primaries, secondaries = phases(CLAIMS)
    expected_a = expected_outcomes(reference + primaries)
    expected = expected_outcomes(reference + primaries + secondaries)
    deployment.env_extra["COBSTREAM_SESSION_TIMEOUT"] = "6"
    deployment.produce(reference)
    collector = Collector(deployment)
    try:
        worker = deployment.start_worker("crash")
        deployment.produce(primaries)
        worker, result_a = during(worker, collector, len(expected_a))
        wait_for(lambda: collector.distinct() >= len(expected_a), 600, "every estimate")
        deployment.produce(secondaries)
        worker, result_b = during(worker, collector, len(expected))
        wait_for(lambda: collector.distinct() >= len(expected), 900, "every outcome")
        time.sleep(5)  # let late repeats arrive, so that they are checked too
    finally:
        collector.close()
    return collector.events, expected, (result_a, result_b)


def test_sigkilled_workers_lose_nothing_and_repeat_exactly(deployment: Deployment) -> None:
    rng = random.Random(2026)
    kills = 0

    def crash(worker: Worker, collector: Collector, until: int) -> tuple[Worker, int]:
        nonlocal kills
        worker, done = kill_randomly(deployment, worker, rng, collector, until, kills=3)
        kills += done
        return worker, done

    events, expected, _ = stream_two_phases(deployment, crash)
    repeats = assert_exactly_the_replay(events, expected)
    print(
        f"\ncrash: {CLAIMS} claims, {len(expected)} outcomes, {kills} SIGKILLs survived, "
        f"{sum(repeats.values())} repeated deliveries (all identical), {len(events)} events read"
    )
    assert kills >= 4


def test_a_second_worker_takes_over_when_the_first_is_killed(deployment: Deployment) -> None:
    def rebalance(worker: Worker, collector: Collector, until: int) -> tuple[Worker, int]:
        wait_for(lambda: collector.distinct() >= until // 3, 600, "a third of the outcomes")
        second = deployment.start_worker(f"second-{len(deployment.workers)}")
        wait_for(lambda: collector.distinct() >= until // 2, 600, "half of the outcomes")
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(10)
        return second, 1

    events, expected, _ = stream_two_phases(deployment, rebalance)
    repeats = assert_exactly_the_replay(events, expected)
    print(f"\nrebalance: {len(expected)} outcomes, {sum(repeats.values())} repeated deliveries (all identical)")


def test_the_worker_rides_out_a_broker_restart(deployment: Deployment) -> None:
    def restart_broker(worker: Worker, collector: Collector, until: int) -> tuple[Worker, int]:
        wait_for(lambda: collector.distinct() >= until // 3, 600, "a third of the outcomes")
        subprocess.run([ROOT / "scripts" / "kafka", "stop"], check=True)
        time.sleep(3)
        subprocess.run([ROOT / "scripts" / "kafka", "start"], check=True)
        return worker, 1

    events, expected, _ = stream_two_phases(deployment, restart_broker)
    repeats = assert_exactly_the_replay(events, expected)
    worker = deployment.workers[-1]
    assert worker.process.poll() is None, worker.text()[-3000:]
    print(f"\nbroker restart: {len(expected)} outcomes, {sum(repeats.values())} repeated deliveries")
