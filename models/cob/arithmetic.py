"""COB arithmetic, COB_RULES.md sections 2 to 4: per line, pure, every intermediate kept.

Names follow the spec: C charge, P1 primary paid, PR1 the primary's patient responsibility,
A1/A2 the primary/secondary allowable, K1 what the provider may collect after the primary,
B2 the secondary's normal benefit, S the secondary payment, K the ceiling on all payments.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Literal, NamedTuple

from models.cob.reference import PayerTerms
from models.contract.events import ServiceLine
from models.contract.outcomes import PATIENT_REASON_ORDER, AllowableSource
from models.contract.types import ZERO, round_cents

NON_COVERED = frozenset({"96", "204"})
OUT_OF_NETWORK = frozenset({"242", "243"})
DEDUCTIBLE, COINSURANCE, COPAY = "1", "2", "3"
NETWORK_METHODS = frozenset({"lesser_of_allowables", "standard", "non_duplication"})

Denial = Literal["non_covered", "out_of_network"]


# The per-line values are named tuples: immutable like a frozen dataclass, and built several
# times faster (a claim computes these for every line, twice).
class PrimaryLine(NamedTuple):
    """The primary's side of a line: C, P1, PR1, A1, K1 and the PR adjustments by CARC."""

    line_id: str
    charge: Decimal
    primary_paid: Decimal
    primary_patient: Decimal  # PR1
    primary_allowed: Decimal  # A1
    primary_reasons: tuple[str, ...]  # PR CARCs with a non-zero amount
    deductible: Decimal
    coinsurance_and_copay: Decimal

    @property
    def collectible(self) -> Decimal:  # K1
        return self.primary_paid + self.primary_patient

    @classmethod
    def of(cls, line: ServiceLine) -> PrimaryLine:
        # One pass over the adjustments: PR1, its deductible and cost-sharing parts, its CARCs.
        # A negative PR amount lowers the sums; PR1 is floored at 0 (section 2), the parts are
        # floored where the supplemental method adds them up. Negative CO, OA, PI and CR amounts
        # enter no formula: they only balance the line.
        patient = deductible = cost_sharing = ZERO
        reasons = []
        for adjustment in line.adjustments:
            if adjustment.group == "PR":
                amount, reason = adjustment.amount, adjustment.reason
                patient += amount
                if reason == DEDUCTIBLE:
                    deductible += amount
                elif reason in (COINSURANCE, COPAY):
                    cost_sharing += amount
                if amount > 0:
                    reasons.append(reason)
        if patient < 0:
            patient = ZERO
        allowed, paid = line.allowed, line.paid
        # An allowed of 0.00 on a line paid 0.00 counts as not given (COB_RULES.md section 2).
        primary_allowed = allowed if allowed is not None and not (allowed == 0 and paid == 0) else paid + patient
        return cls(line.line_id, line.charge, paid, patient, primary_allowed, tuple(reasons), deductible, cost_sharing)


class SecondaryAllowable(NamedTuple):
    """A2 and where it came from, d2, and the secondary's denial of the line if any."""

    amount: Decimal
    source: AllowableSource
    deductible: Decimal = ZERO  # d2
    denial: Denial | None = None


def secondary_allowable(
    primary: PrimaryLine,
    fee_schedule_amount: Decimal | None,
    secondary_line: ServiceLine | None,
) -> SecondaryAllowable:
    """A2 by the first rule that gives one: fee schedule, the secondary EOB's allowed, else A1."""
    deductible = ZERO
    denial: Denial | None = None
    eob_allowed: Decimal | None = None
    if secondary_line is not None:
        non_covered = out_of_network = False
        for adjustment in secondary_line.adjustments:  # d2 and the denial codes in one pass
            reason = adjustment.reason
            if adjustment.group == "PR" and reason == DEDUCTIBLE:
                deductible += adjustment.amount
            if reason in NON_COVERED:
                non_covered = True
            elif reason in OUT_OF_NETWORK:
                out_of_network = True
        deductible = max(deductible, ZERO)  # d2 is floored at 0 (section 2)
        if non_covered:
            denial = "non_covered"
        elif out_of_network:
            denial = "out_of_network"
        allowed = secondary_line.allowed
        if allowed is not None and not (allowed == 0 and secondary_line.paid == 0):
            eob_allowed = allowed
    if fee_schedule_amount is not None:
        return SecondaryAllowable(fee_schedule_amount, "fee_schedule", deductible, denial)
    if eob_allowed is not None:
        return SecondaryAllowable(eob_allowed, "secondary_eob", deductible, denial)
    return SecondaryAllowable(primary.primary_allowed, "assumed_primary", deductible, denial)


def secondary_benefit(allowable: SecondaryAllowable, terms: PayerTerms) -> Decimal:
    """B2 = max(0, round2((A2 - d2) * r2) - k2): what the secondary would pay as primary."""
    return max(ZERO, round_cents((allowable.amount - allowable.deductible) * terms.coinsurance_rate) - terms.copay)


def expected_secondary_payment(
    primary: PrimaryLine, allowable: SecondaryAllowable, benefit: Decimal, terms: PayerTerms
) -> Decimal:
    """S by COB method (section 3), floored at 0 and capped at PR1; 0 on a denied line."""
    if allowable.denial is not None:
        return ZERO
    pr1, p1, a1, a2 = primary.primary_patient, primary.primary_paid, primary.primary_allowed, allowable.amount
    match terms.cob_method:
        case "lesser_of_allowables":
            payment = min(benefit, min(a1, a2) - p1)
        case "standard":
            payment = benefit
        case "non_duplication":
            payment = benefit - p1
        case "medicare_secondary":
            payment = min(benefit, max(a1, a2) - p1)
        case "medicaid":
            payment = a2 - p1 - terms.copay
        case "supplemental":
            # The sum of the primary's PR-2 and PR-3 (and PR-1), floored at 0 (section 2) by the
            # floor below, like every method.
            payment = primary.coinsurance_and_copay + (primary.deductible if terms.covers_deductible else ZERO)
    return max(ZERO, min(pr1, payment))


CeilingRow = Literal[1, 2, 3, 4, 5]


def ceiling_row(allowable: SecondaryAllowable, terms: PayerTerms) -> CeilingRow:
    """The row of section 4's table that gives K: 1 medicaid, 2 a denied line or supplemental,
    3 medicare_secondary, 4 in the secondary's network under a network method, 5 otherwise."""
    method = terms.cob_method
    if method == "medicaid":
        return 1
    if allowable.denial is not None or method == "supplemental":
        return 2
    if method == "medicare_secondary":
        return 3
    if terms.in_network and method in NETWORK_METHODS:
        return 4
    return 5


def collectible_limit(
    primary: PrimaryLine, allowable: SecondaryAllowable, terms: PayerTerms, secondary_paid: Decimal
) -> Decimal:
    """The ceiling K on what the provider may collect from all sources (section 4)."""
    p1, k1, s = primary.primary_paid, primary.collectible, secondary_paid
    match ceiling_row(allowable, terms):
        case 1:
            return p1 + s + min(terms.copay, primary.primary_patient - s)
        case 3:
            return min(k1, max(primary.primary_allowed, allowable.amount, p1 + s))
        case 4:
            return max(p1 + s, min(k1, allowable.amount))
        case _:
            return k1


class LineResult(NamedTuple):
    """Everything computed for one line, kept so that a number can be explained."""

    primary: PrimaryLine
    allowable: SecondaryAllowable
    benefit: Decimal  # B2
    expected_paid: Decimal  # S_exp
    secondary_paid: Decimal  # the S used below: S_exp when estimating, S_act when reconciling
    limit: Decimal  # K for secondary_paid
    patient: Decimal
    write_off: Decimal
    patient_reasons: tuple[str, ...]


def compute_line(
    primary: PrimaryLine,
    allowable: SecondaryAllowable,
    terms: PayerTerms,
    actual_paid: Decimal | None = None,
) -> LineResult:
    """Expected payment, then patient share and write-off for the actual payment (or the
    expected one while estimating)."""
    benefit = secondary_benefit(allowable, terms)
    expected = expected_secondary_payment(primary, allowable, benefit, terms)
    paid = expected if actual_paid is None else actual_paid
    limit = collectible_limit(primary, allowable, terms, paid)
    patient = max(ZERO, limit - primary.primary_paid - paid)
    write_off = primary.charge - primary.primary_paid - paid - patient
    reasons = patient_reasons(primary, allowable, terms) if patient > 0 else ()
    return LineResult(primary, allowable, benefit, expected, paid, limit, patient, write_off, reasons)


def compute_line_without_secondary(primary: PrimaryLine) -> LineResult:
    """A claim with no secondary coverage: the patient owes PR1, the rest is written off."""
    patient = primary.primary_patient
    reasons = ordered_reasons([*_primary_reasons(primary), "no_secondary_coverage"]) if patient > 0 else ()
    return LineResult(
        primary=primary,
        allowable=SecondaryAllowable(primary.primary_allowed, "assumed_primary"),
        benefit=ZERO,
        expected_paid=ZERO,
        secondary_paid=ZERO,
        limit=primary.collectible,
        patient=patient,
        write_off=primary.charge - primary.primary_paid - patient,
        patient_reasons=reasons,
    )


_PRIMARY_REASON = {DEDUCTIBLE: "primary_deductible", COINSURANCE: "primary_coinsurance", COPAY: "primary_copay"}


def _primary_reasons(primary: PrimaryLine) -> list[str]:
    return [_PRIMARY_REASON.get(code, "primary_other") for code in primary.primary_reasons]


def patient_reasons(primary: PrimaryLine, allowable: SecondaryAllowable, terms: PayerTerms) -> tuple[str, ...]:
    """Why a patient owes something on a line: the primary's PR codes, then what the secondary
    did not pay (its deductible, its copay, a denial, the network, its allowable)."""
    reasons = _primary_reasons(primary)
    method = terms.cob_method
    if allowable.deductible > 0 and method not in ("medicaid", "supplemental"):
        # Only B2 (and so only the methods that use it) applies the secondary's deductible.
        reasons.append("secondary_deductible")
    if allowable.denial is not None:
        reasons.append(allowable.denial)
    elif method != "supplemental":
        if terms.copay > 0:
            reasons.append("secondary_copay")
        if not terms.in_network and method in NETWORK_METHODS:
            reasons.append("out_of_network")
        if allowable.amount <= primary.primary_paid:
            reasons.append("secondary_allowable_at_or_below_primary_paid")
    return ordered_reasons(reasons)


_REASON_RANK = {reason: rank for rank, reason in enumerate(PATIENT_REASON_ORDER)}


def ordered_reasons(reasons: Iterable[str]) -> tuple[str, ...]:
    """Each known reason once, in the contract's order."""
    return tuple(sorted({r for r in reasons if r in _REASON_RANK}, key=_REASON_RANK.__getitem__))
