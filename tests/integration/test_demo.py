"""`cobstream demo` on the broker, as a new user runs it: every outcome the replay predicts is
printed, and nothing on the screen reads as a failure (issue 20: aiokafka's NotLeaderForPartition
lines, from the demo's own consumer on topics it had just created, were shown between the header
and the first outcome)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from harness import ROOT

from cobstream.shared.processes import free_port

pytestmark = pytest.mark.broker


def test_the_demo_prints_every_outcome_and_no_broker_noise() -> None:
    broker = os.environ.get("COBSTREAM_TEST_BROKER", "127.0.0.1:9092")
    env = {
        **os.environ,
        "COBSTREAM_BROKERS": broker,
        "COBSTREAM_WEB_PORT": str(free_port()),
        "COBSTREAM_PROGRESS": "0",
    }
    env.pop("COBSTREAM_TOPIC_PREFIX", None)  # the demo takes a fresh prefix of its own
    done = subprocess.run(
        [sys.executable, "-m", "cobstream.cli", "demo"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=300,
        check=False,
    )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert " outcomes in " in last, last
    printed = int(last.split()[0])
    assert len([row for row in out.splitlines() if row.startswith(("secondary.", "billing.", "eob."))]) == printed
    for noise in ("NotLeaderForPartition", "Failed fetch offsets", "Traceback", "ERROR"):
        assert noise not in err, err[-3000:]
