"""The claim state and the one function that moves it: COB_RULES.md section 7 and COVERAGE.md.

`step(state, event, ref, now)` applies one EOB (processed, denied or reversed), one claim
submission (original, replacement or void) or one clock tick to a claim and returns the new
state with the outcomes to publish, in emission order. The stream agents and the replay
command both call it; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from models.cob.coverage import Coverage
from models.cob.reference import PayerTerms, Reference
from models.cob.secondary_claim import open_claim, replaced_claim, secondary_claim_payer, still_holds
from models.cob.settlement import compute_claim
from models.cob.verdict import (
    Draft,
    Version,
    discrepancy,
    estimate,
    evaluate_version,
    is_cob_order_denial,
    orphan_secondary,
    overdue_primary,
    overdue_secondary,
)
from models.contract.events import ClaimSubmission, EobEvent, Role
from models.contract.outcomes import Outcome, PatientBillingReady, PaymentDiscrepancy, SecondaryClaim, build_outcome

TimerKind = Literal["orphan_secondary", "primary_overdue", "secondary_overdue"]


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
    # COVERAGE.md: the claim as submitted. Absent from records written before submissions,
    # which read as claims that never had one.
    submission: ClaimSubmission | None = None
    seen_submission_ids: tuple[str, ...] = ()
    primary_overdue_fired_for: str | None = None
    standing_secondary_claim: SecondaryClaim | None = None  # COVERAGE.md section 5

    def current(self, role: Role) -> EobEvent | None:
        return self.primary if role == "primary" else self.secondary

    @property
    def version(self) -> Version:
        return Version(self.primary, self.secondary, self.submission)


@dataclass(frozen=True, slots=True)
class EobReceived:
    """An EOB accepted by validation, from the topic that gives its role. `role` None: an 835
    denial or reversal whose file does not tell its payer's role; the claim's submission does
    (COVERAGE.md), or the EOB is refused."""

    role: Role | None
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
    # Why the event cannot be applied (an EOB whose role nothing tells): the driver dead-letters
    # it, and the claim is as it was (the id is not remembered, so it may come again).
    refused: str | None = None


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


def _voided(standing: PatientBillingReady) -> Draft:
    """The voided copy of a ready event that no longer holds (COB_RULES.md section 7)."""
    return Draft(
        PatientBillingReady,
        {
            **standing.model_dump(exclude={"event_id", "claim_id", "revision", "produced_at", "status"}),
            "status": "voided",
            "voids_event_id": standing.event_id,
        },
    )


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


ClaimInput = EobReceived | SubmissionReceived | ClockTick


def step(state: ClaimState | None, event: ClaimInput, ref: Reference, now: datetime) -> Transition:
    """Apply one event to a claim (None: a claim never seen) and return what follows from it.

    `now` stamps the outcomes: event time in replay, the record's time in the worker; for a
    clock tick it is also the time the timers are checked against.
    """
    if isinstance(event, ClockTick):
        assert state is not None, "a clock tick needs an existing claim"
        return _fire_timers(state, ref, now)
    if isinstance(event, SubmissionReceived):
        if state is None:
            state = ClaimState(claim_id=event.submission.claim_id)
        return _apply_submission(state, event.submission, ref, now)
    if state is None:
        state = ClaimState(claim_id=event.eob.claim_id)
    role = event.role
    if role is None:
        role, why = role_by_coverage(state, event.eob, ref)
        if role is None:
            return Transition(state, refused=why)
    return _apply_eob(state, role, event.eob, ref, now)


def role_by_coverage(state: ClaimState, eob: EobEvent, ref: Reference) -> tuple[Role | None, str]:
    """The role of a payer's denial or reversal whose own file does not tell it: the place the
    claim's current submission gives the payer (through aliases); else None and why not."""
    submission = state.submission
    said = f"{eob.payer_id}'s {eob.status} EOB does not say whether {eob.payer_id} is the primary or the secondary"
    if submission is None:
        return None, f"{said}, and the claim has no submission to tell it: publish the claim's 837 or submission first"
    for entry in submission.coverage:
        if entry.role != "tertiary" and ref.same_payer(entry.payer_id, eob.payer_id):
            return entry.role, ""  # type: ignore[return-value]
    listed = ", ".join(f"{entry.payer_id} ({entry.role})" for entry in submission.coverage)
    return None, f"{said}, and the claim's submission does not list {eob.payer_id} as either (it lists {listed})"


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

    version = Version(primary, secondary, state.submission)
    standing = state.standing_ready
    if standing is not None:
        out.emit(_voided(standing))
    claim_sent = _replace_secondary_claim(state.standing_secondary_claim, version, ref, out)
    if standing is not None and withdrawn is not None:
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
    if role == "primary" and not withdrawn and not is_cob_order_denial(eob):
        payer = version.coverage.payer
        if payer is not None:
            out.emit(estimate(eob, payer, secondary, ref))
            claim_sent = _open_secondary_claim(claim_sent, version, out)
    changes = {
        **remembered,
        role: arrived,
        "standing_secondary_claim": claim_sent,
        "standing_ready": _evaluate(version, ref, out),
        "revision": out.revision,
    }
    if role == "primary" and not withdrawn:
        changes["had_primary"] = True
    return Transition(state.model_copy(update=changes), out.outcomes, moves_clock=True)


def _evaluate(version: Version, ref: Reference, out: _Emitter) -> PatientBillingReady | None:
    """Emit what a new claim version raises; return its ready event, the one that now stands."""
    ready = None
    for draft in evaluate_version(version, ref):
        emitted = out.emit(draft)
        if isinstance(emitted, PatientBillingReady):
            ready = emitted
    return ready


def _apply_submission(state: ClaimState, submission: ClaimSubmission, ref: Reference, now: datetime) -> Transition:
    """A submission, replacement or void: a new claim version whenever the current submission
    changes (COVERAGE.md section 1, "Versions")."""
    if submission.event_id in state.seen_submission_ids:
        return Transition(state)
    remembered: dict[str, object] = {
        "seen_submission_ids": (*state.seen_submission_ids, submission.event_id),
        "last_event_at": now,
    }
    voids = submission.frequency == "void"
    if voids and state.submission is None:
        return Transition(state.model_copy(update=remembered), moves_clock=True)  # nothing to withdraw
    current = None if voids else submission
    version = Version(state.primary, state.secondary, current)
    out = _Emitter(state, now, cause=f"submission:{submission.event_id}")
    if state.standing_ready is not None:
        out.emit(_voided(state.standing_ready))
    claim_sent = _replace_secondary_claim(state.standing_secondary_claim, version, ref, out)
    payer = _newly_known_payer(state.version.coverage, version, ref)
    if payer is not None:
        out.emit(estimate(state.primary, payer, state.secondary, ref))  # type: ignore[arg-type]
        claim_sent = _open_secondary_claim(claim_sent, version, out)
    changes = {
        **remembered,
        "submission": current,
        "standing_secondary_claim": claim_sent,
        "standing_ready": _evaluate(version, ref, out),
        "revision": out.revision,
    }
    return Transition(state.model_copy(update=changes), out.outcomes, moves_clock=True)


def _replace_secondary_claim(
    standing: SecondaryClaim | None, version: Version, ref: Reference, out: _Emitter
) -> SecondaryClaim | None:
    """The secondary claim that stands for the new version: the one standing, when it still
    holds; else its `replaced` copy is emitted and none stands."""
    if standing is None or still_holds(standing, version, ref):
        return standing
    out.emit(replaced_claim(standing))
    return None


def _open_secondary_claim(standing: SecondaryClaim | None, version: Version, out: _Emitter) -> SecondaryClaim | None:
    """At an estimate moment: an `open` secondary claim when the version has one and the very
    same one does not already stand."""
    payer = secondary_claim_payer(version)
    if payer is None or standing is not None or version.primary is None:
        return standing
    emitted = out.emit(open_claim(version.primary, payer))
    assert isinstance(emitted, SecondaryClaim)
    return emitted


def _newly_known_payer(before: Coverage, version: Version, ref: Reference) -> str | None:
    """The secondary payer a submission makes known, when it changes the claim's secondary payer
    to a payer while the current primary EOB (in, not a COB-order denial) leaves it unstated: an
    estimate is due for it ("Estimate on a submission")."""
    primary = version.primary
    if primary is None or primary.states_secondary or is_cob_order_denial(primary):
        return None
    payer = version.coverage.payer
    if payer is None or (before.payer is not None and ref.same_payer(before.payer, payer)):
        return None
    return payer


def armed_timers(state: ClaimState) -> list[ArmedTimer]:
    """The timeouts this claim is waiting on, whatever the clock says."""
    timers = []
    primary, secondary, submission = state.primary, state.secondary, state.submission
    if primary is not None and secondary is None and not is_cob_order_denial(primary):
        payer = state.version.coverage.payer
        if payer is not None and state.overdue_fired_for != primary.event_id:
            # Interned: a worker's schedule holds one timer per waiting claim, a handful of payers.
            timers.append(ArmedTimer("secondary_overdue", primary.adjudicated_at, sys.intern(payer)))
    if not state.had_primary and secondary is not None and state.orphan_fired_for != secondary.event_id:
        timers.append(ArmedTimer("orphan_secondary", secondary.adjudicated_at, sys.intern(secondary.payer_id)))
    if submission is not None and primary is None and state.primary_overdue_fired_for != submission.event_id:
        payer = submission.payer("primary")
        assert payer is not None  # a valid submission names exactly one primary
        timers.append(ArmedTimer("primary_overdue", submission.submitted_at, sys.intern(payer)))
    return timers


def _fire_timers(state: ClaimState, ref: Reference, clock: datetime) -> Transition:
    # Due timers in deadline order; one deadline: in the order of the kinds' names (COVERAGE.md).
    due = sorted((t for t in armed_timers(state) if t.deadline(ref) <= clock), key=lambda t: (t.deadline(ref), t.kind))
    if not due:
        return Transition(state)
    out = _Emitter(state, clock, cause="timer")
    changes: dict[str, object] = {}
    for timer in due:
        if timer.kind == "secondary_overdue":
            primary = state.primary
            assert primary is not None
            computed = compute_claim(primary, timer.payer_id, ref)
            out.emit(overdue_secondary(primary, computed.expected_secondary_paid))
            changes["overdue_fired_for"] = primary.event_id
        elif timer.kind == "primary_overdue":
            submission = state.submission
            assert submission is not None
            out.emit(overdue_primary(submission))
            changes["primary_overdue_fired_for"] = submission.event_id
        else:
            secondary = state.secondary
            assert secondary is not None
            out.emit(orphan_secondary(secondary))
            changes["orphan_fired_for"] = secondary.event_id
    changes["revision"] = out.revision
    return Transition(state.model_copy(update=changes), out.outcomes)


def step_or_forget(
    state: ClaimState | None, event: ClaimInput, ref: Reference, now: datetime, retention: timedelta
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
    "ClaimInput",
    "ClaimState",
    "ClockTick",
    "EobReceived",
    "PaymentDiscrepancy",
    "SubmissionReceived",
    "Transition",
    "armed_timers",
    "expires_at",
    "step",
    "step_or_forget",
    "wait_of",
]
