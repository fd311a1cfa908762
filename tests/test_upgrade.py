"""Stored claims from the version before claim submissions (COVERAGE.md) keep working: a record
written by that version (tests/data/stored/, written by commit 0411eaa's own code) reads as it
did, and the claim goes on as it would have."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from builders import eob, secondary_line

from models.cob.claim import EobReceived, armed_timers
from models.cob.processor import DEFAULT_RETENTION, process
from models.cob.reference import Reference
from models.contract.events import EobEvent
from models.contract.outcomes import PatientBillingReady, PaymentDiscrepancy
from streams.codec import ClaimRecord

STORED = json.loads((Path(__file__).parent / "data" / "stored" / "claim-records-0411eaa.json").read_text())
NOW = datetime(2026, 3, 24, 12, tzinfo=UTC)


def stored(claim_id: str) -> ClaimRecord:
    return ClaimRecord.model_validate_json(json.dumps(STORED["claim_records"][claim_id]))


def secondary_eob(claim_id: str) -> EobReceived:
    value = eob("S-1", claim_id=claim_id, payer_id="AETNA", at="2026-03-20T10:00:00Z", lines=[secondary_line()])
    return EobReceived("secondary", EobEvent.model_validate(value))


def test_a_stored_primary_with_null_still_means_no_secondary() -> None:
    state = stored("CLM-OLD-NONE").state
    assert state.primary is not None
    assert state.primary.states_secondary
    assert state.submission is None
    assert state.version.coverage.source == "primary_eob"
    # As before: a secondary EOB on a claim without secondary voids the ready event, disputes COB.
    change = process(state, state.claim_id, secondary_eob(state.claim_id), Reference(), NOW, DEFAULT_RETENTION)
    voided, dispute = (p.value for p in change.published)
    assert isinstance(voided, PatientBillingReady)
    assert (voided.status, voided.voids_event_id, voided.tertiary_payer_id) == (
        "voided",
        state.standing_ready.event_id,  # type: ignore[union-attr]
        None,
    )
    assert isinstance(dispute, PaymentDiscrepancy)
    assert dispute.kind == "cob_order_dispute"


def test_a_stored_claim_waiting_for_its_secondary_still_waits_and_settles() -> None:
    state = stored("CLM-OLD-WAIT").state
    [timer] = armed_timers(state)
    assert (timer.kind, timer.payer_id) == ("secondary_overdue", "AETNA")
    change = process(state, state.claim_id, secondary_eob(state.claim_id), Reference(), NOW, DEFAULT_RETENTION)
    [ready] = (p.value for p in change.published)
    assert isinstance(ready, PatientBillingReady)
    assert (ready.status, str(ready.secondary_paid), ready.revision) == ("ready", "10.00", state.revision + 1)


def test_a_stored_record_written_again_keeps_what_it_said() -> None:
    record = stored("CLM-OLD-NONE")
    again = ClaimRecord.model_validate_json(record.model_dump_json())
    assert again == record
    assert "states_secondary" not in record.model_dump_json()  # written only when false
