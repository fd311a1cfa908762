"""examples/coverage/: the office's 837P and the payers' 835s for the same claims. A primary 835
without crossover no longer bills the patient at once: the claims wait for the secondary the 837
names, and the secondary's 835 settles them, its lone denial placed by the claim's coverage. The
same in the file converter (one run), in replay over the raw messages, and in the three files'
validity to pyx12."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cobstream.engine import Engine
from models.contract.outcomes import DeadLetter, PatientBillingReady, PaymentDiscrepancy
from models.remittance import split_transactions

HERE = Path(__file__).resolve().parent.parent / "examples" / "coverage"
CLAIMS = HERE / "claims-2026-03-03.837"
PRIMARY = HERE / "remittance-2026-03-12-bcbstx.835"
SECONDARY = HERE / "remittance-2026-03-24-aetna.835"
CLI = [sys.executable, "-m", "cobstream.cli"]


def converted_then_replayed(*files: Path) -> list[dict[str, Any]]:
    convert = subprocess.run([*CLI, "convert", "x12", *map(str, files)], capture_output=True, check=False)
    assert convert.returncode == 0, convert.stderr.decode()
    replay = subprocess.run([*CLI, "replay", "-"], input=convert.stdout, capture_output=True, check=True)
    return [json.loads(line) for line in replay.stdout.splitlines()]


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (e["topic"], e["value"]["claim_id"], e["value"].get("kind") or e["value"].get("status") or "") for e in events
    ]


def test_the_primarys_835_alone_holds_both_claims_as_coverage_unknown() -> None:
    assert summary(converted_then_replayed(PRIMARY)) == [
        ("billing.discrepancy", "CLM-2026-0201", "coverage_unknown"),
        ("billing.discrepancy", "CLM-2026-0202", "coverage_unknown"),
    ]


def test_with_the_837_the_claims_wait_for_the_secondary_and_its_835_settles_them() -> None:
    events = converted_then_replayed(CLAIMS, PRIMARY, SECONDARY)
    assert summary(events) == [
        ("secondary.expected", "CLM-2026-0201", ""),
        ("secondary.claim", "CLM-2026-0201", "open"),
        ("secondary.expected", "CLM-2026-0202", ""),
        ("secondary.claim", "CLM-2026-0202", "open"),
        ("billing.ready", "CLM-2026-0201", "ready"),
        ("billing.ready", "CLM-2026-0202", "ready"),
    ]
    ready = {e["value"]["claim_id"]: e["value"] for e in events if e["topic"] == "billing.ready"}
    # 0201: AETNA's own allowable 90 on its EOB: S 10, K 90, the patient owes nothing.
    assert (ready["CLM-2026-0201"]["secondary_paid"], ready["CLM-2026-0201"]["patient_responsibility"]) == (
        "10.00",
        "0.00",
    )
    # 0202: AETNA's CO-96 denial, read as the secondary's thanks to the 837: the patient owes PR-2.
    assert (ready["CLM-2026-0202"]["secondary_paid"], ready["CLM-2026-0202"]["patient_responsibility"]) == (
        "0.00",
        "5.00",
    )


def test_the_secondarys_lone_denial_without_the_837_is_refused_by_the_converter() -> None:
    convert = subprocess.run([*CLI, "convert", "x12", str(SECONDARY)], capture_output=True, check=False)
    assert convert.returncode == 1
    assert "CLP02 4" in convert.stderr.decode()
    assert "CLM-2026-0202" in convert.stderr.decode()


def raw_messages(*files: Path) -> list[tuple[str, bytes]]:
    """Each file as `cobstream produce` publishes it: one transaction a remittance.x12 message."""
    found = []
    for path in files:
        for message in split_transactions(path.read_bytes()):
            found.append(("remittance.x12", message.data))  # type: ignore[union-attr]
    return found


def test_on_the_raw_topic_the_claims_coverage_places_the_lone_denial() -> None:
    engine = Engine()
    out = []
    for offset, (topic, text) in enumerate(raw_messages(CLAIMS, PRIMARY, SECONDARY), start=1):
        out += engine.receive(topic, None, text, offset=offset)
    ready = [p.value for p in out if isinstance(p.value, PatientBillingReady)]
    assert [(r.claim_id, r.patient_responsibility) for r in ready] == [
        ("CLM-2026-0201", Decimal("0.00")),
        ("CLM-2026-0202", Decimal("5.00")),
    ]
    assert engine.claims["CLM-2026-0202"].secondary is not None
    assert not [p for p in out if isinstance(p.value, DeadLetter)]


def test_on_the_raw_topic_a_lone_denial_without_a_submission_is_dead_lettered_saying_why() -> None:
    engine = Engine()
    out = []
    for offset, (topic, text) in enumerate(raw_messages(PRIMARY, SECONDARY), start=1):
        out += engine.receive(topic, None, text, offset=offset)
    [letter] = [p.value for p in out if isinstance(p.value, DeadLetter)]
    assert (letter.claim_id, letter.source_topic, letter.offset) == ("CLM-2026-0202", "remittance.x12", 2)
    assert "publish the claim's 837 or submission first" in letter.error
    # The good claim payment of the same message went through: 0201 is held for its coverage.
    held = [p.value.claim_id for p in out if isinstance(p.value, PaymentDiscrepancy)]
    assert held == ["CLM-2026-0201", "CLM-2026-0202"]


@pytest.mark.parametrize("path", [CLAIMS, PRIMARY, SECONDARY], ids=lambda p: p.name)
def test_the_example_files_are_valid_to_pyx12(path: Path) -> None:
    x12n_document = pytest.importorskip("pyx12.x12n_document")
    params = pytest.importorskip("pyx12.params")
    assert x12n_document.x12n_document(params.params(), str(path), None, None, None)
