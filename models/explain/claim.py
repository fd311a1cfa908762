"""A claim explained: why its figures, its status and its discrepancies are what they are.

`explain_claim(state, reference)` takes a claim as the engine keeps it (`models.cob.claim.ClaimState`)
and runs its current version through the same functions that publish its outcomes
(`models.cob.settlement.compute_claim`, `models.cob.verdict.evaluate_version`), keeping every figure the
engine computes and saying, in the billing team's words, where each came from: the lines in
`models.explain.lines` (their formulas in `models.explain.formulas`), the discrepancies in
`models.explain.discrepancies`. Nothing here is a second copy of the rules: a figure is always
the engine's, only the words are added.

The reference data given is the one in force now; an outcome published under other payer terms
or fee schedules can differ, and the explanation then says so. Pure like the rest of models/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from models.cob.claim import ClaimState, armed_timers
from models.cob.coverage import Coverage, CoverageSource, tertiary_payer
from models.cob.reference import PayerTerms, Reference
from models.cob.settlement import ClaimComputation, compute_claim
from models.cob.verdict import Draft, evaluate_version, is_cob_order_denial
from models.contract.events import ClaimSubmission, CobMethod, CoverageRole, EobEvent, EobStatus, SubmissionFrequency
from models.contract.outcomes import PaymentDiscrepancy, SecondaryClaim, SecondaryClaimLine
from models.contract.types import Money, Rate, Timestamp
from models.explain.discrepancies import DiscrepancyExplanation, explain_discrepancies
from models.explain.formulas import EXPLANATION, METHOD_WORDS, LineContext, money
from models.explain.lines import LineExplanation, ReasonExplanation, explain_line, reasons

ClaimStatus = Literal[
    "ready",  # billing-ready: the secondary's EOB is in and nothing holds the bill
    "no_secondary_coverage",  # billing-ready: the patient has no secondary coverage
    "waiting_for_secondary",  # the primary is in; the figures are the estimate
    "waiting_for_primary",  # no primary EOB is current: a submission or a secondary EOB waits for it
    "discrepancy",  # a blocking discrepancy holds patient billing
    "no_current_eob",  # every EOB received was withdrawn by a reversal
]
# What the secondary payment S in the figures is: what the secondary paid, the estimate, none.
Basis = Literal["secondary_eob", "estimate", "no_secondary", "coverage_unknown", "no_primary"]

__all__ = ["ClaimExplanation", "ClaimStatus", "DiscrepancyExplanation", "LineExplanation", "explain_claim"]


class EobSummary(BaseModel):
    """One current EOB: who sent it, when, and what it paid in all."""

    model_config = EXPLANATION

    event_id: str
    payer_id: str
    status: EobStatus
    adjudicated_at: Timestamp
    paid: Money


class SubmittedPayer(BaseModel):
    """One payer of the submitted claim's coverage."""

    model_config = EXPLANATION

    payer_id: str
    role: CoverageRole


class SubmittedLineSummary(BaseModel):
    """A submitted line beside the primary EOB's line of the same id."""

    model_config = EXPLANATION

    line_id: str
    procedure_code: str
    service_date: str
    charge: Money
    primary_charge: Money | None  # None: the primary EOB does not carry this line (or is not in)


class SubmissionSummary(BaseModel):
    """The claim as submitted: when, how, to whom in COB order, and its lines."""

    model_config = EXPLANATION

    event_id: str
    submitted_at: Timestamp
    frequency: SubmissionFrequency
    coverage: tuple[SubmittedPayer, ...]
    lines: tuple[SubmittedLineSummary, ...]


COVERAGE_WORDS: dict[CoverageSource, str] = {
    "primary_eob": "the primary's EOB names it (a crossover; null: no secondary)",
    "submission": "the claim as submitted (837 or the billing system) lists it",
    "secondary_eob": "a payer adjudicated the claim as secondary",
    "unknown": "nothing says whether the patient has a secondary payer",
}


class SecondaryClaimSummary(BaseModel):
    """The standing secondary claim's content, without its stamp (revision, time): the same from
    replay and from a worker."""

    model_config = EXPLANATION

    event_id: str
    status: str
    secondary_payer_id: str
    primary_payer_id: str
    primary_event_id: str
    adjudicated_at: Timestamp
    lines: tuple[SecondaryClaimLine, ...]
    primary_paid: Money
    remaining_patient_liability: Money

    @classmethod
    def of(cls, sent: SecondaryClaim | None) -> SecondaryClaimSummary | None:
        if sent is None:
            return None
        return cls.model_validate(sent.model_dump(include=set(cls.model_fields)))


class SecondaryTerms(BaseModel):
    """The secondary payer's COB terms in force (its profile, or CONTRACT.md's defaults)."""

    model_config = EXPLANATION

    payer_id: str
    from_profile: bool
    cob_method: CobMethod
    method_meaning: str
    in_network: bool
    coinsurance_rate: Rate
    copay: Money
    covers_deductible: bool
    tolerance: Money
    secondary_wait_days: int
    primary_wait_days: int


class ClaimTotals(BaseModel):
    """Sums of the lines' rounded figures, as the billing-ready event carries them."""

    model_config = EXPLANATION

    total_charge: Money
    primary_paid: Money
    expected_secondary_paid: Money
    secondary_paid: Money | None  # None while no secondary EOB is in
    patient_responsibility: Money
    write_off: Money
    patient_reasons: tuple[ReasonExplanation, ...]


class ClaimExplanation(BaseModel):
    """Everything a billing clerk needs to see why a claim stands where it does."""

    model_config = EXPLANATION

    claim_id: str
    explained_at: Timestamp | None
    status: ClaimStatus
    status_text: str
    billing_ready: bool
    revision: int
    ready_event_id: str | None
    primary: EobSummary | None
    secondary: EobSummary | None
    secondary_payer_id: str | None
    coverage_source: CoverageSource  # where the secondary payer (or its absence) is known from
    coverage_text: str
    tertiary_payer_id: str | None
    submission: SubmissionSummary | None
    # The secondary claim that stands (COVERAGE.md section 5): what was (or is to be) sent to the
    # secondary with the primary's adjudication; answered once the secondary's EOB is in.
    secondary_claim: SecondaryClaimSummary | None
    secondary_terms: SecondaryTerms | None
    basis: Basis
    lines: tuple[LineExplanation, ...]
    totals: ClaimTotals | None
    discrepancies: tuple[DiscrepancyExplanation, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Version:
    """The claim's current version and what the engine makes of it."""

    state: ClaimState
    reference: Reference
    coverage: Coverage  # the claim's secondary payer (COVERAGE.md section 1)
    terms: PayerTerms | None
    computed: ClaimComputation | None
    drafts: tuple[Draft, ...]

    @property
    def payer(self) -> str | None:
        return self.coverage.payer

    @property
    def primary(self) -> EobEvent | None:
        return self.state.primary

    @property
    def secondary(self) -> EobEvent | None:
        return self.state.secondary


def _version(state: ClaimState, reference: Reference) -> _Version:
    primary, secondary = state.primary, state.secondary
    coverage = state.version.coverage
    payer = coverage.payer
    computed = None
    if primary is not None and payer is None:
        computed = compute_claim(primary, None, reference)
    elif primary is not None:
        # As the engine does: the estimate without use_actual, the reconciliation with it.
        computed = compute_claim(primary, payer, reference, secondary, use_actual=secondary is not None)
    drafts = tuple(evaluate_version(state.version, reference))
    terms = reference.terms(payer) if payer is not None else None
    return _Version(state, reference, coverage, terms, computed, drafts)


def explain_claim(state: ClaimState, reference: Reference, now: datetime | None = None) -> ClaimExplanation:
    """Explain a claim's current version with the reference data in force; `now` is when (the
    clock that timeouts are judged by: event time in replay, the wall clock in the worker)."""
    version = _version(state, reference)
    estimate = version.computed.expected_secondary_paid if version.computed is not None else None
    discrepancies = explain_discrepancies(state, reference, version.drafts, estimate)
    status, status_text = _status(version, discrepancies)
    standing = state.standing_ready
    return ClaimExplanation(
        claim_id=state.claim_id,
        explained_at=now,
        status=status,
        status_text=status_text,
        billing_ready=status in ("ready", "no_secondary_coverage"),
        revision=state.revision,
        ready_event_id=standing.event_id if standing is not None else None,
        primary=_summary(version.primary),
        secondary=_summary(version.secondary),
        secondary_payer_id=version.payer,
        coverage_source=version.coverage.source,
        coverage_text=COVERAGE_WORDS[version.coverage.source],
        tertiary_payer_id=tertiary_payer(state.submission),
        submission=_submitted(state.submission, state.primary),
        secondary_claim=SecondaryClaimSummary.of(state.standing_secondary_claim),
        secondary_terms=_terms(version),
        basis=_basis(version),
        lines=_lines(version),
        totals=_totals(version),
        discrepancies=discrepancies,
        notes=_notes(version, now),
    )


def _summary(eob: EobEvent | None) -> EobSummary | None:
    if eob is None:
        return None
    return EobSummary(
        event_id=eob.event_id,
        payer_id=eob.payer_id,
        status=eob.status,
        adjudicated_at=eob.adjudicated_at,
        paid=eob.total_paid,
    )


def _submitted(submission: ClaimSubmission | None, primary: EobEvent | None) -> SubmissionSummary | None:
    if submission is None:
        return None
    billed = {line.line_id: line.charge for line in primary.lines} if primary is not None else {}
    return SubmissionSummary(
        event_id=submission.event_id,
        submitted_at=submission.submitted_at,
        frequency=submission.frequency,
        coverage=tuple(SubmittedPayer(payer_id=c.payer_id, role=c.role) for c in submission.coverage),
        lines=tuple(
            SubmittedLineSummary(
                line_id=line.line_id,
                procedure_code=line.procedure_code,
                service_date=line.service_date.isoformat(),
                charge=line.charge,
                primary_charge=billed.get(line.line_id),
            )
            for line in submission.lines
        ),
    )


def _terms(version: _Version) -> SecondaryTerms | None:
    terms = version.terms
    if terms is None:
        return None
    return SecondaryTerms(
        payer_id=terms.payer_id,
        from_profile=version.reference.profile_of(terms.payer_id) is not None,
        cob_method=terms.cob_method,
        method_meaning=METHOD_WORDS[terms.cob_method],
        in_network=terms.in_network,
        coinsurance_rate=terms.coinsurance_rate,
        copay=terms.copay,
        covers_deductible=terms.covers_deductible,
        tolerance=terms.tolerance,
        secondary_wait_days=terms.secondary_wait_days,
        primary_wait_days=terms.primary_wait_days,
    )


def _basis(version: _Version) -> Basis:
    if version.primary is None:
        return "no_primary"
    if not version.coverage.known:
        return "coverage_unknown"
    if version.payer is None:
        return "no_secondary"
    return "estimate" if version.secondary is None else "secondary_eob"


def _lines(version: _Version) -> tuple[LineExplanation, ...]:
    if version.computed is None or version.primary is None:
        return ()
    estimating = version.secondary is None
    return tuple(
        explain_line(result, LineContext(version.primary, line, version.secondary, version.terms, estimating))
        for result, line in zip(version.computed.lines, version.primary.lines, strict=True)
    )


def _totals(version: _Version) -> ClaimTotals | None:
    computed = version.computed
    if computed is None:
        return None
    estimate = version.payer is not None and version.secondary is None
    return ClaimTotals(
        total_charge=computed.total_charge,
        primary_paid=computed.primary_paid,
        expected_secondary_paid=computed.expected_secondary_paid,
        secondary_paid=None if estimate else computed.secondary_paid,
        patient_responsibility=computed.patient_responsibility,
        write_off=computed.write_off,
        patient_reasons=reasons(computed.patient_reasons),
    )


def _status(version: _Version, discrepancies: tuple[DiscrepancyExplanation, ...]) -> tuple[ClaimStatus, str]:
    primary, secondary, payer = version.primary, version.secondary, version.payer
    if primary is None:
        submission = version.state.submission
        if secondary is None and submission is not None:
            return "waiting_for_primary", (
                f"Submitted to {submission.payer('primary')} on {submission.submitted_at:%Y-%m-%d}: waiting for the "
                "primary EOB."
            )
        if secondary is None:
            return "no_current_eob", "No current EOB: the EOBs received were withdrawn by reversals."
        if version.state.had_primary:
            return "waiting_for_primary", (
                "The primary EOB was reversed: waiting for the corrected primary EOB (the secondary EOB is kept)."
            )
        return "waiting_for_primary", (
            f"Only {secondary.payer_id}'s secondary EOB is in: waiting for the primary EOB; nothing can be computed "
            "without it."
        )
    blocking = [d.kind for d in discrepancies if d.blocking]
    if blocking:
        held = f"Patient billing is on hold until this is resolved: {', '.join(blocking)}."
        return "discrepancy", held + (" The figures use what the secondary paid." if secondary else "")
    if any(d.model is not PaymentDiscrepancy for d in version.drafts):  # the ready draft
        if payer is None:
            return "no_secondary_coverage", (
                "Ready for patient billing: no secondary coverage, the patient owes the primary's patient "
                "responsibility."
            )
        return "ready", f"Ready for patient billing: {payer}'s payment is in and agrees with the expected payment."
    overdue = " It is overdue: follow up." if discrepancies else ""
    return "waiting_for_secondary", (
        f"Waiting for {payer}'s EOB: the figures are the estimate, with the expected payment as S.{overdue}"
    )


def _notes(version: _Version, now: datetime | None) -> tuple[str, ...]:
    notes = []
    terms, primary, secondary = version.terms, version.primary, version.secondary
    if primary is not None and is_cob_order_denial(primary):
        notes.append(
            "The primary denied the claim as not the primary payer: the figures are what would apply if it were; "
            "nothing is billed until the COB order is settled."
        )
    if primary is not None and not version.coverage.known:
        notes.append(
            "Nothing says whether the patient has a secondary payer: the figures are what the patient would owe "
            "if there were none (the reason `no_secondary_coverage` is that assumption); nothing is billed until "
            "the coverage is known."
        )
    if terms is not None and version.reference.profile_of(terms.payer_id) is None:
        notes.append(f"{terms.payer_id} has no payer profile: CONTRACT.md's default terms apply.")
    if primary is not None and secondary is not None:
        extra = [line.line_id for line in secondary.lines if primary.line(line.line_id) is None]
        if extra:
            which = f"line {extra[0]} has" if len(extra) == 1 else f"lines {', '.join(extra)} have"
            notes.append(f"Secondary {which} no primary line: not in the totals.")
    for timer in armed_timers(version.state):
        deadline = timer.deadline(version.reference)
        what = f"{timer.payer_id}'s EOB" if timer.kind != "orphan_secondary" else "The primary EOB"
        when = "was due" if now is not None and deadline <= now else "is expected by"
        notes.append(f"{what} {when} {deadline:%Y-%m-%d %H:%M} UTC; after that a {timer.kind} is raised.")
    notes += _published_differs(version)
    return tuple(notes)


def _published_differs(version: _Version) -> list[str]:
    """A billing-ready event published under other reference data than today's says other figures."""
    standing, computed = version.state.standing_ready, version.computed
    if standing is None or computed is None:
        return []
    published = (standing.secondary_paid, standing.patient_responsibility, standing.write_off)
    now = (computed.secondary_paid, computed.patient_responsibility, computed.write_off)
    if published == now:
        return []
    return [
        f"The billing-ready event {standing.event_id} was published with other reference data: secondary paid "
        f"{money(published[0])}, patient {money(published[1])}, write-off {money(published[2])}; today's payer "
        "terms and fee schedules give the figures above."
    ]
