"""X12 835 end to end on the broker: `cobstream produce FILE.835` onto `remittance.x12`, the
worker's intake, and the outcomes equal to `cobstream convert x12 FILE | cobstream replay -`."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from harness import ROOT, Deployment, comparable, replayed

from cobstream.shared.kafka_io import remittance_lines

EXAMPLE = ROOT / "examples" / "remittance-2026-03-24.835"
CORRUPT = ROOT / "tests" / "data" / "x12" / "corrupt_segment.835"


def cobstream(deployment: Deployment, *args: str) -> bytes:
    done = subprocess.run(
        [sys.executable, "-m", "cobstream.cli", *args],
        env=deployment.env("cli"),
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr.decode(errors="replace")
    return done.stdout


def moved_to_yesterday(source: Path, folder: Path) -> Path:
    """The remittance with every CCYYMMDD date moved so that its last one is yesterday: on the
    worker's wall clock, as in replay, no timeout is due yet."""
    text = source.read_text()
    dates = re.findall(r"\b(20\d{6})\b", text)
    shift = datetime.now(UTC).date() - timedelta(days=1) - max(date.fromisoformat(d) for d in dates)
    moved = folder / source.name
    moved.write_text(re.sub(r"\b20\d{6}\b", lambda m: f"{date.fromisoformat(m[0]) + shift:%Y%m%d}", text))
    return moved


def test_835_files_on_remittance_x12_reconcile_as_convert_and_replay_do(deployment: Deployment, tmp_path: Path) -> None:
    example, corrupt = (moved_to_yesterday(path, tmp_path) for path in (EXAMPLE, CORRUPT))
    deployment.start_worker()
    for path in (example, corrupt):
        cobstream(deployment, "produce", str(path))
    expected = replayed(remittance_lines(example.read_bytes()) + remittance_lines(corrupt.read_bytes()))
    events = deployment.outputs(len(expected), timeout=120)
    assert comparable(events) == comparable(expected)

    letters = [e["value"] for e in events if e["topic"] == "eob.dead-letter"]
    assert letters, "the corrupt claim became a dead letter"
    assert all(letter["source_topic"] == "remittance.x12" and "segment" in letter["error"] for letter in letters)

    # `cobstream convert x12 FILE | cobstream replay -` (the replay on the worker's clock)
    converted = cobstream(deployment, "convert", "x12", str(example))
    outcomes = [e for e in events if e["topic"] != "eob.dead-letter" and e["key"].startswith("CLM-")]
    assert comparable(outcomes) == comparable(replayed(converted.splitlines(keepends=True)))

    audited = deployment.audit()
    assert audited.returncode == 0, audited.problems()[:5]


COVERAGE = ROOT / "examples" / "coverage"


def test_837_claims_on_remittance_x12_tell_the_worker_the_coverage(deployment: Deployment, tmp_path: Path) -> None:
    """COVERAGE.md on the broker: the office's 837P, BCBS-TX's 835 without crossover and AETNA's
    835 with a lone denial, each produced to remittance.x12: the worker waits for AETNA, places
    its denial by the claim's submission, and publishes what replay of the same messages does."""
    files = [
        moved_to_yesterday(COVERAGE / name, tmp_path)
        for name in ("claims-2026-03-03.837", "remittance-2026-03-12-bcbstx.835", "remittance-2026-03-24-aetna.835")
    ]
    deployment.start_worker()
    for path in files:
        cobstream(deployment, "produce", str(path))
    expected = replayed([line for path in files for line in remittance_lines(path.read_bytes())])
    events = deployment.outputs(len(expected), timeout=120)
    assert comparable(events) == comparable(expected)
    ready = [e["value"] for e in events if e["topic"] == "billing.ready"]
    assert [(r["claim_id"], r["patient_responsibility"]) for r in ready] == [
        ("CLM-2026-0201", "0.00"),
        ("CLM-2026-0202", "5.00"),
    ]
    assert not [e for e in events if e["topic"] == "eob.dead-letter"]
    audited = deployment.audit()
    assert audited.returncode == 0, audited.problems()[:5]
