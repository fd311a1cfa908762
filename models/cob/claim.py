"""The claim state and the one function that moves it: COB_RULES.md section 7.

`step(state, event, ref, now)` applies one EOB (processed, denied or reversed) or one clock
tick to a claim and returns the new state with the outcomes to publish, in emission order.
The stream agents and the replay command both call it; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from models.cob.reference import PayerTerms, Reference
from models.cob.settlement import compute_claim
from models.cob.verdict import (
    Draft,
    discrepancy,
    estimate,
    evaluate_version,
    is_cob_order_denial,
    orphan_secondary,
    overdue_secondary,
)
from models.contract.events import ClaimSubmission, EobEvent, Role
from models.contract.outcomes import Outcome, PatientBillingReady, PaymentDiscrepancy, build_outcome

TimerKind = Literal["secondary_overdue", "orphan_secondary"]


class ClaimState(BaseModel):
    """Everything the system remembers about one claim (a value of the claims table)."""

    model_config = ConfigDict(frozen=True)

    claim_id: str
    revision: int = 0
    seen_event_ids: tuple[str, ...] = ()
    primary: EobEvent | None = None
    secondary: EobEvent | None = None
    had_primary: bool = False
    standing_ready: PatientBillingReady | None = None
    overdue_fired_for: str | None = None
    orphan_fired_for: str | None = None
    last_event_at: datetime | None = None

    def current(self, role: Role) -> EobEvent | None:
        return self.primary if role == "primary" else self.secondary


@dataclass(frozen=True, slots=True)
class EobReceived:
    """An EOB accepted by validation, from the topic that gives its role."""

    role: Role
    eob: EobEvent


@dataclass(frozen=True, slots=True)
class SubmissionReceived:
    """A claim submission accepted by validation (`claims.submitted`, or an 837 claim)."""

    submission: ClaimSubmission


@dataclass(frozen=True, slots=True)
class ClockTick:
    """Time has moved: fire this claim's timers that are due."""


@dataclass(frozen=True, slots=True)
class Transition:
    state: ClaimState
    outcomes: list[Outcome] = field(default_factory=list)
    moves_clock: bool = False  # False for a duplicate: it changes nothing, not even event time


class ArmedTimer(NamedTuple):
    """A timeout that will fire `wait_days` of `payer_id`'s profile after `anchor`.

    A named tuple: the deadline index hashes and compares these for every claim it tracks."""

    kind: TimerKind
    anchor: datetime
    payer_id: str

    def deadline(self, ref: Reference) -> datetime:
        return self.anchor + wait_of(self.kind, ref.terms(self.payer_id))


def wait_of(kind: TimerKind, terms: PayerTerms) -> timedelta:
    """How long after its anchor a timer of this kind fires, by the payer's terms."""
    return timedelta(days=terms.secondary_wait_days if kind == "secondary_overdue" else terms.primary_wait_days)


def outcome_event_id(claim_id: str, revision: int, draft: Draft, cause: str) -> str:
    """Deterministic: the same claim history yields the same id for the same outcome."""
    tag = draft.fields.get("kind") or draft.fields.get("status") or draft.model.__name__
    text = "\x1f".join((claim_id, str(revision), draft.model.__name__, str(tag), cause))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class _Emitter:
    def __init__(self, state: ClaimState, now: datetime, cause: str) -> None:
        self.claim_id = state.claim_id
        self.revision = state.revision
        self.now = now
        self.cause = cause
        self.outcomes: list[Outcome] = []

    def emit(self, draft: Draft) -> Outcome:
        self.revision += 1
        outcome = build_outcome(
            draft.model,
            {
                **draft.fields,
                "event_id": outcome_event_id(self.claim_id, self.revision, draft, self.cause),
                "claim_id": self.claim_id,
                "revision": self.revision,
                "produced_at": self.now,
            },
        )
        self.outcomes.append(outcome)
        return outcome


def step(state: ClaimState | None, event: EobReceived | ClockTick, ref: Reference, now: datetime) -> Transition:
    """Apply one event to a claim (None: a claim never seen) and return what follows from it.

    `now` stamps the outcomes: event time in replay, the record's time in the worker; for a
    clock tick it is also the time the timers are checked against.
    """
    if isinstance(event, ClockTick):
        assert state is not None, "a clock tick needs an existing claim"
        return _fire_timers(state, ref, now)
    if state is None:
        state = ClaimState(claim_id=event.eob.claim_id)
    return _apply_eob(state, event.role, event.eob, ref, now)


def _apply_eob(state: ClaimState, role: Role, eob: EobEvent, ref: Reference, now: datetime) -> Transition:
    if eob.event_id in state.seen_event_ids:
        return Transition(state)
    remembered: dict[str, object] = {"seen_event_ids": (*state.seen_event_ids, eob.event_id), "last_event_at": now}
    if eob.is_duplicate_notice():
        return Transition(state.model_copy(update=remembered))
    current = state.current(role)
    if eob.status == "reversed" and current is None:
        return Transition(state.model_copy(update=remembered), moves_clock=True)  # nothing to withdraw

    # The new version as plain values; the new state is copied once, at the end, with its revision.
    withdrawn = current if eob.status == "reversed" else None
    arrived = None if withdrawn else eob
    primary = arrived if role == "primary" else state.primary
    secondary = arrived if role == "secondary" else state.secondary
    out = _Emitter(state, now, cause=eob.event_id)

    standing = state.standing_ready
    if standing is not None:
        out.emit(
            Draft(
                PatientBillingReady,
                {
                    **standing.model_dump(exclude={"event_id", "claim_id", "revision", "produced_at", "status"}),
                    "status": "voided",
                    "voids_event_id": standing.event_id,
                },
            )
        )
        if withdrawn is not None:
            out.emit(
                discrepancy(
                    f"{role}_reversed",
                    primary=primary,
                    secondary=secondary,
                    expected=None,
                    actual=secondary.total_paid if secondary else None,
                    line_ids=withdrawn.line_ids,
                )
            )
    if role == "primary" and not withdrawn and eob.secondary_payer_id is not None and not is_cob_order_denial(eob):
        out.emit(estimate(eob, secondary, ref))
    ready = None
    for draft in evaluate_version(primary, secondary, ref):
        emitted = out.emit(draft)
        if isinstance(emitted, PatientBillingReady):
            ready = emitted
    changes = {**remembered, role: arrived, "standing_ready": ready, "revision": out.revision}
    if role == "primary" and not withdrawn:
        changes["had_primary"] = True
    return Transition(state.model_copy(update=changes), out.outcomes, moves_clock=True)


def armed_timers(state: ClaimState) -> list[ArmedTimer]:
    """The timeouts this claim is waiting on, whatever the clock says."""
    timers = []
    primary, secondary = state.primary, state.secondary
    if (
        primary is not None
        and primary.secondary_payer_id is not None
        and secondary is None
        and not is_cob_order_denial(primary)
        and state.overdue_fired_for != primary.event_id
    ):
        # Interned: a worker's schedule holds one timer per waiting claim, a handful of payers.
        timers.append(ArmedTimer("secondary_overdue", primary.adjudicated_at, sys.intern(primary.secondary_payer_id)))
    if not state.had_primary and secondary is not None and state.orphan_fired_for != secondary.event_id:
        timers.append(ArmedTimer("orphan_secondary", secondary.adjudicated_at, sys.intern(secondary.payer_id)))
    return timers


def _fire_timers(state: ClaimState, ref: Reference, clock: datetime) -> Transition:
    due = [t for t in armed_timers(state) if t.deadline(ref) <= clock]
    if not due:
        return Transition(state)
    out = _Emitter(state, clock, cause="timer")
    changes: dict[str, object] = {}
    for timer in due:
        if timer.kind == "secondary_overdue":
            primary = state.primary
            assert primary is not None
            computed = compute_claim(primary, primary.secondary_payer_id, ref)
            out.emit(overdue_secondary(primary, computed.expected_secondary_paid))
            changes["overdue_fired_for"] = primary.event_id
        else:
            secondary = state.secondary
            assert secondary is not None
            out.emit(orphan_secondary(secondary))
            changes["orphan_fired_for"] = secondary.event_id
    changes["revision"] = out.revision
    return Transition(state.model_copy(update=changes), out.outcomes)


def step_or_forget(
    state: ClaimState | None, event: EobReceived | ClockTick, ref: Reference, now: datetime, retention: timedelta
) -> Transition | None:
    """`step` with the claim's retention, as the claims agent keeps claims: None when nothing is
    left of the claim (a tick for a claim already forgotten, or one whose retention has passed
    with nothing more to publish)."""
    if isinstance(event, ClockTick):
        if state is None:
            return None
        transition = step(state, event, ref, now)
        until = expires_at(transition.state, retention)
        if until is not None and until <= now and not transition.outcomes:
            return None
        return transition
    return step(state, event, ref, now)


def expires_at(state: ClaimState, retention: timedelta) -> datetime | None:
    """When a claim may be forgotten: `retention` after its last EOB, once no timeout is left to
    fire. Until then a correction or a late EOB finds the claim as it was."""
    if armed_timers(state) or state.last_event_at is None:
        return None
    return state.last_event_at + retention


__all__ = [
    "ArmedTimer",
    "ClaimState",
    "ClockTick",
    "EobReceived",
    "PaymentDiscrepancy",
    "Transition",
    "armed_timers",
    "expires_at",
    "step",
    "step_or_forget",
    "wait_of",
]
