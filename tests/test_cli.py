"""The `cobstream` command line: replay's contract on files and stdin, exit codes, schema export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from builders import eob

CLI = [sys.executable, "-m", "cobstream.cli"]


def replay(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, "replay", *args], input=stdin, capture_output=True, check=False)


def test_replay_reads_standard_input_and_writes_jsonl() -> None:
    record = {"topic": "eob.primary", "key": "CLM-1", "value": eob("P1", secondary_payer_id=None)}
    done = replay("-", stdin=(json.dumps(record) + "\n\n").encode())
    assert done.returncode == 0
    events = [json.loads(x) for x in done.stdout.splitlines()]
    assert [(e["topic"], e["key"], e["value"]["status"]) for e in events] == [("billing.ready", "CLM-1", "ready")]
    assert events[0]["value"]["produced_at"] == "2026-03-10T15:00:00Z"


def test_malformed_lines_become_dead_letters_and_the_replay_goes_on() -> None:
    good = {"topic": "eob.primary", "key": "CLM-1", "value": eob("P1", secondary_payer_id=None)}
    lines = ["{not json", '{"key": "x", "value": {}}', "", '{"topic": "billing.ready", "value": {}}', json.dumps(good)]
    done = replay("-", stdin="\n".join(lines).encode())
    assert done.returncode == 0
    events = [json.loads(x) for x in done.stdout.splitlines()]
    letters = [e["value"] for e in events if e["topic"] == "eob.dead-letter"]
    assert [(d["source_topic"], d["offset"]) for d in letters] == [(None, 1), (None, 2), ("billing.ready", 4)]
    assert letters[0]["raw"] == "{not json"
    assert "unknown input topic" in letters[2]["error"]
    assert events[-1]["topic"] == "billing.ready"


def test_unusable_arguments_exit_non_zero(tmp_path: Path) -> None:
    assert replay(str(tmp_path / "missing.jsonl")).returncode == 2
    assert replay("--now", "2026-01-01T00:00:00", "-", stdin=b"").returncode == 2  # naive time


def test_schema_writes_every_event(tmp_path: Path) -> None:
    done = subprocess.run([*CLI, "schema", "--out", str(tmp_path)], capture_output=True, check=False)
    assert done.returncode == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(
        f"{n}.schema.json"
        for n in (
            "EobEvent",
            "PayerProfile",
            "FeeScheduleEntry",
            "ExpectedSecondaryPayment",
            "PatientBillingReady",
            "PaymentDiscrepancy",
            "DeadLetter",
        )
    )
    eob_schema = json.loads((tmp_path / "EobEvent.schema.json").read_text())
    assert {"event_id", "claim_id", "payer_id", "status", "adjudicated_at", "lines"} <= set(eob_schema["required"])
    ready = json.loads((tmp_path / "PatientBillingReady.schema.json").read_text())
    assert ready["properties"]["patient_responsibility"]["type"] == "string"
