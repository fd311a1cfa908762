"""`cobstream audit` on the real broker: a worker's run of the example day is all accounted for,
and a stray outcome published afterwards is named and fails the audit."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from harness import ROOT, Deployment, replayed

from cobstream.shared.replay_format import shift_times
from models.contract.topics import READY

EXAMPLE = ROOT / "examples" / "day-2026-03-24.jsonl"


def run_audit(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cobstream.cli", "audit", *args],
        env=deployment.env("audit"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


async def publish_stray_outcome(deployment: Deployment, value: dict) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=deployment.settings.broker_list)
    await producer.start()
    try:
        await producer.send_and_wait(
            deployment.settings.topic(READY), key=value["claim_id"].encode(), value=json.dumps(value).encode()
        )
    finally:
        await producer.stop()


def test_the_audit_accounts_for_a_worker_run_and_names_a_stray_outcome(deployment: Deployment, tmp_path: Path) -> None:
    lines = shift_times(EXAMPLE.read_bytes().splitlines(keepends=True), datetime.now(UTC))
    expected = replayed(lines)
    deployment.start_worker()
    deployment.produce(lines, interval=0.05)  # test_stream.py's pace: each reference change lands before the next EOB
    published = deployment.outputs(len(expected), settle=2.0)

    clean = run_audit(deployment, "--json")
    assert clean.returncode == 0, clean.stdout[-3000:] + clean.stderr[-2000:]
    report = json.loads(clean.stdout)
    outcomes = [e for e in published if e["topic"] != "eob.dead-letter"]
    assert report["findings"] == []
    # Every claim input is accounted for: the EOBs, the submissions (COVERAGE.md) and the raw X12.
    claim_inputs = (b'"eob.', b'"claims.submitted"', b'"remittance.x12"')
    assert report["counts"]["inputs"] == sum(1 for line in lines if any(t in line[:30] for t in claim_inputs))
    assert report["counts"]["dead_lettered"] == sum(
        1 for e in published if e["topic"] == "eob.dead-letter" and e["value"]["source_topic"].startswith("eob.")
    )
    assert report["counts"]["published"] == report["counts"]["expected"] == len(outcomes)

    stray = dict(next(e["value"] for e in outcomes if e["topic"] == READY))
    stray.update(event_id=uuid.uuid4().hex, claim_id="CLM-STRAY-0001", revision=1)
    asyncio.run(publish_stray_outcome(deployment, stray))

    found = run_audit(deployment)
    assert found.returncode == 1, found.stdout[-3000:] + found.stderr[-2000:]
    named = [line for line in found.stdout.splitlines() if stray["event_id"] in line]
    assert len(named) == 1, found.stdout
    assert "unexpected outcome" in named[0]
    assert "CLM-STRAY-0001" in named[0]
    assert f"{READY}[" in named[0]
