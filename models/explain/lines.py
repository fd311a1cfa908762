"""How each figure of one service line comes about, in the billing team's words (COB_RULES.md
sections 2 to 4): what each payer did, where the secondary allowable came from, and the steps
(`models.explain.formulas`) from the allowables to the patient's share and the write-off.

Every figure is the one `models.cob.arithmetic` computed (`LineResult`); this module only says where it came
from, never computes one of its own. Pure like the rest of models/.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from models.cob.arithmetic import DEDUCTIBLE, Denial, LineResult
from models.cob.write_offs import write_off_reasons
from models.contract.events import Adjustment, EobEvent, ServiceLine
from models.contract.outcomes import AllowableSource, PatientReason, WriteOffReasonCode
from models.contract.types import ZERO, Money, Rate, format_money
from models.explain.formulas import EXPLANATION, LineContext, Step, steps

GROUP_WORDS = {
    "CO": "contractual: the provider writes it off",
    "PR": "patient responsibility",
    "OA": "other adjustment",
    "PI": "payer-initiated reduction",
    "CR": "correction",
}
CARC_WORDS = {
    "1": "deductible",
    "2": "coinsurance",
    "3": "copay",
    "16": "claim lacks information (no primary EOB)",
    "18": "exact duplicate claim",
    "22": "may be covered by another payer per COB",
    "23": "impact of prior payer adjudication",
    "45": "charge exceeds the fee schedule or allowed amount",
    "96": "non-covered charge",
    "109": "not covered by this payer; send to the correct payer",
    "204": "service not covered by this plan",
    "242": "services not provided by network providers",
    "243": "services not authorized by network providers",
}
REASON_WORDS: dict[str, str] = {
    "primary_deductible": "the primary's deductible (PR-1)",
    "primary_coinsurance": "the primary's coinsurance (PR-2)",
    "primary_copay": "the primary's copay (PR-3)",
    "primary_other": "other patient responsibility from the primary (such as PR-45 or PR-96)",
    "secondary_deductible": "the secondary's deductible (d2) reduced what it pays",
    "secondary_copay": "the secondary's copay (k2)",
    "non_covered": "the secondary does not cover this service",
    "out_of_network": "the provider is out of the secondary's network",
    "secondary_allowable_at_or_below_primary_paid": "the secondary's allowable is at or below what the primary paid",
    "no_secondary_coverage": "the patient has no secondary coverage",
}


WRITE_OFF_WORDS: dict[str, str] = {
    "primary_adjustment": "the primary's own adjustment, as it reported it",
    "primary_patient_credit": "the primary's patient amounts add up below 0: a credit (PR1 is floored at 0)",
    "medicaid_payment_in_full": "Medicaid's payment is payment in full: the provider may not bill the rest",
    "medicare_limit": "Medicare as secondary limits what the provider may collect",
    "secondary_network_contract": "the secondary's network contract caps what the provider may collect",
    "overpayment_credit": "a payment above what the provider may collect (inside the tolerance): a credit",
}


class WriteOffExplanation(BaseModel):
    """One coded entry of the line's write-off (COVERAGE.md section 5), in words."""

    model_config = EXPLANATION

    reason: WriteOffReasonCode
    group: str | None
    carc: str | None
    amount: Money
    meaning: str


class AdjustmentExplanation(BaseModel):
    """One adjustment (CAS) of an EOB line, with its group and reason code in words. A line's
    share of a claim-level adjustment is `apportioned`, with the claim-level amount it came from
    (COVERAGE.md section 3); a negative amount says what it does."""

    model_config = EXPLANATION

    group: str
    reason: str
    amount: Money
    apportioned: bool
    claim_level_amount: Money | None
    meaning: str


class ReasonExplanation(BaseModel):
    """One patient reason code (CONTRACT.md) and what it means."""

    model_config = EXPLANATION

    code: PatientReason
    meaning: str


class LineExplanation(BaseModel):
    """One service line: what each payer did, and how S, K, the patient's share and the write-off
    come about. Money fields carry the engine's figures; `steps` say how each was reached."""

    model_config = EXPLANATION

    line_id: str
    procedure_code: str
    modifiers: tuple[str, ...]
    charge: Money
    primary_paid: Money
    primary_allowed: Money
    primary_allowed_source: str
    primary_patient_responsibility: Money
    primary_patient_sum: Money  # the PR adjustments added up, before PR1's floor at 0
    collectible_after_primary: Money
    primary_adjustments: tuple[AdjustmentExplanation, ...]
    secondary_allowable: Money | None
    allowable_source: AllowableSource | None
    allowable_source_text: str | None
    secondary_deductible: Money | None
    secondary_deductible_sum: Money | None  # the secondary line's PR-1 added up, before d2's floor at 0
    secondary_coinsurance_rate: Rate | None
    secondary_copay: Money | None
    secondary_denial: Denial | None
    secondary_adjustments: tuple[AdjustmentExplanation, ...]
    secondary_benefit: Money | None
    expected_secondary_paid: Money
    actual_secondary_paid: Money | None
    secondary_paid: Money
    collectible_limit: Money
    patient_responsibility: Money
    write_off: Money
    write_off_reasons: tuple[WriteOffExplanation, ...]
    patient_reasons: tuple[ReasonExplanation, ...]
    steps: tuple[Step, ...]


def adjustments(line: ServiceLine | None, eob: EobEvent | None) -> tuple[AdjustmentExplanation, ...]:
    """The line's adjustments in the payer's order, each in words."""
    if line is None or eob is None:
        return ()
    claim_level = claim_level_amounts(eob)
    return tuple(
        _adjustment(a, claim_level.get((a.group, a.reason)) if a.apportioned else None) for a in line.adjustments
    )


def claim_level_amounts(eob: EobEvent) -> dict[tuple[str, str], Decimal]:
    """The claim-level adjustments that an EOB's lines share, by group and reason: the sum of
    the lines' apportioned shares (COVERAGE.md section 3 splits each one over the lines)."""
    totals: dict[tuple[str, str], Decimal] = {}
    for line in eob.lines:
        for a in line.adjustments:
            if a.apportioned:
                totals[a.group, a.reason] = totals.get((a.group, a.reason), ZERO) + a.amount
    return totals


def _adjustment(a: Adjustment, claim_level: Decimal | None) -> AdjustmentExplanation:
    meaning = f"{CARC_WORDS.get(a.reason, f'CARC {a.reason}')} ({GROUP_WORDS[a.group]})"
    if a.amount < 0:
        meaning += (
            "; negative: lowers the patient's share (PR1 never goes below 0)"
            if a.group == "PR"
            else "; negative: it only balances the line (no formula uses it)"
        )
    if claim_level is not None:
        meaning += f"; this line's share of the claim-level {a.group}-{a.reason} {format_money(claim_level)}"
    return AdjustmentExplanation(
        group=a.group,
        reason=a.reason,
        amount=a.amount,
        apportioned=a.apportioned,
        claim_level_amount=claim_level,
        meaning=meaning,
    )


def reasons(codes: tuple[str, ...]) -> tuple[ReasonExplanation, ...]:
    return tuple(ReasonExplanation(code=code, meaning=REASON_WORDS[code]) for code in codes)  # type: ignore[arg-type]


def explain_line(result: LineResult, context: LineContext) -> LineExplanation:
    """The figures of one line as the engine computed them, with the steps that led to them."""
    primary, allowable, terms = result.primary, result.allowable, context.terms
    line = context.primary_line
    secondary_line = context.secondary.line(line.line_id) if context.secondary is not None else None
    actual = None
    if context.secondary is not None:
        actual = secondary_line.paid if secondary_line is not None else Decimal("0.00")
    covered = terms is not None
    return LineExplanation(
        line_id=line.line_id,
        procedure_code=line.procedure_code,
        modifiers=line.modifiers,
        charge=primary.charge,
        primary_paid=primary.primary_paid,
        primary_allowed=primary.primary_allowed,
        primary_allowed_source=_primary_allowed_source(line),
        primary_patient_responsibility=primary.primary_patient,
        primary_patient_sum=_sum(line, "PR", None),
        collectible_after_primary=primary.collectible,
        primary_adjustments=adjustments(line, context.primary),
        secondary_allowable=allowable.amount if covered else None,
        allowable_source=allowable.source if covered else None,
        allowable_source_text=_allowable_source_text(result, context) if covered else None,
        secondary_deductible=allowable.deductible if covered else None,
        secondary_deductible_sum=_sum(secondary_line, "PR", DEDUCTIBLE) if covered else None,
        secondary_coinsurance_rate=terms.coinsurance_rate if terms else None,
        secondary_copay=terms.copay if terms else None,
        secondary_denial=allowable.denial,
        secondary_adjustments=adjustments(secondary_line, context.secondary),
        secondary_benefit=result.benefit if covered else None,
        expected_secondary_paid=result.expected_paid,
        actual_secondary_paid=actual,
        secondary_paid=result.secondary_paid,
        collectible_limit=result.limit,
        patient_responsibility=result.patient,
        write_off=result.write_off,
        write_off_reasons=tuple(
            WriteOffExplanation(**entry, meaning=WRITE_OFF_WORDS[entry["reason"]])
            for entry in write_off_reasons(line, result, terms)
        ),
        patient_reasons=reasons(result.patient_reasons),
        steps=steps(result, context),
    )


def _sum(line: ServiceLine | None, group: str, reason: str | None) -> Decimal:
    """A line's adjustments of one group (and reason) added up, before the floor at 0 that PR1
    and d2 take (COB_RULES.md section 2): the explanation shows a negative sum being floored."""
    if line is None:
        return ZERO
    return sum((a.amount for a in line.adjustments if a.group == group and reason in (None, a.reason)), ZERO)


def _primary_allowed_source(line: ServiceLine) -> str:
    if line.allowed is None:
        return "P1 + PR1: the primary EOB gives no allowed amount"
    if line.allowed == 0 and line.paid == 0:
        return "P1 + PR1: an allowed of 0.00 on a line paid 0.00 counts as not given"
    return "the primary EOB's allowed amount"


def _allowable_source_text(result: LineResult, context: LineContext) -> str:
    """Where A2 came from, in words (COB_RULES.md section 2: fee schedule, EOB, else A1)."""
    terms, line = context.terms, context.primary_line
    assert terms is not None
    payer = terms.payer_id
    service = line.procedure_code + (f" with modifiers {', '.join(line.modifiers)}" if line.modifiers else "")
    source = result.allowable.source
    if source == "fee_schedule":
        return f"{payer}'s fee schedule for {service}"
    if source == "secondary_eob":
        return f"the allowed amount on {payer}'s EOB"
    secondary = context.secondary
    if secondary is None:
        why = "no secondary EOB yet"
    elif secondary.payer_id != payer:
        why = f"the secondary EOB is from {secondary.payer_id}, not {payer}, so its allowed is not used"
    elif secondary.line(line.line_id) is None:
        why = f"{payer}'s EOB has no line {line.line_id}"
    else:
        why = f"no allowed amount on {payer}'s EOB line"
    return f"assumed equal to the primary's allowable A1: no entry in {payer}'s fee schedule for {service}, {why}"
