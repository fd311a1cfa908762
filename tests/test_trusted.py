"""Claim events and claim records read back without validation are the models that were written.

The worker reads its own JSON (claim events, claim records) through `models.trusted` rather than
the contract's validators. Every state the engine reaches on the example day and on generated
traffic (reversals, duplicates, voided readies, timeouts) must come back equal, and dump to the
same bytes, as through full validation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from cobstream.engine import Engine
from cobstream.replay import replay_lines
from cobstream.traffic import Traffic
from models import trusted
from models.claim import ClaimState
from models.events import EobEvent
from streams.codec import ClaimEvent, ClaimRecord, OutboxEntry, claim_event_codec, claim_record_codec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "day-2026-03-24.jsonl"


def states() -> list[ClaimState]:
    engine = Engine()
    list(replay_lines(EXAMPLE.read_bytes().splitlines(keepends=True), engine))
    found = list(engine.claims.values())
    traffic = Engine()
    for n, record in enumerate(Traffic(400, seed=3, start=datetime(2026, 3, 1, tzinfo=UTC)).records()):
        if record["topic"].startswith("eob.") and n % 11 == 0:
            continue  # some claims without their secondary, some without their primary: timeouts
        traffic.receive(record["topic"], record["key"], orjson.dumps(record["value"]))
    traffic.advance(datetime(2026, 6, 1, tzinfo=UTC))  # every timeout fires
    return found + list(traffic.claims.values())


STATES = states()


def test_the_states_cover_every_optional_part() -> None:
    assert any(s.primary and s.secondary for s in STATES)
    assert any(s.standing_ready and s.standing_ready.lines for s in STATES)
    assert any(s.standing_ready and s.standing_ready.status == "ready" for s in STATES)
    assert any(s.secondary and not s.had_primary for s in STATES)
    assert any(s.overdue_fired_for for s in STATES)
    assert any(s.orphan_fired_for for s in STATES)
    assert any(line.allowed is not None for s in STATES if s.primary for line in s.primary.lines)
    assert any(line.adjustments and line.modifiers for s in STATES if s.primary for line in s.primary.lines)
    assert any(s.primary and s.primary.status == "reversed" for s in STATES) or any(
        len(s.seen_event_ids) > 2 for s in STATES
    )


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.claim_id)
def test_a_claim_record_reads_back_as_written(state: ClaimState) -> None:
    outbox = (OutboxEntry(offset=41, events=(("billing.ready", '{"event_id": "x"}'),)),)
    raw = claim_record_codec.dumps(ClaimRecord(state=state, applied_offset=41, outbox=outbox))
    rebuilt = claim_record_codec.loads(raw)
    assert rebuilt == ClaimRecord.model_validate_json(raw)
    assert claim_record_codec.dumps(rebuilt) == raw


@pytest.mark.parametrize(
    "eob", [e for s in STATES for e in (s.primary, s.secondary) if e is not None][:200], ids=lambda e: e.event_id
)
def test_a_claim_event_reads_back_as_written(eob: EobEvent) -> None:
    at = datetime(2026, 3, 24, 10, 15, 30, 123000, tzinfo=UTC)
    event = ClaimEvent(kind="eob", claim_id=eob.claim_id, at=at, role="primary", eob=eob, source="eob.primary[0]@7")
    raw = claim_event_codec.dumps(event)
    rebuilt = claim_event_codec.loads(raw)
    assert rebuilt == ClaimEvent.model_validate_json(raw)
    assert claim_event_codec.dumps(rebuilt) == raw


def test_a_tick_reads_back_as_written() -> None:
    tick = ClaimEvent(kind="tick", claim_id="C-1", at=datetime.now(UTC) - timedelta(days=1))
    assert claim_event_codec.loads(claim_event_codec.dumps(tick)) == tick


def test_a_record_written_without_a_newer_field_is_validated_instead() -> None:
    state = next(s for s in STATES if s.primary)
    data = orjson.loads(claim_record_codec.dumps(ClaimRecord(state=state)))
    del data["state"]["had_primary"]  # as a record from before that field
    with pytest.raises(KeyError):
        trusted.claim_state(data["state"])
    record = claim_record_codec.loads(orjson.dumps(data))
    assert record.state.had_primary is False
    assert record.state.primary == state.primary


def test_bytes_that_are_not_a_claim_record_are_refused() -> None:
    with pytest.raises(ValidationError):
        claim_record_codec.loads(b'{"state": {"claim_id": 7}, "applied_offset": "x"}')
