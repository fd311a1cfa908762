"""The formulas behind each figure of a service line (COB_RULES.md sections 2 to 4), with the
numbers put in: B2, the expected secondary payment S by COB method, the ceiling K by the row of
section 4's table that applies, the patient's share and the write-off.

A step's result is always the engine's figure (`models.cob.arithmetic.LineResult`); only the formula, the
numbers that went into it and why that formula applies are added here. Pure like the rest of
models/.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from models.cob.arithmetic import NETWORK_METHODS, NON_COVERED, OUT_OF_NETWORK, LineResult
from models.cob.reference import PayerTerms
from models.contract.events import EobEvent, ServiceLine
from models.contract.types import Money, format_money

EXPLANATION = ConfigDict(frozen=True, extra="forbid")

METHOD_WORDS = {
    "lesser_of_allowables": "both payers together pay at most the lower of the two allowables",
    "standard": "traditional COB: the secondary pays its normal benefit, up to the balance the primary left",
    "non_duplication": "carve-out: the secondary pays only what its normal benefit exceeds the primary payment",
    "medicare_secondary": "Medicare as secondary payer (42 CFR 411.33): the lowest of the balance, its normal "
    "benefit, and the higher allowable less the primary payment",
    "medicaid": "Medicaid, payer of last resort: its allowable less the primary payment and the state copay",
    "supplemental": "Medigap / Medicare supplement: pays the primary's coinsurance and copay (and its "
    "deductible when the plan covers it)",
}
# Every method: S is floored at 0 and capped at PR1 (COB_RULES.md section 3).
_S_FORMULA = {
    "lesser_of_allowables": (
        "max(0, min(PR1, B2, min(A1, A2) - P1))",
        "max(0, min({pr1}, {b2}, min({a1}, {a2}) - {p1}))",
    ),
    "standard": ("max(0, min(PR1, B2))", "max(0, min({pr1}, {b2}))"),
    "non_duplication": ("max(0, min(PR1, B2 - P1))", "max(0, min({pr1}, {b2} - {p1}))"),
    "medicare_secondary": (
        "max(0, min(PR1, B2, max(A1, A2) - P1))",
        "max(0, min({pr1}, {b2}, max({a1}, {a2}) - {p1}))",
    ),
    "medicaid": ("max(0, min(PR1, A2 - P1 - k2))", "max(0, min({pr1}, {a2} - {p1} - {k2}))"),
    "supplemental": ("max(0, min(PR1, coinsurance + copay{deductible}))", "max(0, min({pr1}, {cost_sharing}{ded}))"),
}


class Step(BaseModel):
    """One figure: its formula, the same with the numbers put in, the result, and why."""

    model_config = EXPLANATION

    name: str
    formula: str
    with_numbers: str
    result: Money
    why: str


class LineContext(NamedTuple):
    """What a line is explained against: the claim's EOBs and the secondary payer's terms."""

    primary: EobEvent  # the current primary EOB
    primary_line: ServiceLine
    secondary: EobEvent | None  # the current secondary EOB, whoever sent it
    terms: PayerTerms | None  # None: no secondary coverage
    estimating: bool  # no secondary EOB yet: S is the expected payment


def money(amount: Decimal) -> str:
    return format_money(amount)


def rate(value: Decimal) -> str:
    """A coinsurance rate as written on a contract: 0.80, 1.00, 0.8125."""
    normal = value.normalize()
    return f"{normal:.2f}" if normal == normal.quantize(Decimal("0.01")) else f"{normal:f}"


class _Numbers(NamedTuple):
    c: str
    p1: str
    pr1: str
    a1: str
    k1: str
    a2: str
    d2: str
    r2: str
    k2: str
    b2: str
    s: str
    k: str
    patient: str
    cost_sharing: str
    ded: str


def _numbers(result: LineResult, terms: PayerTerms | None) -> _Numbers:
    p, a = result.primary, result.allowable
    covers = terms is not None and terms.covers_deductible
    return _Numbers(
        c=money(p.charge),
        p1=money(p.primary_paid),
        pr1=money(p.primary_patient),
        a1=money(p.primary_allowed),
        k1=money(p.collectible),
        a2=money(a.amount),
        d2=money(a.deductible),
        r2=rate(terms.coinsurance_rate) if terms else "",
        k2=money(terms.copay) if terms else "",
        b2=money(result.benefit),
        s=money(result.secondary_paid),
        k=money(result.limit),
        patient=money(result.patient),
        cost_sharing=money(p.coinsurance_and_copay),
        ded=f" + {money(p.deductible)}" if covers else "",
    )


def steps(result: LineResult, context: LineContext) -> tuple[Step, ...]:
    """B2, S, K, the patient's share and the write-off, each with its formula and numbers."""
    terms = context.terms
    n = _numbers(result, terms)
    if terms is None:
        return (
            _step("ceiling K", "K = K1 = P1 + PR1", f"K = {n.p1} + {n.pr1}", result.limit, _NO_SECONDARY),
            _step("patient", "patient = PR1", f"patient = {n.pr1}", result.patient, _NO_SECONDARY),
            _step(
                "write-off",
                "write_off = C - P1 - patient",
                f"write_off = {n.c} - {n.p1} - {n.patient}",
                result.write_off,
                _write_off_why(result),
            ),
        )
    return (
        _benefit_step(result, terms, n),
        _expected_step(result, context, n),
        _ceiling_step(result, context, n),
        _step(
            "patient",
            "patient = max(0, K - P1 - S)",
            f"patient = max(0, {n.k} - {n.p1} - {n.s})",
            result.patient,
            "what is left of the ceiling after both payments",
        ),
        _step(
            "write-off",
            "write_off = C - P1 - S - patient",
            f"write_off = {n.c} - {n.p1} - {n.s} - {n.patient}",
            result.write_off,
            _write_off_why(result),
        ),
    )


_NO_SECONDARY = "no secondary coverage: the patient owes what the primary left as patient responsibility"


def _step(name: str, formula: str, with_numbers: str, result: Decimal, why: str) -> Step:
    return Step(name=name, formula=formula, with_numbers=with_numbers, result=result, why=why)


def _write_off_why(result: LineResult) -> str:
    why = "what the provider may not collect: the charge less both payments and the patient's share"
    if result.write_off < 0:
        why += "; negative: a credit (the secondary paid more than the ceiling, inside its tolerance)"
    return why


def _benefit_step(result: LineResult, terms: PayerTerms, n: _Numbers) -> Step:
    why = f"what {terms.payer_id} would pay as if it were primary: its allowable less its deductible, times its share"
    why += ", less its copay"
    if terms.cob_method in ("medicaid", "supplemental"):
        why += f" (reported only: the {terms.cob_method} method does not use B2)"
    return _step(
        "secondary benefit B2",
        "B2 = max(0, round2((A2 - d2) * r2) - k2)",
        f"B2 = max(0, round2(({n.a2} - {n.d2}) * {n.r2}) - {n.k2})",
        result.benefit,
        why,
    )


def _expected_step(result: LineResult, context: LineContext, n: _Numbers) -> Step:
    terms = context.terms
    assert terms is not None
    denial = result.allowable.denial
    if denial is not None:
        codes = _denial_codes(context)
        words = "non-covered" if denial == "non_covered" else "out of network"
        why = f"the secondary denied the line as {words} ({codes}): it pays nothing, whatever the method"
        return _step("expected secondary payment S", "S = 0", "S = 0.00", result.expected_paid, why)
    formula, numbers = _S_FORMULA[terms.cob_method]
    deductible = " + deductible" if terms.covers_deductible else ""
    why = f"{terms.cob_method}: {METHOD_WORDS[terms.cob_method]}; never below 0 nor above PR1, the balance the "
    why += "primary left"
    return _step(
        "expected secondary payment S",
        "S = " + formula.format(deductible=deductible),
        "S = " + numbers.format(**n._asdict()),
        result.expected_paid,
        why,
    )


def _denial_codes(context: LineContext) -> str:
    line = context.secondary.line(context.primary_line.line_id) if context.secondary else None
    codes = [f"{a.group}-{a.reason}" for a in (line.adjustments if line else ()) if a.reason in NON_COVERED]
    codes += [f"{a.group}-{a.reason}" for a in (line.adjustments if line else ()) if a.reason in OUT_OF_NETWORK]
    return ", ".join(dict.fromkeys(codes))


def _ceiling_step(result: LineResult, context: LineContext, n: _Numbers) -> Step:
    """K by the first row of COB_RULES.md section 4's table that applies, and why."""
    terms = context.terms
    assert terms is not None
    method = terms.cob_method
    s_is = "S is the expected payment (no secondary EOB yet)" if context.estimating else "S is what the secondary paid"
    if method == "medicaid":
        formula, numbers = "K = P1 + S + min(k2, PR1 - S)", f"K = {n.p1} + {n.s} + min({n.k2}, {n.pr1} - {n.s})"
        why = "Medicaid: the patient owes at most the state copay, the rest is written off (42 CFR 447.15)"
    elif result.allowable.denial is not None or method == "supplemental":
        formula, numbers = "K = K1 = P1 + PR1", f"K = {n.p1} + {n.pr1}"
        why = (
            "the secondary denied the line: the provider may collect what the primary left"
            if result.allowable.denial is not None
            else "supplemental plan: the provider may collect what the primary left"
        )
    elif method == "medicare_secondary":
        formula, numbers = "K = min(K1, max(A1, A2, P1 + S))", f"K = min({n.k1}, max({n.a1}, {n.a2}, {n.p1} + {n.s}))"
        why = "Medicare secondary: the provider accepts the higher of the Medicare amount and the primary allowed"
    elif terms.in_network and method in NETWORK_METHODS:
        formula, numbers = "K = max(P1 + S, min(K1, A2))", f"K = max({n.p1} + {n.s}, min({n.k1}, {n.a2}))"
        why = "in the secondary's network: its contract caps the total at its allowable, but the provider never "
        why += "refunds the primary"
    else:
        formula, numbers = "K = K1 = P1 + PR1", f"K = {n.p1} + {n.pr1}"
        why = "out of the secondary's network: its allowable does not bind the provider"
    return _step("ceiling K", formula, numbers, result.limit, f"{why}; {s_is}")
