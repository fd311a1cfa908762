"""Integration tests on the real local Apache Kafka broker (`scripts/kafka`, started by
`scripts/test`). Each test gets its own topic prefix, state folder and worker processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from cobstream.bench.traffic import Traffic
from cobstream.engine import Engine
from cobstream.shared.kafka_io import produce_file
from cobstream.shared.processes import free_port, stop_process
from cobstream.shared.replay_format import replay_lines
from models.contract.topics import OUTPUT_TOPICS
from streams.settings import Settings
from streams.topics import create_topics

ROOT = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("COBSTREAM_TEST_BROKER")

pytestmark = pytest.mark.broker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.broker)
            if BROKER is None:
                item.add_marker(pytest.mark.skip(reason="no broker: run scripts/test (it starts scripts/kafka)"))


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> None:
        stop_process(self.process, timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@dataclass
class Deployment:
    """One isolated cobstream environment on the shared broker: a topic prefix and its workers."""

    tmp: Path
    prefix: str = field(default_factory=lambda: f"it-{uuid.uuid4().hex[:10]}.")
    workers: list[Worker] = field(default_factory=list)
    env_extra: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return Settings(brokers=BROKER or "127.0.0.1:9092", topic_prefix=self.prefix)

    def env(self, name: str) -> dict[str, str]:
        return {
            **os.environ,
            "COBSTREAM_BROKERS": self.settings.brokers,
            "COBSTREAM_TOPIC_PREFIX": self.prefix,
            "COBSTREAM_STATE_DIR": str(self.tmp / f"state-{name}"),
            "COBSTREAM_WEB_PORT": str(free_port()),
            "COBSTREAM_TIMER_INTERVAL": "1",
            "COBSTREAM_SESSION_TIMEOUT": "6",
            **self.env_extra,
        }

    def create_topics(self) -> None:
        asyncio.run(create_topics(self.settings))

    def start_worker(
        self, name: str = "w1", wait: bool = True, command: tuple[str, ...] = ("-m", "cobstream.cli", "worker")
    ) -> Worker:
        """A worker process (`command` runs under this Python), once it says Ready unless `wait` is off."""
        log = self.tmp / f"worker-{name}-{len(self.workers)}.log"
        process = subprocess.Popen(
            [sys.executable, *command],
            env=self.env(name),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        worker = Worker(process, log)
        self.workers.append(worker)
        if wait:
            wait_for(
                lambda: "[^Worker]: Ready" in worker.text() or process.poll() is not None, 90, f"worker {name} to start"
            )
            assert process.poll() is None, worker.text()[-3000:]
        return worker

    def produce(self, lines: list[bytes], interval: float = 0.0) -> None:
        asyncio.run(produce_file(self.settings, lines, interval=interval))

    def outputs(self, count: int, timeout: float = 90, settle: float = 3.0) -> list[dict[str, Any]]:
        """Every event on the output topics, once `count` have arrived and `settle` seconds pass
        with nothing new (so that unexpected extra events are seen too)."""
        return asyncio.run(read_outputs(self.settings, count, timeout, settle))

    def audit(self) -> Audited:
        """`cobstream audit --json` on this deployment's topics, as an operator runs it."""
        done = subprocess.run(
            [sys.executable, "-m", "cobstream.cli", "audit", "--json"],
            env=self.env("audit"),
            capture_output=True,
            cwd=ROOT,
            timeout=600,
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr.decode(errors="replace")[-2000:]
        return Audited(done.returncode, json.loads(done.stdout))

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


@dataclass
class Audited:
    """What `cobstream audit` found: its exit status and its JSON report."""

    returncode: int
    report: dict[str, Any]

    def problems(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [f for f in self.report["findings"] if f["problem"] and kind in (None, f["kind"])]

    def line(self) -> str:
        counts = self.report["counts"]
        return (
            f"audit: exit {self.returncode}, {counts['expected']} outcomes expected, {counts['published']} published, "
            f"{len(self.problems())} problems"
        )


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


async def read_outputs(settings: Settings, count: int, timeout: float, settle: float) -> list[dict[str, Any]]:
    names = {settings.topic(t): t for t in OUTPUT_TOPICS}
    consumer = AIOKafkaConsumer(
        *names, bootstrap_servers=settings.broker_list, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    events: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for r in records:
                    events.append(
                        {
                            "topic": names[r.topic],
                            "key": r.key.decode() if r.key else None,
                            "value": json.loads(r.value),
                            "partition": r.partition,
                        }
                    )
                quiet_since = time.monotonic()
            if len(events) >= count and time.monotonic() - quiet_since >= settle:
                break
    finally:
        await consumer.stop()
    return events


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    found = Deployment(tmp_path)
    found.create_topics()
    try:
        yield found
    finally:
        found.stop()


# ---- configuration and security (test_config_security.py) -----------------------------------

# The broker's SASL_PLAINTEXT (SCRAM) listener and its user; scripts/test exports these.
SASL_BROKER = os.environ.get("COBSTREAM_TEST_SASL_BROKER")
SASL_USER = os.environ.get("COBSTREAM_TEST_SASL_USER", "cobstream")
SASL_PASSWORD = os.environ.get("COBSTREAM_TEST_SASL_PASSWORD", "cobstream-secret")


def sasl_env(mechanism: str = "SCRAM-SHA-512", password: str | None = None) -> dict[str, str]:
    """Worker settings for the SASL listener (skips the test when there is none configured)."""
    broker = require_sasl_broker()
    return {
        "COBSTREAM_BROKERS": broker,
        "COBSTREAM_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "COBSTREAM_SASL_MECHANISM": mechanism,
        "COBSTREAM_SASL_USERNAME": SASL_USER,
        "COBSTREAM_SASL_PASSWORD": SASL_PASSWORD if password is None else password,
    }


def require_sasl_broker() -> str:
    """The SASL listener's address: skip without one, fail clearly if it is set but not listening."""
    if SASL_BROKER is None:
        pytest.skip("no SASL listener: set COBSTREAM_TEST_SASL_BROKER (scripts/test starts one on 127.0.0.1:9094)")
    host, _, port = SASL_BROKER.rpartition(":")
    problem = None
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        problem = exc.strerror or str(exc)
    if problem is not None:
        pytest.fail(
            f"COBSTREAM_TEST_SASL_BROKER={SASL_BROKER} does not accept connections ({problem}): the broker was "
            "probably started without KAFKA_SASL_PORT; run `scripts/kafka stop`, then scripts/test again "
            "(it starts the broker with a SASL listener)",
            pytrace=False,
        )
    return SASL_BROKER


@dataclass
class Exited:
    """A worker process that ended by itself: its exit status, output and how long it ran."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_worker_to_exit(deployment: Deployment, name: str = "w1", timeout: float = 30) -> Exited:
    """Run `cobstream worker` for `deployment` (its env and env_extra) and wait for it to exit by
    itself; stdout and stderr are kept apart. A worker still running after `timeout` is killed
    and the test fails."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cobstream.cli", "worker"],
            env=deployment.env(name),
            capture_output=True,
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.stderr or b"").decode(errors="replace")[-2000:]
        raise AssertionError(f"worker {name} still running after {timeout}s; stderr: {output}") from None
    return Exited(
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
        time.monotonic() - started,
    )


def replayed(lines: list[bytes]) -> list[dict[str, Any]]:
    return [
        {"topic": e.topic, "key": e.key, "value": e.value.model_dump(mode="json")}
        for e in replay_lines(lines, Engine(), datetime.now(UTC))
    ]


def comparable(events: list[dict[str, Any]]) -> Counter:
    """Events without what only says when or where they were written (times, partition, offset)."""
    out = Counter()
    for e in events:
        value = dict(e["value"])
        for name in ("produced_at", "received_at", "partition", "offset"):
            value.pop(name, None)
        out[json.dumps({"topic": e["topic"], "key": e["key"], "value": value}, sort_keys=True)] += 1
    return out


# ---- outcomes judged against the replay (test_resilience.py, test_fault_injection.py) ----------


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
