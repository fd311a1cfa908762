"""`cobstream demo`'s body: the main job in one command, on a real local broker.

Starts the local Apache Kafka broker (scripts/kafka) unless one answers already, creates the
topics, starts a worker, publishes the example day, and prints the billing-ready and
discrepancy events as they arrive. It stops by itself once every outcome that `cobstream
replay` predicts for the file has arrived (or on Ctrl-C), and stops what it started. The command
line: `cobstream.commands.demo`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.request import urlopen

from prometheus_client.parser import text_string_to_metric_families

from cobstream.bench.workers import SERVING
from cobstream.engine import Engine
from cobstream.shared.kafka_io import produce_file, tail
from cobstream.shared.processes import stop_process
from cobstream.shared.replay_format import replay_lines, shift_times
from streams.settings import Settings
from streams.topics import create_topics

ROOT = Path(__file__).resolve().parents[1]


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(Path(args.file), interval=args.interval, jsonl=args.jsonl)


def run_demo(path: Path, *, interval: float, jsonl: bool) -> int:
    if not path.exists():
        print(f"cobstream demo: {path} not found", file=sys.stderr)
        return 2
    # The example is a past day: replayed as yesterday, no timeout is due yet on the worker's
    # wall clock, and the outcomes are exactly those of `cobstream replay` on the file.
    with path.open("rb") as source:
        lines = shift_times(source, datetime.now(UTC))
    expected = sum(1 for _ in replay_lines(lines, Engine()))
    # A fresh topic prefix per run: the demo never mixes with earlier runs or real data.
    prefix = os.environ.get("COBSTREAM_TOPIC_PREFIX") or f"demo-{uuid.uuid4().hex[:8]}."
    state = Path(tempfile.mkdtemp(prefix="cobstream-demo-"))
    env = {
        **os.environ,
        "COBSTREAM_TOPIC_PREFIX": prefix,
        "COBSTREAM_STATE_DIR": str(state),
        "COBSTREAM_WEB_PORT": os.environ.get("COBSTREAM_WEB_PORT", "6067"),
        "COBSTREAM_TIMER_INTERVAL": "1",
    }
    os.environ.update(env)
    settings = Settings.from_env()
    status = subprocess.run([ROOT / "scripts" / "kafka", "status"], check=False, capture_output=True)
    started_broker = status.returncode != 0
    worker = None
    try:
        if started_broker:
            subprocess.run([ROOT / "scripts" / "kafka", "start"], check=True)
        for line in asyncio.run(create_topics(settings)):
            print(line, file=sys.stderr)
        log = state / "worker.log"
        print(f"starting the worker (log: {log})", file=sys.stderr)
        worker = subprocess.Popen(
            [sys.executable, "-m", "cobstream.cli", "worker"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        began = time.monotonic()
        # Publish once the worker serves its claims, as a deployment's workers do: the messages of
        # one claim on several topics are then taken in the order they were sent, as replay takes them.
        serving = _serving(int(env["COBSTREAM_WEB_PORT"]), worker, timeout=120)
        if serving and not asyncio.run(_publish_and_watch(settings, lines, interval, jsonl, expected, worker)):
            serving = False
        if not serving:
            tail_of_log = log.read_text(errors="replace").strip().splitlines()[-5:]
            print("cobstream demo: the worker stopped:", *tail_of_log, sep="\n  ", file=sys.stderr)
            return 1
        print(f"{expected} outcomes in {time.monotonic() - began:.1f}s", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if worker is not None:
            stop_process(worker)
        if started_broker:
            subprocess.run([ROOT / "scripts" / "kafka", "stop"], check=False)


def _serving(port: int, worker: subprocess.Popen, timeout: float) -> bool:
    """Whether the worker says on its /metrics that it serves its claims, within `timeout` (False
    when it stops first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        try:
            with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as page:
                text = page.read().decode()
        except OSError:
            text = ""
        samples = (s for family in text_string_to_metric_families(text) for s in family.samples)
        if any(sample.name == SERVING and sample.value == 1 for sample in samples):
            return True
        time.sleep(0.2)
    return False


async def _publish_and_watch(
    settings: Settings, lines: list[bytes], interval: float, jsonl: bool, expected: int, worker: subprocess.Popen
) -> bool:
    """Publish and print until every expected outcome is in; False if the worker stops first."""
    watcher = asyncio.create_task(tail(settings, jsonl=jsonl, from_beginning=True, limit=expected))
    publisher = asyncio.create_task(produce_file(settings, lines, interval=interval))
    while not watcher.done():
        if worker.poll() is not None:
            for task in (watcher, publisher):
                task.cancel()
            return False
        await asyncio.sleep(0.5)
    await publisher
    return True
