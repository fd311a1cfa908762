"""What one Kafka record means to the work queue: the claim inputs it carries, the outcome it is,
or the dead letter it is, read without touching the store.

Inputs are decoded with the contract's own decoders (`models.remittance.decode`, and
`models.remittance.intake` for raw X12 messages), so a claim's history, its payers and its
coverage agree with what the worker took in: an EOB (from an EOB topic or an 835) and a claim
submission (from `claims.submitted` or an 837) are each one claim input. Outcomes are read
leniently: the contract lets fields be added, so only the fields the queue needs are required,
and a record that lacks them (or is not JSON) is kept as unreadable with the reason, never fatal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from models.cob.claim import EobReceived, SubmissionReceived
from models.contract.topics import (
    CLAIM_INPUT_TOPICS,
    DEAD_LETTER,
    DISCREPANCY,
    OUTCOME_TOPICS,
    READY,
    REFERENCE_TOPICS,
    REMITTANCE_X12,
    SECONDARY_CLAIM,
)
from models.remittance.decode import Rejected
from models.remittance.intake import decode_message
from streams.codec import TopicRecord, kafka_key_text

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ClaimInput:
    """One EOB or claim submission an input record carries (an 835 or 837 message may carry many),
    or an input message that was refused but names its claim.

    A submission has `role` "submission", its primary payer in `payer_id`, its secondary and
    tertiary (None: none listed), `submitted_at` and `frequency`; an EOB has its role, payer,
    status, `adjudicated_at` and, unless it is a secondary EOB, whether it states the secondary at
    all (`states_secondary`: CONTRACT.md's three states) and the payer it names. An 835 denial or
    reversal whose file does not tell its payer's role has `role` None (the worker takes the role
    the claim's submission gives the payer, or refuses it); a refused input has `problem`."""

    seq: int  # position within the record
    claim_id: str
    role: str | None = None  # "primary", "secondary", "submission"; None: not told, or refused
    event_id: str | None = None
    payer_id: str | None = None
    secondary_payer_id: str | None = None
    status: str | None = None
    adjudicated_at: str | None = None
    total_charge: str | None = None
    total_paid: str | None = None
    line_count: int | None = None
    problem: str | None = None  # why the worker dead-letters it
    states_secondary: bool | None = None  # a primary EOB's: False when it does not say
    tertiary_payer_id: str | None = None
    submitted_at: str | None = None
    frequency: str | None = None

    @property
    def is_eob(self) -> bool:
        return self.role in ("primary", "secondary", None) and self.problem is None and bool(self.event_id)

    @property
    def is_submission(self) -> bool:
        return self.role == "submission" and self.problem is None


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """A `secondary.expected`, `billing.ready` or `billing.discrepancy` event, as the queue sorts it."""

    event_id: str
    claim_id: str
    revision: int
    produced_us: int
    kind: str  # the discrepancy kind, the ready event's status, or "expected"
    blocking: bool | None
    expected_cents: int | None
    actual_cents: int | None
    difference_cents: int | None
    primary_event_id: str | None
    secondary_event_id: str | None


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    digest: str  # a repeat delivered after a crash has the same bytes, so the same digest
    claim_id: str | None
    source_topic: str | None
    error: str
    received_us: int


@dataclass(frozen=True, slots=True)
class Meaning:
    """What a record adds to the store beyond the record itself."""

    inputs: list[ClaimInput] = field(default_factory=list)
    outcome: OutcomeRow | None = None
    dead_letter: DeadLetterRow | None = None
    problem: str | None = None  # an output record the queue cannot read


class Unreadable(ValueError):
    """An output record without what the queue needs; the message says what is missing."""


def read_record(record: TopicRecord) -> Meaning:
    """The record's meaning for the queue; an unreadable output record is reported in `problem`."""
    if record.topic in CLAIM_INPUT_TOPICS:
        return Meaning(inputs=_claim_inputs(record))
    if record.topic in REFERENCE_TOPICS:
        return Meaning()
    try:
        value = _json_object(record.value)
        if record.topic == DEAD_LETTER:
            return Meaning(dead_letter=_dead_letter(value, record))
        if record.topic in OUTCOME_TOPICS:
            return Meaning(outcome=_outcome(record.topic, value))
    except Unreadable as exc:
        return Meaning(problem=str(exc))
    return Meaning(problem=f"not a topic the work queue reads: {record.topic}")


def _claim_inputs(record: TopicRecord) -> list[ClaimInput]:
    """The EOBs and submissions of an input message, and its unusable parts."""
    if record.value is None and record.topic != REMITTANCE_X12:
        return []
    decoded = decode_message(record.topic, kafka_key_text(record.key), record.value)
    items = [_claim_input(seq, item) for seq, item in enumerate(decoded)]
    return [item for item in items if item]


def _claim_input(seq: int, decoded: object) -> ClaimInput | None:
    if isinstance(decoded, EobReceived):
        eob = decoded.eob
        primary = decoded.role != "secondary"  # a primary EOB, or one that may be
        return ClaimInput(
            seq=seq,
            claim_id=eob.claim_id,
            role=decoded.role,
            event_id=eob.event_id,
            payer_id=eob.payer_id,
            secondary_payer_id=eob.secondary_payer_id if primary else None,
            states_secondary=eob.states_secondary if primary else None,
            status=eob.status,
            adjudicated_at=eob.adjudicated_at.isoformat(),
            total_charge=f"{sum(line.charge for line in eob.lines):.2f}",
            total_paid=f"{sum(line.paid for line in eob.lines):.2f}",
            line_count=len(eob.lines),
        )
    if isinstance(decoded, SubmissionReceived):
        submission = decoded.submission
        return ClaimInput(
            seq=seq,
            claim_id=submission.claim_id,
            role="submission",
            event_id=submission.event_id,
            payer_id=submission.payer("primary"),
            secondary_payer_id=submission.payer("secondary"),
            tertiary_payer_id=submission.payer("tertiary"),
            submitted_at=submission.submitted_at.isoformat(),
            frequency=submission.frequency,
            total_charge=f"{sum(line.charge for line in submission.lines):.2f}",
            line_count=len(submission.lines),
        )
    if isinstance(decoded, Rejected) and decoded.claim_id:
        return ClaimInput(seq, decoded.claim_id, problem=decoded.error)
    return None


def _json_object(value: bytes | None) -> dict[str, Any]:
    if value is None:
        raise Unreadable("value is null")
    try:
        parsed = json.loads(value)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Unreadable(f"value is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise Unreadable(f"value is a JSON {type(parsed).__name__}, not an object")
    return parsed


def _outcome(topic: str, value: dict[str, Any]) -> OutcomeRow:
    revision = value.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool):
        raise Unreadable("revision: missing or not a whole number")
    if topic == DISCREPANCY:
        kind = _text(value, "kind")
        if not isinstance(value.get("blocking"), bool):
            raise Unreadable("blocking: missing or not true/false")
    else:
        kind = _text(value, "status") if topic in (READY, SECONDARY_CLAIM) else "expected"
    return OutcomeRow(
        event_id=_text(value, "event_id"),
        claim_id=_text(value, "claim_id"),
        revision=revision,
        produced_us=_micros(value, "produced_at"),
        kind=kind,
        blocking=value.get("blocking") if topic == DISCREPANCY else None,
        expected_cents=_cents(value, "expected_secondary_paid"),
        actual_cents=_cents(value, "actual_secondary_paid" if topic == DISCREPANCY else "secondary_paid"),
        difference_cents=_cents(value, "difference"),
        primary_event_id=_optional_text(value, "primary_event_id"),
        secondary_event_id=_optional_text(value, "secondary_event_id"),
    )


def _dead_letter(value: dict[str, Any], record: TopicRecord) -> DeadLetterRow:
    received = value.get("received_at")
    return DeadLetterRow(
        digest=hashlib.sha256(record.value or b"").hexdigest(),
        claim_id=_optional_text(value, "claim_id"),
        source_topic=_optional_text(value, "source_topic"),
        error=_text(value, "error"),
        received_us=_micros(value, "received_at") if received is not None else record.timestamp_ms * 1000,
    )


def _text(value: dict[str, Any], name: str) -> str:
    found = value.get(name)
    if not isinstance(found, str) or not found:
        raise Unreadable(f"{name}: missing or not a non-empty string")
    return found


def _optional_text(value: dict[str, Any], name: str) -> str | None:
    found = value.get(name)
    if found is None:
        return None
    if not isinstance(found, str):
        raise Unreadable(f"{name}: not a string")
    return found


def _cents(value: dict[str, Any], name: str) -> int | None:
    """Money as whole cents (sortable, never a float); absent or null is None."""
    try:
        return cents_of(value.get(name))
    except ValueError:
        raise Unreadable(f"{name}: not money") from None


def cents_of(found: object) -> int | None:
    """Money written as text ("80.00") as whole cents; None for None; ValueError when not money."""
    if found is None:
        return None
    try:
        amount = Decimal(found) if isinstance(found, str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise ValueError("not money")
    return int((amount * 100).to_integral_value())


def _micros(value: dict[str, Any], name: str) -> int:
    """A time as microseconds since 1970 (sortable whatever its zone and precision)."""
    found = value.get(name)
    try:
        moment = datetime.fromisoformat(found) if isinstance(found, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Unreadable(f"{name}: missing or not an ISO 8601 time with a zone")
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
