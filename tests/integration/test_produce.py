"""`cobstream produce` on the broker: a bar on a terminal, and a clear refusal (no traceback, no
minute of retries) when the topics were never created."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from harness import Deployment

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "remittance-2026-03-24.835"

pytestmark = pytest.mark.broker


def produce_on_a_terminal(deployment: Deployment, path: Path) -> subprocess.CompletedProcess[str]:
    command = shlex.join([sys.executable, "-m", "cobstream.cli", "produce", str(path)])
    return subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        env=deployment.env("produce"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_produce_draws_a_bar_and_publishes_every_transaction(deployment: Deployment) -> None:
    done = produce_on_a_terminal(deployment, EXAMPLE)
    screen = done.stdout.replace("\r", "\n")
    assert done.returncode == 0, screen
    assert "produce remittance-2026-03-24.835: 100%" in screen
    assert "2/2" in screen
    assert "published 2 messages" in screen


def test_produce_without_topics_says_which_are_missing_and_exits_2(deployment: Deployment) -> None:
    nowhere = f"{deployment.prefix}never-created."
    done = subprocess.run(
        [sys.executable, "-m", "cobstream.cli", "produce", str(EXAMPLE)],
        env={**deployment.env("produce"), "COBSTREAM_TOPIC_PREFIX": nowhere},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{nowhere}remittance.x12" in done.stderr
    assert "cobstream topics" in done.stderr
    assert "not found in cluster metadata" not in done.stderr
