"""Property tests of the COB arithmetic (COB_RULES.md sections 2-4) and of the claim lifecycle
(section 7: arrival order and duplicates).

Lines are generated in integer cents as an 835 would carry them (they balance: charge = paid +
CO-45 + PR-1/2/3/45), turned into contract JSON, and read through the input models. The line
properties are checked against the core and against an independent integer-cents oracle written
from the spec's formulas.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from cobstream.engine import Engine
from models.cob.arithmetic import LineResult, PrimaryLine, compute_line, secondary_allowable
from models.cob.processor import Published
from models.cob.reference import PayerTerms, Reference
from models.cob.settlement import ClaimComputation, compute_claim
from models.contract.events import COB_METHODS, EobEvent, FeeScheduleEntry, PayerProfile, ServiceLine
from models.contract.outcomes import PATIENT_REASON_ORDER, DeadLetter, PatientBillingReady
from models.contract.types import format_money

PROPERTY = settings(max_examples=200, deadline=None)

SECONDARY_PAYER = "AETNA"
OTHER_PAYER = "CIGNA"
DENIAL_CODES = ("96", "204", "242", "243")
NETWORK_METHODS = ("lesser_of_allowables", "standard", "non_duplication")
BASE_TIME = datetime(2026, 3, 10, 15, tzinfo=UTC)
FAR_FUTURE = datetime(2030, 1, 1, tzinfo=UTC)

# ---------------------------------------------------------------------------------------------
# Money in integer cents


def fmt(cents: int) -> str:
    """Integer cents as a contract money string."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def to_cents(amount: Decimal) -> int:
    assert amount == amount.quantize(Decimal("0.01")), amount
    return int(amount * 100)


def is_cents(amount: Decimal) -> bool:
    """Exactly two decimals: the exponent of every money value the core produces."""
    return amount.as_tuple().exponent == -2


def cents(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


def some_amount(high: int) -> st.SearchStrategy[int]:
    """Often nothing, otherwise any amount up to `high` (shrinks towards zero)."""
    return st.one_of(st.just(0), cents(1, high))


def adjustment(group: str, reason: str, amount: int) -> dict[str, str]:
    return {"group": group, "reason": reason, "amount": fmt(amount)}


# ---------------------------------------------------------------------------------------------
# Generated inputs


@dataclass(frozen=True)
class PrimarySide:
    """A primary 835 line: charge = paid + CO-45 + PR-1 + PR-2 + PR-3 + PR-45."""

    line_id: str
    procedure_code: str
    modifiers: tuple[str, ...]
    paid: int
    pr: dict[str, int]  # PR amounts by CARC: "1", "2", "3", "45"
    co45: int
    allowed: int | None
    zero_entries: bool  # also list the PR codes whose amount is 0.00
    extra: tuple[dict[str, str], ...] = ()  # zero-amount codes such as OA-22

    @property
    def charge(self) -> int:
        return self.paid + self.co45 + sum(self.pr.values())

    @property
    def pr1(self) -> int:
        return max(0, sum(self.pr.values()))  # floored at 0 (COB_RULES.md section 2)

    def to_json(self) -> dict[str, Any]:
        adjustments = [adjustment("CO", "45", self.co45)] if self.co45 else []
        adjustments += [
            adjustment("PR", carc, amount) for carc, amount in self.pr.items() if amount or self.zero_entries
        ]
        return {
            "line_id": self.line_id,
            "procedure_code": self.procedure_code,
            "modifiers": list(self.modifiers),
            "service_date": "2026-03-02",
            "charge": fmt(self.charge),
            "paid": fmt(self.paid),
            "allowed": None if self.allowed is None else fmt(self.allowed),
            "adjustments": [*adjustments, *self.extra],
            "remarks": [],
        }


@dataclass(frozen=True)
class SecondarySide:
    """A secondary 835 line: charge = paid + PR-1 (d2) + denial code amount + OA-23 (the rest)."""

    line_id: str
    procedure_code: str
    modifiers: tuple[str, ...]
    charge: int
    paid: int
    deductible: int
    denial: str | None
    denial_group: str
    denial_amount: int
    allowed: int | None
    extra: tuple[dict[str, str], ...] = ()
    remarks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        rest = self.charge - self.paid - self.deductible - self.denial_amount
        adjustments = []
        if self.deductible:
            adjustments.append(adjustment("PR", "1", self.deductible))
        if self.denial is not None:
            adjustments.append(adjustment(self.denial_group, self.denial, self.denial_amount))
        if rest:
            adjustments.append(adjustment("OA", "23", rest))
        return {
            "line_id": self.line_id,
            "procedure_code": self.procedure_code,
            "modifiers": list(self.modifiers),
            "service_date": "2026-03-02",
            "charge": fmt(self.charge),
            "paid": fmt(self.paid),
            "allowed": None if self.allowed is None else fmt(self.allowed),
            "adjustments": [*adjustments, *self.extra],
            "remarks": list(self.remarks),
        }


@dataclass(frozen=True)
class Terms:
    """The secondary's effective terms (defaults filled in) and the profile that says so."""

    cob_method: str = "lesser_of_allowables"
    in_network: bool = True
    rate: int = 10_000  # coinsurance_rate in ten-thousandths
    copay: int = 0
    covers_deductible: bool = True
    profile: dict[str, Any] | None = field(default=None, compare=False)

    def payer_terms(self, payer_id: str = SECONDARY_PAYER) -> PayerTerms:
        profile = None if self.profile is None else PayerProfile.model_validate(self.profile)
        return PayerTerms.of(payer_id, profile)


PROCEDURES = (("99214", ()), ("99213", ("25",)), ("93000", ("26", "TC")))


@st.composite
def primary_sides(draw: st.DrawFn, line_id: str = "1") -> PrimarySide:
    code, modifiers = draw(st.sampled_from(PROCEDURES))
    paid = draw(some_amount(150_000))
    pr = {
        "1": draw(some_amount(50_000)),
        "2": draw(some_amount(50_000)),
        "3": draw(some_amount(5_000)),
        "45": draw(st.one_of(st.just(0), st.just(0), cents(1, 30_000))),
    }
    # Negative amounts as 5010 allows them: a CO-45 below zero (allowed above the charge), a PR-1
    # credit; the charge stays >= 0.
    pr["1"] = draw(st.one_of(st.just(pr["1"]), st.just(pr["1"]), st.just(pr["1"]), cents(-20_000, -1)))
    co45 = draw(st.one_of(some_amount(100_000), some_amount(100_000), cents(-20_000, -1)))
    co45 -= min(0, paid + co45 + sum(pr.values()))
    natural = max(0, paid + pr["1"] + pr["2"] + pr["3"])
    charge = paid + co45 + sum(pr.values())
    allowed = draw(st.one_of(st.none(), st.just(natural), st.just(0), cents(0, charge)))
    return PrimarySide(line_id, code, modifiers, paid, pr, co45, allowed, draw(st.booleans()))


@st.composite
def secondary_sides(draw: st.DrawFn, primary: PrimarySide, charge: int | None = None) -> SecondarySide:
    charge = primary.charge if charge is None else charge
    deductible = draw(st.one_of(st.just(0), cents(0, charge), cents(-5_000, -1)))  # a negative PR-1: d2 is 0
    denial = draw(st.one_of(st.none(), st.none(), st.sampled_from(DENIAL_CODES)))
    denial_amount = draw(cents(0, charge - max(0, deductible))) if denial else 0
    paid = draw(cents(0, charge - max(0, deductible) - denial_amount))
    allowed = draw(st.one_of(st.none(), st.just(0), cents(0, charge)))
    return SecondarySide(
        line_id=primary.line_id,
        procedure_code=primary.procedure_code,
        modifiers=primary.modifiers,
        charge=charge,
        paid=paid,
        deductible=deductible,
        denial=denial,
        denial_group=draw(st.sampled_from(("CO", "PR", "OA"))),
        denial_amount=denial_amount,
        allowed=allowed,
    )


@st.composite
def payer_terms(draw: st.DrawFn) -> Terms:
    if draw(st.sampled_from((False,) * 9 + (True,))):
        return Terms()  # no profile: CONTRACT.md's defaults
    terms = Terms(
        cob_method=draw(st.sampled_from(COB_METHODS)),
        in_network=draw(st.booleans()),
        rate=draw(st.one_of(st.sampled_from((0, 5_000, 8_000, 10_000)), st.integers(0, 10_000))),
        copay=draw(st.one_of(st.just(0), cents(0, 5_000))),
        covers_deductible=draw(st.booleans()),
    )
    profile: dict[str, Any] = {
        "payer_id": SECONDARY_PAYER,
        "cob_method": terms.cob_method,
        "in_network": terms.in_network,
        "coinsurance_rate": draw(st.sampled_from(_rate_spellings(terms.rate))),
        "copay": fmt(terms.copay),
        "covers_deductible": terms.covers_deductible,
    }
    defaults = Terms()
    for name in ("cob_method", "in_network", "coinsurance_rate", "copay", "covers_deductible"):
        attr = "rate" if name == "coinsurance_rate" else name
        if getattr(terms, attr) == getattr(defaults, attr) and draw(st.booleans()):
            profile[name] = draw(st.sampled_from((None, "<absent>")))
    profile = {k: v for k, v in profile.items() if v != "<absent>"}
    return replace(terms, profile=profile)


def _rate_spellings(rate: int) -> list[Any]:
    """A rate as the billing office may write it: "0.8", "0.8000", or an integer 0/1."""
    exact = f"{rate // 10_000}.{rate % 10_000:04d}"
    spellings: list[Any] = [exact, str(Decimal(exact).normalize())]
    if rate % 10_000 == 0:
        spellings.append(rate // 10_000)
    return spellings


# ---------------------------------------------------------------------------------------------
# The oracle: COB_RULES.md sections 2-4 written out again, in integer cents


@dataclass(frozen=True)
class Expected:
    a1: int
    a2: int
    b2: int
    s_exp: int
    limit: int
    patient: int
    write_off: int


def oracle(p: PrimarySide, sec: SecondarySide | None, fee: int | None, t: Terms, s_act: int | None) -> Expected:
    c, p1, pr1 = p.charge, p.paid, p.pr1
    k1 = p1 + pr1
    a1 = p.allowed if p.allowed is not None and not (p.allowed == 0 and p1 == 0) else p1 + pr1
    if fee is not None:
        a2 = fee
    elif sec is not None and sec.allowed is not None and not (sec.allowed == 0 and sec.paid == 0):
        a2 = sec.allowed
    else:
        a2 = a1
    d2 = max(0, sec.deductible) if sec is not None else 0
    denied = sec is not None and sec.denial is not None
    base = a2 - d2
    # round2 half up of a non-negative product; a negative one rounds to <= 0 and B2 floors at 0.
    b2 = max(0, (base * t.rate + 5_000) // 10_000 - t.copay) if base > 0 else 0
    method = t.cob_method
    if denied:
        s = 0
    else:
        if method == "lesser_of_allowables":
            raw = min(b2, min(a1, a2) - p1)
        elif method == "standard":
            raw = b2
        elif method == "non_duplication":
            raw = b2 - p1
        elif method == "medicare_secondary":
            raw = min(b2, max(a1, a2) - p1)
        elif method == "medicaid":
            raw = a2 - p1 - t.copay
        else:  # supplemental
            raw = p.pr["2"] + p.pr["3"] + (p.pr["1"] if t.covers_deductible else 0)
        s = max(0, min(pr1, raw))
    paid = s if s_act is None else s_act
    if method == "medicaid":
        limit = p1 + paid + min(t.copay, pr1 - paid)
    elif denied or method == "supplemental":
        limit = k1
    elif method == "medicare_secondary":
        limit = min(k1, max(a1, a2, p1 + paid))
    elif t.in_network and method in NETWORK_METHODS:
        limit = max(p1 + paid, min(k1, a2))
    else:
        limit = k1
    patient = max(0, limit - p1 - paid)
    return Expected(a1, a2, b2, s, limit, patient, c - p1 - paid - patient)


# ---------------------------------------------------------------------------------------------
# Line properties


def money_of(result: LineResult) -> list[Decimal]:
    p, a = result.primary, result.allowable
    return [
        p.charge,
        p.primary_paid,
        p.primary_patient,
        p.primary_allowed,
        p.collectible,
        a.amount,
        a.deductible,
        result.benefit,
        result.expected_paid,
        result.secondary_paid,
        result.limit,
        result.patient,
        result.write_off,
    ]


def check_line(result: LineResult, p: PrimarySide, expected: Expected, s_used: int) -> None:
    c, p1, pr1 = p.charge, p.paid, p.pr1
    s, s_exp = to_cents(result.secondary_paid), to_cents(result.expected_paid)
    patient, write_off = to_cents(result.patient), to_cents(result.write_off)

    # Section 2 inputs as read from the 835 line.
    assert (to_cents(result.primary.charge), to_cents(result.primary.primary_paid)) == (c, p1)
    assert to_cents(result.primary.primary_patient) == pr1
    # The spec's invariants.
    assert s == s_used
    assert 0 <= s_exp <= pr1
    assert to_cents(result.benefit) >= 0
    assert patient >= 0
    assert patient + write_off + p1 + s == c
    assert all(is_cents(m) for m in money_of(result)), money_of(result)
    if result.allowable.denial is not None:
        assert s_exp == 0
    # Derived from section 4 for any payment in [0, PR1]: K <= K1, so the patient never owes more
    # than the primary left minus the secondary payment, and the write-off is at least C - K1
    # (below 0 only by the primary's own negative adjustments: a credit).
    if 0 <= s <= pr1:
        assert patient + s <= pr1
        assert write_off >= min(0, c - p1 - pr1)
    # Reasons are given exactly for the lines where the patient owes something, in order.
    assert bool(result.patient_reasons) == (patient > 0)
    order = [PATIENT_REASON_ORDER.index(r) for r in result.patient_reasons]
    assert order == sorted(set(order))
    # The independent oracle.
    got = Expected(
        to_cents(result.primary.primary_allowed),
        to_cents(result.allowable.amount),
        to_cents(result.benefit),
        s_exp,
        to_cents(result.limit),
        patient,
        write_off,
    )
    assert got == expected


@st.composite
def line_cases(draw: st.DrawFn) -> tuple[PrimarySide, SecondarySide | None, int | None, Terms]:
    primary = draw(primary_sides())
    secondary = draw(st.one_of(st.none(), secondary_sides(primary)))
    fee = draw(st.one_of(st.none(), st.none(), cents(0, 300_000)))
    return primary, secondary, fee, draw(payer_terms())


@PROPERTY
@given(case=line_cases(), data=st.data())
def test_line_arithmetic(
    case: tuple[PrimarySide, SecondarySide | None, int | None, Terms], data: st.DataObject
) -> None:
    p, sec, fee, t = case
    primary = PrimaryLine.of(ServiceLine.model_validate(p.to_json()))
    secondary_line = ServiceLine.model_validate(sec.to_json()) if sec is not None else None
    allowable = secondary_allowable(primary, None if fee is None else Decimal(fmt(fee)), secondary_line)
    assert allowable.source == (
        "fee_schedule"
        if fee is not None
        else "secondary_eob"
        if sec is not None and sec.allowed is not None and not (sec.allowed == 0 and sec.paid == 0)
        else "assumed_primary"
    )
    assert (allowable.denial is not None) == (sec is not None and sec.denial is not None)
    terms = t.payer_terms()
    assert (terms.cob_method, terms.in_network, terms.covers_deductible) == (
        t.cob_method,
        t.in_network,
        t.covers_deductible,
    )

    estimated = compute_line(primary, allowable, terms)
    event(f"{t.cob_method}, {allowable.source}, denied={allowable.denial is not None}")
    check_line(estimated, p, oracle(p, sec, fee, t, None), to_cents(estimated.expected_paid))

    s_act = data.draw(cents(0, p.pr1), label="S_act")
    reconciled = compute_line(primary, allowable, terms, Decimal(fmt(s_act)))
    check_line(reconciled, p, oracle(p, sec, fee, t, s_act), s_act)
    # S_exp and B2 do not depend on what the secondary actually paid.
    assert (reconciled.expected_paid, reconciled.benefit) == (estimated.expected_paid, estimated.benefit)


@PROPERTY
@given(p=primary_sides(), t=payer_terms(), s_act=cents(0, 300_000))
def test_any_actual_payment_keeps_the_line_balanced(p: PrimarySide, t: Terms, s_act: int) -> None:
    """Even an overpayment above PR1 (reconciled, then flagged) keeps patient >= 0 and the identity."""
    primary = PrimaryLine.of(ServiceLine.model_validate(p.to_json()))
    allowable = secondary_allowable(primary, None, None)
    result = compute_line(primary, allowable, t.payer_terms(), Decimal(fmt(s_act)))
    assert result.patient >= 0
    assert result.patient + result.write_off + result.primary.primary_paid + result.secondary_paid == (
        result.primary.charge
    )
    assert all(is_cents(m) for m in money_of(result))


# ---------------------------------------------------------------------------------------------
# Claim properties


def eob_json(
    event_id: str,
    lines: list[dict[str, Any]],
    *,
    payer_id: str,
    secondary_payer_id: str | None = None,
    status: str = "processed",
    at: datetime = BASE_TIME,
    claim_id: str = "CLM-P",
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "claim_id": claim_id,
        "payer_id": payer_id,
        "payer_name": None,
        "payer_claim_number": f"PCN-{event_id}",
        "status": status,
        "adjudicated_at": at.isoformat().replace("+00:00", "Z"),
        "secondary_payer_id": secondary_payer_id,
        "lines": lines,
    }


@dataclass(frozen=True)
class Scenario:
    terms: Terms
    fees: dict[tuple[str, tuple[str, ...]], int]  # (procedure_code, modifiers) -> allowable
    primary_lines: list[PrimarySide]
    secondary_lines: list[SecondarySide]
    primary: dict[str, Any]
    secondary: dict[str, Any]
    submission: dict[str, Any] | None = None  # the claim as submitted (COVERAGE.md), when there is one

    def reference(self) -> Reference:
        profiles = {}
        if self.terms.profile is not None:
            profiles[SECONDARY_PAYER] = PayerProfile.model_validate(self.terms.profile)
        schedule = {}
        for (code, modifiers), allowed in self.fees.items():
            entry = FeeScheduleEntry(
                payer_id=SECONDARY_PAYER, procedure_code=code, modifiers=modifiers, allowed=Decimal(fmt(allowed))
            )
            schedule[entry.key()] = entry
        return Reference(profiles, schedule)

    def reference_messages(self) -> list[tuple[str, str | None, str | None]]:
        messages: list[tuple[str, str | None, str | None]] = []
        if self.terms.profile is not None:
            messages.append(("reference.payers", SECONDARY_PAYER, json.dumps(self.terms.profile)))
        for (code, modifiers), allowed in self.fees.items():
            entry = {"payer_id": SECONDARY_PAYER, "procedure_code": code, "modifiers": list(modifiers)}
            key = f"{SECONDARY_PAYER}|{code}|{','.join(sorted(modifiers))}"
            messages.append(("reference.fee-schedule", key, json.dumps({**entry, "allowed": fmt(allowed)})))
        return messages


@st.composite
def scenarios(draw: st.DrawFn, *, lifecycle_codes: bool = True) -> Scenario:
    """One claim: reference data, a primary EOB of 1-3 lines and a secondary EOB."""
    count = draw(st.integers(1, 3))
    primaries = [draw(primary_sides(str(i + 1))) for i in range(count)]
    terms = draw(payer_terms())
    fees = {}
    for p in primaries:
        if draw(st.booleans()):
            fees[(p.procedure_code, p.modifiers)] = draw(cents(0, 300_000))

    # The secondary lists some of the primary lines (maybe none), perhaps with another charge,
    # perhaps with a line the primary does not have (line_mismatch).
    if draw(st.sampled_from((True,) * 5 + (False,))):
        listed = list(primaries)
    else:
        listed = draw(st.lists(st.sampled_from(primaries), unique_by=lambda p: p.line_id, min_size=1, max_size=count))
    pays_as_expected = draw(st.booleans())
    secondaries = []
    for p in listed:
        bump = draw(st.sampled_from((0,) * 9 + (100,))) if lifecycle_codes else 0
        side = draw(secondary_sides(p, p.charge + bump))
        if pays_as_expected:
            side = _paying_as_expected(side, p, fees.get((p.procedure_code, p.modifiers)), terms)
        secondaries.append(side)
    if not secondaries or (lifecycle_codes and draw(st.sampled_from((False,) * 19 + (True,)))):
        stray = replace(primaries[0], line_id="99")
        secondaries.append(draw(secondary_sides(stray)))

    primary_status = "processed"
    secondary_payer: str | None = SECONDARY_PAYER
    secondary_from = SECONDARY_PAYER
    secondary_status = "processed"
    if lifecycle_codes:
        primary_status = draw(st.sampled_from(("processed", "processed", "processed", "denied")))
        if primary_status == "denied" and draw(st.booleans()):
            primaries[0] = replace(primaries[0], extra=(adjustment("OA", draw(st.sampled_from(("22", "109"))), 0),))
        secondary_payer = draw(st.sampled_from((SECONDARY_PAYER,) * 8 + (None, OTHER_PAYER)))
        secondary_from = draw(st.sampled_from((SECONDARY_PAYER,) * 8 + (OTHER_PAYER,)))
        secondary_status = draw(st.sampled_from(("processed", "processed", "denied")))
        code = draw(st.sampled_from((None,) * 8 + ("22", "16")))
        if code is not None:
            remarks = ("MA04",) if code == "16" and draw(st.booleans()) else ()
            secondaries[0] = replace(secondaries[0], extra=(adjustment("CO", code, 0),), remarks=remarks)

    primary_at = BASE_TIME + timedelta(days=draw(st.integers(0, 60)), minutes=draw(st.integers(0, 59)))
    secondary_at = BASE_TIME + timedelta(days=draw(st.integers(0, 60)), minutes=draw(st.integers(0, 59)))
    primary = eob_json(
        "EOB-P",
        [p.to_json() for p in primaries],
        payer_id="BCBS-TX",
        secondary_payer_id=secondary_payer,
        status=primary_status,
        at=primary_at,
    )
    secondary = eob_json(
        "EOB-S",
        [s.to_json() for s in secondaries],
        payer_id=secondary_from,
        status=secondary_status,
        at=secondary_at,
    )
    submitted = draw(submissions(primaries)) if lifecycle_codes else None
    if lifecycle_codes and draw(st.booleans()):
        del primary["secondary_payer_id"]  # an 835 without crossover: the coverage is the submission's
    return Scenario(terms, fees, primaries, secondaries, primary, secondary, submitted)


@st.composite
def submissions(draw: st.DrawFn, primaries: list[PrimarySide]) -> dict[str, Any] | None:
    """Maybe the claim as submitted: usually the primary's lines and COB order, sometimes another
    secondary (or none), another primary, a line charged otherwise, a tertiary."""
    if draw(st.sampled_from((False, True, True))):
        return None
    coverage = [{"payer_id": draw(st.sampled_from(("BCBS-TX",) * 9 + (OTHER_PAYER,))), "role": "primary"}]
    listed = draw(st.sampled_from((SECONDARY_PAYER,) * 6 + (None, OTHER_PAYER)))
    if listed is not None and listed != coverage[0]["payer_id"]:
        coverage.append({"payer_id": listed, "role": "secondary"})
        if draw(st.sampled_from((False,) * 4 + (True,))):
            coverage.append({"payer_id": "TRICARE", "role": "tertiary"})
    lines = [
        {
            "line_id": p.line_id,
            "procedure_code": p.procedure_code,
            "service_date": "2026-03-02",
            "charge": fmt(p.charge),
        }
        for p in primaries
    ]
    if draw(st.sampled_from((False,) * 9 + (True,))):
        lines[0]["charge"] = fmt(primaries[0].charge + 100)
    at = BASE_TIME - timedelta(days=draw(st.integers(1, 20)))
    return {
        "event_id": "SUB-1",
        "claim_id": "CLM-P",
        "submitted_at": fmt_time(at),
        "coverage": coverage,
        "lines": lines,
    }


def _paying_as_expected(side: SecondarySide, p: PrimarySide, fee: int | None, terms: Terms) -> SecondarySide:
    """The secondary line paying S_exp when its adjustments leave room for it (so the claim can settle)."""
    s_exp = oracle(p, side, fee, terms, None).s_exp
    room = side.charge - side.deductible - side.denial_amount
    paying = replace(side, paid=s_exp)
    if s_exp <= room and oracle(p, paying, fee, terms, None).s_exp == s_exp:
        return paying
    return side


def claim_money(computed: ClaimComputation) -> list[Decimal]:
    return [
        computed.total_charge,
        computed.primary_paid,
        computed.expected_secondary_paid,
        computed.secondary_paid,
        computed.patient_responsibility,
        computed.write_off,
    ]


@PROPERTY
@given(scenario=scenarios(lifecycle_codes=False), use_actual=st.booleans(), own_payer=st.booleans())
def test_claim_totals_are_sums_of_line_values(scenario: Scenario, use_actual: bool, own_payer: bool) -> None:
    primary = EobEvent.model_validate(scenario.primary)
    secondary_json = scenario.secondary if own_payer else {**scenario.secondary, "payer_id": OTHER_PAYER}
    secondary = EobEvent.model_validate(secondary_json)
    ref = scenario.reference()
    computed = compute_claim(primary, SECONDARY_PAYER, ref, secondary, use_actual=use_actual)

    lines = computed.lines
    assert [r.primary.line_id for r in lines] == [p.line_id for p in scenario.primary_lines]
    assert computed.total_charge == sum((r.primary.charge for r in lines), Decimal(0))
    assert computed.primary_paid == sum((r.primary.primary_paid for r in lines), Decimal(0))
    assert computed.expected_secondary_paid == sum((r.expected_paid for r in lines), Decimal(0))
    assert computed.secondary_paid == sum((r.secondary_paid for r in lines), Decimal(0))
    assert computed.patient_responsibility == sum((r.patient for r in lines), Decimal(0))
    assert computed.write_off == sum((r.write_off for r in lines), Decimal(0))
    assert all(is_cents(m) for m in claim_money(computed))
    assert computed.patient_reasons == tuple(
        r for r in PATIENT_REASON_ORDER if any(r in line.patient_reasons for line in lines)
    )

    # Each line against the oracle, joined as section 6 says: A2, d2 and denials only from the
    # claim's own secondary payer; S_act from whichever EOB is in, 0 for a line it does not list.
    by_id = {s.line_id: s for s in scenario.secondary_lines}
    for p, result in zip(scenario.primary_lines, lines, strict=True):
        paid_line = by_id.get(p.line_id)
        own = paid_line if own_payer else None
        s_act = (paid_line.paid if paid_line else 0) if use_actual else None
        fee = scenario.fees.get((p.procedure_code, p.modifiers))
        expected = oracle(p, own, fee, scenario.terms, s_act)
        check_line(result, p, expected, expected.s_exp if s_act is None else s_act)


def primary_claims() -> st.SearchStrategy[tuple[PrimarySide, ...]]:
    return st.integers(1, 3).flatmap(lambda n: st.tuples(*(primary_sides(str(i + 1)) for i in range(n))))


@PROPERTY
@given(lines=primary_claims())
def test_claim_without_secondary_coverage(lines: tuple[PrimarySide, ...]) -> None:
    primary = EobEvent.model_validate(eob_json("EOB-P", [p.to_json() for p in lines], payer_id="BCBS-TX"))
    computed = compute_claim(primary, None, Reference({}, {}))
    assert computed.terms is None
    for p, r in zip(lines, computed.lines, strict=True):
        assert to_cents(r.expected_paid) == to_cents(r.secondary_paid) == 0
        assert to_cents(r.patient) == p.pr1
        assert to_cents(r.write_off) == p.charge - p.paid - p.pr1
        assert ("no_secondary_coverage" in r.patient_reasons) == (p.pr1 > 0)
    assert computed.patient_responsibility == sum((r.patient for r in computed.lines), Decimal(0))
    assert computed.write_off == sum((r.write_off for r in computed.lines), Decimal(0))
    assert all(is_cents(m) for m in claim_money(computed))


# ---------------------------------------------------------------------------------------------
# Lifecycle properties through the engine

Message = tuple[str, str | None, str | None]


def feed(messages: list[Message], *, now: datetime | None = None) -> list[list[Published]]:
    """Every message to a fresh engine; what each one emitted (and the final clock move)."""
    engine = Engine()
    outputs = [engine.receive(topic, key, raw, offset=n) for n, (topic, key, raw) in enumerate(messages, start=1)]
    if now is not None:
        outputs.append(engine.advance(now))
    for out in outputs:
        letters = [e.value for e in out if isinstance(e.value, DeadLetter)]
        assert letters == [], letters  # every generated message is valid
    return outputs


def eob_message(topic: str, value: dict[str, Any]) -> Message:
    return (topic, value["claim_id"], json.dumps(value))


VOLATILE = {"event_id", "revision", "produced_at", "voids_event_id"}


def settled(out: list[Published]) -> list[tuple[str, dict[str, Any]]]:
    """What a claim version concluded: its discrepancies and its ready event, without the stamps
    (ids, revisions, times) that depend on the history that led there."""
    return [
        (e.topic, e.value.model_dump(mode="json", exclude=VOLATILE))
        for e in out
        if e.topic == "billing.discrepancy" or (isinstance(e.value, PatientBillingReady) and e.value.status == "ready")
    ]


@PROPERTY
@given(scenario=scenarios())
def test_arrival_order_of_the_two_eobs_does_not_change_the_result(scenario: Scenario) -> None:
    refs = scenario.reference_messages()
    primary = eob_message("eob.primary", scenario.primary)
    secondary = eob_message("eob.secondary", scenario.secondary)

    primary_first = feed([*refs, primary, secondary])
    secondary_first = feed([*refs, secondary, primary])

    assert secondary_first[-2] == []  # a secondary before its primary waits quietly
    a, b = settled(primary_first[-1]), settled(secondary_first[-1])
    event("outcome: " + ", ".join(value.get("kind") or value["status"] for _, value in a))
    assert a == b
    # The ready event, when there is one, carries the section 4 amounts for the actual payment.
    readies = [value for topic, value in a if topic == "billing.ready"]
    if readies:
        [ready] = readies
        # Without a submission here, an unstated primary's secondary is the secondary EOB's payer.
        payer = scenario.primary.get("secondary_payer_id", scenario.secondary["payer_id"])
        computed = compute_claim(
            EobEvent.model_validate(scenario.primary),
            payer,
            scenario.reference(),
            EobEvent.model_validate(scenario.secondary),
            use_actual=True,
        )
        assert payer is not None  # a claim without a secondary payer cannot settle with a secondary EOB
        assert ready["patient_responsibility"] == f"{computed.patient_responsibility:.2f}"
        assert ready["write_off"] == f"{computed.write_off:.2f}"
        assert ready["secondary_paid"] == f"{computed.secondary_paid:.2f}"
        assert [line["patient_reasons"] for line in ready["lines"]] == [list(r.patient_reasons) for r in computed.lines]


@PROPERTY
@given(scenario=scenarios(), data=st.data())
def test_arrival_order_with_a_submission_does_not_change_the_result(scenario: Scenario, data: st.DataObject) -> None:
    """COVERAGE.md: a claim version is (submission, primary, secondary), whatever order they came in."""
    inputs = [eob_message("eob.primary", scenario.primary), eob_message("eob.secondary", scenario.secondary)]
    if scenario.submission is not None:
        inputs.append(("claims.submitted", "CLM-P", json.dumps(scenario.submission)))
    refs = scenario.reference_messages()
    one = data.draw(st.permutations(inputs), label="one order")
    other = data.draw(st.permutations(inputs), label="another order")
    a, b = settled(feed([*refs, *one])[-1]), settled(feed([*refs, *other])[-1])
    event("outcome: " + ", ".join(value.get("kind") or value["status"] for _, value in a))
    assert a == b
    # COVERAGE.md section 5: a ready line's coded write-offs add up to its write-off, exactly.
    for ready_line in (ln for topic, value in a if topic == "billing.ready" for ln in value["lines"]):
        coded = sum((Decimal(entry["amount"]) for entry in ready_line["write_off_reasons"]), Decimal(0))
        assert coded == Decimal(ready_line["write_off"])
        assert all(Decimal(entry["amount"]) != 0 for entry in ready_line["write_off_reasons"])


def negated(value: dict[str, Any], event_id: str, at: datetime) -> dict[str, Any]:
    """A reversal of `value`: the same lines with every amount negated."""

    def neg(amount: str | None) -> str | None:
        return None if amount is None else fmt(-to_cents(Decimal(amount)))

    lines = [
        {
            **line,
            "charge": neg(line["charge"]),
            "paid": neg(line["paid"]),
            "allowed": neg(line["allowed"]),
            "adjustments": [{**a, "amount": neg(a["amount"])} for a in line["adjustments"]],
        }
        for line in value["lines"]
    ]
    return {
        **value,
        "event_id": event_id,
        "status": "reversed",
        "adjudicated_at": at.isoformat().replace("+00:00", "Z"),
        "lines": lines,
    }


def varied(value: dict[str, Any], how: str) -> dict[str, Any]:
    """The same event id with other (valid) content: a resend must be ignored all the same."""
    if how == "same":
        return value
    if "submitted_at" in value:
        return _varied_submission(value, how)
    if how == "later":  # would move the clock and fire timers if it counted
        at = datetime.fromisoformat(value["adjudicated_at"]) + timedelta(days=400)
        return {**value, "adjudicated_at": at.isoformat().replace("+00:00", "Z")}
    if how == "reversed":
        return {**value, "status": "reversed"}
    if how == "no_secondary":
        return {**value, "secondary_payer_id": None}
    # "amounts": one more dollar charged and paid on the first line (still balances)
    first = dict(value["lines"][0])
    first["charge"] = fmt(to_cents(Decimal(first["charge"])) + 100)
    first["paid"] = fmt(to_cents(Decimal(first["paid"])) + 100)
    return {**value, "lines": [first, *value["lines"][1:]]}


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Message], list[tuple[str, dict[str, Any]]]]:
    """Reference data, then a claim's EOBs in any order: the primary, the secondary, maybe a
    corrected primary and reversals of either."""
    scenario = draw(scenarios())
    eobs: list[tuple[str, dict[str, Any]]] = [("eob.primary", scenario.primary), ("eob.secondary", scenario.secondary)]
    later = BASE_TIME + timedelta(days=draw(st.integers(0, 90)))
    if scenario.submission is not None:
        eobs.append(("claims.submitted", scenario.submission))
        if draw(st.booleans()):
            frequency = draw(st.sampled_from(("replacement", "void")))
            again = {
                **scenario.submission,
                "event_id": "SUB-2",
                "frequency": frequency,
                "submitted_at": fmt_time(later),
            }
            eobs.append(("claims.submitted", again))
    if draw(st.booleans()):
        corrected = draw(scenarios())
        eobs.append(("eob.primary", {**corrected.primary, "event_id": "EOB-P2", "adjudicated_at": fmt_time(later)}))
    if draw(st.booleans()):
        eobs.append(("eob.secondary", negated(scenario.secondary, "EOB-S-REV", later + timedelta(days=1))))
    if draw(st.booleans()):
        eobs.append(("eob.primary", negated(scenario.primary, "EOB-P-REV", later + timedelta(days=2))))
    eobs = draw(st.permutations(eobs))
    return scenario.reference_messages(), eobs


def fmt_time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@PROPERTY
@given(history=histories(), data=st.data())
def test_resending_an_accepted_event_changes_nothing(
    history: tuple[list[Message], list[tuple[str, dict[str, Any]]]], data: st.DataObject
) -> None:
    refs, eobs = history
    stream: list[tuple[str, dict[str, Any]] | Message] = [*refs, *eobs]
    baseline = feed([_message(m) for m in stream], now=FAR_FUTURE)

    with_duplicates = list(stream)
    for _ in range(data.draw(st.integers(1, 3), label="resends")):
        topic, value = data.draw(st.sampled_from(eobs), label="resent")
        first = with_duplicates.index((topic, value))
        at = data.draw(st.integers(first + 1, len(with_duplicates)), label="position")
        how = data.draw(st.sampled_from(("same", "same", "later", "amounts", "reversed", "no_secondary")), label="how")
        others = (topic, topic, _other(topic)) if topic != "claims.submitted" else (topic,)
        resend_topic = data.draw(st.sampled_from(others), label="topic")
        with_duplicates.insert(at, (resend_topic, varied(value, how)))
    duplicated = feed([_message(m) for m in with_duplicates], now=FAR_FUTURE)

    # Drop the (empty) outputs of the resends; everything else is identical, stamps included.
    resends = [i for i, m in enumerate(with_duplicates) if m not in stream or with_duplicates.index(m) != i]
    assert all(duplicated[i] == [] for i in resends)
    kept = [out for i, out in enumerate(duplicated) if i not in resends]
    assert _dump(kept) == _dump(baseline)


def _varied_submission(value: dict[str, Any], how: str) -> dict[str, Any]:
    if how == "later":
        at = datetime.fromisoformat(value["submitted_at"]) + timedelta(days=400)
        return {**value, "submitted_at": fmt_time(at)}
    if how == "reversed":
        return {**value, "frequency": "void"}
    if how == "no_secondary":
        return {**value, "coverage": [c for c in value["coverage"] if c["role"] == "primary"]}
    first = {**value["lines"][0], "charge": fmt(to_cents(Decimal(value["lines"][0]["charge"])) + 100)}
    return {**value, "lines": [first, *value["lines"][1:]]}


def _other(topic: str) -> str:
    return "eob.secondary" if topic == "eob.primary" else "eob.primary"


def _message(item: tuple[str, dict[str, Any]] | Message) -> Message:
    if len(item) == 3:
        return item  # type: ignore[return-value]
    topic, value = item  # type: ignore[misc]
    return eob_message(topic, value)


def _dump(outputs: list[list[Published]]) -> list[list[tuple[str, str | None, str]]]:
    return [[(e.topic, e.key, e.value.model_dump_json()) for e in out] for out in outputs]


# ---------------------------------------------------------------------------------------------
# Examples that pin the properties above to COB_RULES.md


def test_oracle_reproduces_worked_example_1() -> None:
    p = PrimarySide(
        "1",
        "99214",
        (),
        paid=8_000,
        pr={"1": 0, "2": 2_000, "3": 0, "45": 0},
        co45=5_000,
        allowed=10_000,
        zero_entries=False,
    )
    sec = SecondarySide("1", "99214", (), 15_000, 1_000, 0, None, "CO", 0, 9_000)
    assert oracle(p, sec, 9_000, Terms(), None) == Expected(10_000, 9_000, 9_000, 1_000, 9_000, 0, 6_000)
    primary = PrimaryLine.of(ServiceLine.model_validate(p.to_json()))
    result = compute_line(primary, secondary_allowable(primary, Decimal("90.00"), None), Terms().payer_terms())
    assert (result.expected_paid, result.patient, result.write_off) == (
        Decimal("10.00"),
        Decimal("0.00"),
        Decimal("60.00"),
    )


def test_event_ids_are_remembered_per_claim() -> None:
    """The documented scope of duplicate detection (README, "Decisions"): the claims table is
    partitioned by claim, so an id is recognised again within its claim, not across claims."""
    line = PrimarySide("1", "99214", (), 8_000, {"1": 0, "2": 2_000, "3": 0, "45": 0}, 5_000, 10_000, False)
    first = eob_json("EOB-1", [line.to_json()], payer_id="BCBS-TX", claim_id="CLM-A")
    engine = Engine()
    assert [e.topic for e in engine.receive("eob.primary", "CLM-A", json.dumps(first), offset=1)] == ["billing.ready"]
    assert engine.receive("eob.primary", "CLM-A", json.dumps(first), offset=2) == []
    resent = {**first, "claim_id": "CLM-B"}
    assert [e.topic for e in engine.receive("eob.primary", "CLM-B", json.dumps(resent), offset=3)] == ["billing.ready"]


@given(st.decimals(min_value=Decimal("-99999999999999.99"), max_value=Decimal("99999999999999.99"), places=4))
def test_money_is_written_with_two_decimals_rounded_half_up_never_negative_zero(amount: Decimal) -> None:
    written = format_money(amount)
    cents = amount.quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert Decimal(written) == cents
    assert re.fullmatch(r"-?\d+\.\d\d", written), written
    assert written != "-0.00"
