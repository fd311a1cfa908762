"""A claim's discrepancies explained: why each was raised, with its figures, and the action to
take (COB_RULES.md section 6).

The discrepancies are the engine's own: those `models.cob.verdict.evaluate_version` raises for the
claim's current version, and the timeouts (`secondary_overdue`, `orphan_secondary`,
`primary_overdue`) that fired for its current EOBs and submission, built with
`models.cob.verdict.discrepancy`. Only the words are added here.
Pure like the rest of models/.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel

from models.cob.claim import ClaimState, wait_of
from models.cob.coverage import Coverage, disputes_submission, lines_off_submission
from models.cob.reference import PayerTerms, Reference
from models.cob.verdict import (
    ACTIONS,
    COB_ORDER_CODES,
    Draft,
    is_cob_order_denial,
    orphan_secondary,
    overdue_primary,
    overdue_secondary,
)
from models.contract.events import ClaimSubmission, EobEvent
from models.contract.outcomes import DiscrepancyKind, PaymentDiscrepancy
from models.contract.types import Money
from models.explain.formulas import EXPLANATION, money


@dataclass(frozen=True)
class _Claim:
    """The claim's current EOBs and its secondary payer's terms."""

    primary: EobEvent | None
    secondary: EobEvent | None
    submission: ClaimSubmission | None
    coverage: Coverage  # the claim's secondary payer and where it is known from
    terms: PayerTerms | None
    reference: Reference

    @property
    def payer(self) -> str | None:
        return self.coverage.payer

    @classmethod
    def of(cls, state: ClaimState, reference: Reference) -> _Claim:
        coverage = state.version.coverage
        terms = reference.terms(coverage.payer) if coverage.payer is not None else None
        return cls(state.primary, state.secondary, state.submission, coverage, terms, reference)


class DiscrepancyExplanation(BaseModel):
    """A discrepancy of the claim's current version, with why it was raised and what to do."""

    model_config = EXPLANATION

    kind: DiscrepancyKind
    blocking: bool
    expected_secondary_paid: Money | None
    actual_secondary_paid: Money | None
    difference: Money | None
    line_ids: tuple[str, ...]
    action: str
    why: str


def explain_discrepancies(
    state: ClaimState, reference: Reference, drafts: Iterable[Draft], estimate: Decimal | None
) -> tuple[DiscrepancyExplanation, ...]:
    """The discrepancies of the claim's current version (`drafts`: what `evaluate_version` made of
    it), then the timeouts that fired for its current EOBs; `estimate` is the expected secondary
    payment while no secondary EOB is in."""
    version = _Claim.of(state, reference)
    drafts = [d for d in drafts if d.model is PaymentDiscrepancy]
    primary, secondary = state.primary, state.secondary
    if primary is not None and secondary is None and version.payer and state.overdue_fired_for == primary.event_id:
        drafts.append(overdue_secondary(primary, estimate))
    if primary is None and secondary is not None and state.orphan_fired_for == secondary.event_id:
        drafts.append(orphan_secondary(secondary))
    submission = state.submission
    if primary is None and submission is not None and state.primary_overdue_fired_for == submission.event_id:
        drafts.append(overdue_primary(submission))
    return tuple(_explain_discrepancy(d, version) for d in drafts)


def _explain_discrepancy(draft: Draft, version: _Claim) -> DiscrepancyExplanation:
    fields = draft.fields
    return DiscrepancyExplanation(
        kind=fields["kind"],
        blocking=fields["blocking"],
        expected_secondary_paid=fields["expected_secondary_paid"],
        actual_secondary_paid=fields["actual_secondary_paid"],
        difference=fields["difference"],
        line_ids=fields["line_ids"],
        action=ACTIONS[fields["kind"]],
        why=_why(fields, version),
    )


def _why(fields: dict, version: _Claim) -> str:
    """Why a discrepancy was raised, with its figures (COB_RULES.md section 6)."""
    kind = fields["kind"]
    primary, secondary, terms = version.primary, version.secondary, version.terms
    expected, actual = fields["expected_secondary_paid"], fields["actual_secondary_paid"]
    lines = ", ".join(fields["line_ids"])
    if kind == "cob_order_dispute":
        return _cob_order_why(version, lines)
    if kind == "line_mismatch":
        return _line_mismatch_why(version)
    if kind in ("secondary_underpaid", "secondary_overpaid", "missing_primary_eob_denial"):
        assert terms is not None
        assert primary is not None
        band = terms.tolerance * len(primary.lines)
        more_or_less = "more" if kind == "secondary_overpaid" else "less"
        why = f"{terms.payer_id} paid {money(actual)}, {money(abs(actual - expected))} {more_or_less} than the "
        why += f"{money(expected)} expected, beyond the tolerance of {money(band)} ({money(terms.tolerance)} a line "
        why += f"x {len(primary.lines)} lines); lines off by more than {money(terms.tolerance)}: {lines or 'none'}"
        if kind == "missing_primary_eob_denial":
            why = f"{terms.payer_id} asked for the primary EOB (CARC 16 or RARC MA04); " + why
        return why
    if kind == "secondary_overdue":
        assert terms is not None
        assert primary is not None
        days = wait_of("secondary_overdue", terms).days
        return (
            f"no EOB from {terms.payer_id} {days} days after the primary's adjudication "
            f"({primary.adjudicated_at:%Y-%m-%d}); expected payment {money(expected)}"
        )
    if kind in ("coverage_unknown", "primary_overdue"):
        return _coverage_why(kind, version)
    if kind == "orphan_secondary":
        assert secondary is not None
        days = wait_of("orphan_secondary", version.reference.terms(secondary.payer_id)).days
        return (
            f"{secondary.payer_id}'s EOB of {secondary.adjudicated_at:%Y-%m-%d} has had no primary EOB for {days} days"
        )
    return ACTIONS[kind]


def _coverage_why(kind: str, version: _Claim) -> str:
    if kind == "coverage_unknown":
        return (
            "the primary EOB does not say whether the patient has a secondary payer (no crossover), and no claim "
            "submission or secondary EOB says it either: the patient is not billed until the coverage is known"
        )
    submission = version.submission
    assert submission is not None
    payer = submission.payer("primary")
    days = wait_of("primary_overdue", version.reference.terms(payer or "")).days
    return f"no EOB from {payer} {days} days after the claim was submitted ({submission.submitted_at:%Y-%m-%d})"


def _cob_order_why(version: _Claim, lines: str) -> str:
    primary, secondary, payer = version.primary, version.secondary, version.payer
    assert primary is not None
    if is_cob_order_denial(primary):
        return f"{primary.payer_id} denied the claim as not the primary payer (CARC 22 or 109) on lines {lines}"
    submission = version.submission
    if submission is not None and disputes_submission(primary, submission, version.reference):
        return _against_submission(primary, submission)
    assert secondary is not None
    if payer is None:
        source = _source_words(version.coverage)
        return f"the claim has no secondary payer ({source}), but {secondary.payer_id} sent a secondary EOB"
    if not version.reference.same_payer(secondary.payer_id, payer):
        return (
            f"the claim's secondary payer is {payer} ({_source_words(version.coverage)}), but the secondary EOB is "
            f"from {secondary.payer_id}: it "
            f"counts only as the actual payment; the expected payment is on {payer}'s terms"
        )
    codes = sorted({a.reason for ln in secondary.lines for a in ln.adjustments if a.reason in COB_ORDER_CODES})
    return f"{payer}'s EOB carries CARC {', '.join(codes)} (another payer may be primary) on lines {lines}"


def _against_submission(primary: EobEvent, submission: ClaimSubmission) -> str:
    listed_primary, listed_secondary = submission.payer("primary"), submission.payer("secondary")
    said = f"the claim was submitted with {listed_primary} as primary and {listed_secondary or 'no'} secondary"
    if primary.payer_id != listed_primary:
        return f"{said}, but the primary EOB is from {primary.payer_id}"
    named = primary.secondary_payer_id
    return f"{said}, but {primary.payer_id}'s EOB names {named or 'no'} secondary payer"


def _source_words(coverage: Coverage) -> str:
    return {
        "primary_eob": "as the primary EOB says",
        "submission": "as the claim was submitted",
        "secondary_eob": "from the secondary EOB",
        "unknown": "unknown",
    }[coverage.source]


def _line_mismatch_why(version: _Claim) -> str:
    """The mismatched secondary lines, then the primary lines off the submitted claim."""
    primary, secondary = version.primary, version.secondary
    assert primary is not None
    found = []
    for line in secondary.lines if secondary is not None else ():
        mine = primary.line(line.line_id)
        if mine is None:
            found.append(f"secondary line {line.line_id} has no primary line")
        elif mine.charge != line.charge:
            found.append(
                f"secondary line {line.line_id} charges {money(line.charge)}, the primary line {money(mine.charge)}"
            )
    submitted = {line.line_id: line for line in version.submission.lines} if version.submission else {}
    for line_id in lines_off_submission(primary, version.submission):
        billed, paid = submitted.get(line_id), primary.line(line_id)
        assert paid is not None
        if billed is None:
            found.append(f"primary line {line_id} is not on the submitted claim")
        else:
            found.append(
                f"primary line {line_id} charges {money(paid.charge)}, the submitted line {money(billed.charge)}"
            )
    return "; ".join(found)
