"""What one claim version says, COB_RULES.md section 6: discrepancies, the estimate, the ready event.

Every function returns drafts: outcome fields without the stamp (event id, revision, time) that
`models.cob.claim` adds when it emits them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from models.cob.coverage import Coverage, claim_coverage, disputes_submission, lines_off_submission, tertiary_payer
from models.cob.reference import Reference
from models.cob.settlement import ClaimComputation, compute_claim
from models.cob.write_offs import write_off_reasons
from models.contract.events import ClaimSubmission, EobEvent
from models.contract.outcomes import (
    ExpectedSecondaryPayment,
    Outcome,
    PatientBillingReady,
    PaymentDiscrepancy,
)

COB_ORDER_CODES = frozenset({"22", "109"})
MISSING_PRIMARY_CODES = frozenset({"16"})
MISSING_PRIMARY_REMARK = "MA04"

ACTIONS = {
    "cob_order_dispute": "Verify COB order and coverage with the patient and both payers, then rebill.",
    "missing_primary_eob_denial": "Resubmit the secondary claim with the primary EOB attached.",
    "secondary_underpaid": "Appeal, or ask the secondary to reprocess with the primary EOB.",
    "secondary_overpaid": "Review the secondary payment; a refund may be owed.",
    "line_mismatch": "Check the secondary claim's lines against the primary claim's lines.",
    "secondary_overdue": "Follow up with the secondary payer before its timely filing limit.",
    "orphan_secondary": "Find the primary EOB for this claim and check the COB order.",
    "primary_reversed": "The billing-ready event is voided; wait for the corrected primary EOB.",
    "secondary_reversed": "The billing-ready event is voided; wait for the corrected secondary EOB.",
    "coverage_unknown": "Verify the patient's coverage and COB status, then publish the claim's submission"
    " (or the 837) with its coverage.",
    "primary_overdue": "Follow up with the primary payer before its timely filing limit.",
}
BLOCKING = frozenset(
    {
        "cob_order_dispute",
        "missing_primary_eob_denial",
        "secondary_underpaid",
        "secondary_overpaid",
        "line_mismatch",
        "coverage_unknown",
    }
)


@dataclass(frozen=True)
class Draft:
    """An outcome's fields before `models.cob.claim` stamps it."""

    model: type[Outcome]
    fields: dict[str, Any]

    @property
    def blocking(self) -> bool:
        return bool(self.fields.get("blocking"))


def is_cob_order_denial(primary: EobEvent) -> bool:
    """A primary that denied the claim because another payer should be primary (CARC 22/109)."""
    return primary.status == "denied" and any(line.carries(COB_ORDER_CODES) for line in primary.lines)


def discrepancy(
    kind: str,
    *,
    primary: EobEvent | None,
    secondary: EobEvent | None,
    expected: Decimal | None,
    actual: Decimal | None,
    line_ids: list[str],
) -> Draft:
    return Draft(
        PaymentDiscrepancy,
        {
            "kind": kind,
            "blocking": kind in BLOCKING,
            "expected_secondary_paid": expected,
            "actual_secondary_paid": actual,
            "difference": actual - expected if expected is not None and actual is not None else None,
            "line_ids": tuple(line_ids),
            "action": ACTIONS[kind],
            "primary_event_id": primary.event_id if primary else None,
            "secondary_event_id": secondary.event_id if secondary else None,
        },
    )


def overdue_secondary(primary: EobEvent, expected: Decimal | None) -> Draft:
    """The secondary EOB did not come in time (the primary's timeout fired); `expected` is the
    estimated secondary payment."""
    return discrepancy(
        "secondary_overdue", primary=primary, secondary=None, expected=expected, actual=None, line_ids=primary.line_ids
    )


def overdue_primary(submission: ClaimSubmission) -> Draft:
    """No primary EOB came in time after the claim was submitted (the submission's timeout fired)."""
    return discrepancy(
        "primary_overdue", primary=None, secondary=None, expected=None, actual=None, line_ids=submission.line_ids
    )


def orphan_secondary(secondary: EobEvent) -> Draft:
    """A secondary EOB whose primary never came (its timeout fired)."""
    return discrepancy(
        "orphan_secondary",
        primary=None,
        secondary=secondary,
        expected=None,
        actual=secondary.total_paid,
        line_ids=secondary.line_ids,
    )


def estimate(primary: EobEvent, payer: str, secondary: EobEvent | None, ref: Reference) -> Draft:
    """`secondary.expected` for the claim's secondary payer `payer`, when a primary became current
    or a submission made the payer known."""
    computed = compute_claim(primary, payer, ref, secondary)
    return Draft(
        ExpectedSecondaryPayment,
        {
            "secondary_payer_id": payer,
            "cob_method": computed.terms.cob_method,  # type: ignore[union-attr]
            "allowable_source": computed.allowable_source,
            "expected_secondary_paid": computed.expected_secondary_paid,
            "expected_patient_responsibility": computed.patient_responsibility,
            "lines": tuple(
                {
                    "line_id": r.primary.line_id,
                    "allowable_source": r.allowable.source,
                    "secondary_allowable": r.allowable.amount,
                    "secondary_benefit": r.benefit,
                    "expected_secondary_paid": r.expected_paid,
                    "expected_patient_responsibility": r.patient,
                    "primary_allowed": r.primary.primary_allowed,
                    "collectible_limit": r.limit,
                }
                for r in computed.lines
            ),
        },
    )


def ready(primary: EobEvent, computed: ClaimComputation, tertiary: str | None) -> Draft:
    terms = computed.terms
    return Draft(
        PatientBillingReady,
        {
            "status": "ready",
            "primary_payer_id": primary.payer_id,
            "secondary_payer_id": terms.payer_id if terms else None,
            "tertiary_payer_id": tertiary,
            "cob_method": terms.cob_method if terms else None,
            "total_charge": computed.total_charge,
            "primary_paid": computed.primary_paid,
            "secondary_paid": computed.secondary_paid,
            "expected_secondary_paid": computed.expected_secondary_paid,
            "patient_responsibility": computed.patient_responsibility,
            "write_off": computed.write_off,
            "patient_reasons": computed.patient_reasons,
            "lines": tuple(
                {
                    "line_id": r.primary.line_id,
                    "charge": r.primary.charge,
                    "primary_paid": r.primary.primary_paid,
                    "secondary_paid": r.secondary_paid,
                    "expected_secondary_paid": r.expected_paid,
                    "patient_responsibility": r.patient,
                    "write_off": r.write_off,
                    "patient_reasons": r.patient_reasons,
                    "write_off_reasons": write_off_reasons(line, r, terms),
                }
                for r, line in zip(computed.lines, primary.lines, strict=True)
            ),
        },
    )


class Version(NamedTuple):
    """A claim version (COVERAGE.md section 1): its current submission, primary and secondary EOB."""

    primary: EobEvent | None
    secondary: EobEvent | None
    submission: ClaimSubmission | None = None

    @property
    def coverage(self) -> Coverage:
        return claim_coverage(self.primary, self.secondary, self.submission)


def evaluate_version(version: Version, ref: Reference) -> list[Draft]:
    """Every discrepancy a claim version raises, then its ready event when nothing blocks.

    Order: `line_mismatch`, `coverage_unknown`, then at most one money kind
    (`cob_order_dispute`, `missing_primary_eob_denial`, `secondary_underpaid`,
    `secondary_overpaid`), then ready.
    """
    primary, secondary, submission = version
    if primary is None:
        return []  # a secondary or a submission waits for its primary (the timers watch them)
    coverage = version.coverage
    computed = _reconciled(primary, secondary, coverage.payer, ref)
    # With a secondary payer: what the secondary paid on the primary's lines (COB_RULES.md section 6).
    actual = None if secondary is None else (computed.secondary_paid if computed else secondary.total_paid)
    drafts: list[Draft] = []

    def flag(kind: str, line_ids: list[str], *, with_expected: bool = True) -> None:
        """Add one discrepancy of `kind` on `line_ids` to this version's drafts; its expected
        payment is the version's (the estimate while no secondary EOB is in, computed only then)."""
        shown = None
        if with_expected and coverage.payer is not None:
            figures = computed or compute_claim(primary, coverage.payer, ref)
            shown = figures.expected_secondary_paid
        drafts.append(
            discrepancy(kind, primary=primary, secondary=secondary, expected=shown, actual=actual, line_ids=line_ids)
        )

    if mismatched := _mismatched_lines(primary, secondary) + lines_off_submission(primary, submission):
        flag("line_mismatch", mismatched)
    cob_order_denial = is_cob_order_denial(primary)
    if not coverage.known and not cob_order_denial:
        drafts.append(_coverage_unknown(primary))
    _cob_order_or_money(version, coverage, computed, ref, flag)
    if any(d.blocking for d in drafts) or cob_order_denial:
        return drafts
    if secondary is None and coverage.payer is None:
        drafts.append(ready(primary, compute_claim(primary, None, ref), tertiary_payer(submission)))
    elif secondary is not None:
        drafts.append(ready(primary, computed, tertiary_payer(submission)))  # type: ignore[arg-type]
    return drafts


def _reconciled(
    primary: EobEvent, secondary: EobEvent | None, payer: str | None, ref: Reference
) -> ClaimComputation | None:
    """The version's figures with the secondary EOB in hand (None without a secondary payer, or
    while no secondary EOB is in)."""
    if payer is None or secondary is None:
        return None
    return compute_claim(primary, payer, ref, secondary, use_actual=True)


def _coverage_unknown(primary: EobEvent) -> Draft:
    """Nothing says whether the claim has a secondary: held, on every primary line (COVERAGE.md)."""
    return discrepancy(
        "coverage_unknown", primary=primary, secondary=None, expected=None, actual=None, line_ids=primary.line_ids
    )


def _mismatched_lines(primary: EobEvent, secondary: EobEvent | None) -> list[str]:
    """The secondary EOB's lines with no primary line of their id, or another charge."""
    if secondary is None:
        return []
    charges = {line.line_id: line.charge for line in primary.lines}
    return [line.line_id for line in secondary.lines if charges.get(line.line_id) != line.charge]


def _cob_order_or_money(
    version: Version,
    coverage: Coverage,
    computed: ClaimComputation | None,
    ref: Reference,
    flag: Callable[..., None],
) -> None:
    """At most one money kind, the first that applies: a COB-order dispute (the primary's denial,
    the primary against the submission, the secondary's payer, the secondary's codes), then a
    missing-primary denial, underpaid or overpaid."""
    primary, secondary, submission = version
    assert primary is not None
    payer = coverage.payer
    if is_cob_order_denial(primary):
        flag("cob_order_dispute", _carrying(primary, COB_ORDER_CODES), with_expected=False)
    elif disputes_submission(primary, submission, ref):
        flag("cob_order_dispute", primary.line_ids)
    elif secondary is None:
        return
    elif payer is None:
        flag("cob_order_dispute", secondary.line_ids, with_expected=False)
    elif not ref.same_payer(secondary.payer_id, payer):
        flag("cob_order_dispute", secondary.line_ids)
    elif coded := _carrying(secondary, COB_ORDER_CODES):
        flag("cob_order_dispute", coded)
    else:
        _money_discrepancy(computed, secondary, flag)  # type: ignore[arg-type]


def _money_discrepancy(computed: ClaimComputation, secondary: EobEvent, flag: Callable[[str, list[str]], None]) -> None:
    """Flag an underpaid (or missing-primary-denial) or overpaid secondary beyond the tolerance."""
    tolerance = computed.terms.tolerance  # type: ignore[union-attr]
    band = tolerance * len(computed.lines)
    expected, actual = computed.expected_secondary_paid, computed.secondary_paid
    off = [r.primary.line_id for r in computed.lines if abs(r.secondary_paid - r.expected_paid) > tolerance]
    if actual < expected - band:
        asked_for_primary = any(line.carries(MISSING_PRIMARY_CODES) for line in secondary.lines) or any(
            MISSING_PRIMARY_REMARK in line.remarks for line in secondary.lines
        )
        flag("missing_primary_eob_denial" if asked_for_primary else "secondary_underpaid", off)
    elif actual > expected + band:
        flag("secondary_overpaid", off)


def _carrying(eob: EobEvent, codes: frozenset[str]) -> list[str]:
    return [line.line_id for line in eob.lines if line.carries(codes)]
