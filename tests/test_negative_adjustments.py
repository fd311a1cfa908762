"""Negative and apportioned adjustments (CONTRACT.md "Inputs", COB_RULES.md section 2, COVERAGE.md
section 3): accepted in any group on any EOB, through both decoders; PR1, d2 and the supplemental
sum floored at 0; negative CO, OA, PI and CR amounts in no formula; the explanation says so, line
by line."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from builders import adj, eob, line, profile, secondary_line
from test_explain import explained, message
from test_worked_examples import compute

from cobstream.shared.explanation_text import render_text
from models.cob.arithmetic import PrimaryLine
from models.contract.events import EobEvent, ServiceLine
from models.remittance.decode import Rejected, decode_eob

# The X12 guide's COB example as the primary reports it: allowed 550.00 above the 541.00 charge.
GUIDE_PRIMARY = line(
    charge="541.00",
    paid="500.00",
    allowed="550.00",
    adjustments=[adj("CO", "45", "-9.00"), adj("PR", "1", "50.00")],
)
NEGATIVE_IN_EVERY_GROUP = line(
    charge="100.00",
    paid="100.00",
    allowed=None,
    adjustments=[
        adj("CO", "45", "-1.00"),
        adj("OA", "94", "-2.00"),
        adj("PI", "45", "-3.00"),
        adj("CR", "45", "-4.00"),
        adj("PR", "2", "10.00"),
    ],
)


def decoded(value: dict[str, Any], *, escaped: bool) -> EobEvent:
    """Through the fast decoder (plain JSON) or the full one (a backslash escape sends it there)."""
    text = json.dumps(value, ensure_ascii=False)
    if escaped:
        text = text.replace('"processed"', '"process\\u0065d"').replace('"denied"', '"deni\\u0065d"')
    result = decode_eob("primary", text)
    assert not isinstance(result, Rejected), result
    return result.eob


@pytest.mark.parametrize("escaped", [False, True], ids=["fast", "full"])
@pytest.mark.parametrize("status", ["processed", "denied"])
def test_negative_adjustments_are_accepted_in_every_group(status: str, escaped: bool) -> None:
    event = decoded(eob("E-1", status=status, lines=[NEGATIVE_IN_EVERY_GROUP]), escaped=escaped)
    amounts = [(a.group, a.amount) for a in event.lines[0].adjustments]
    assert amounts == [
        ("CO", Decimal("-1.00")),
        ("OA", Decimal("-2.00")),
        ("PI", Decimal("-3.00")),
        ("CR", Decimal("-4.00")),
        ("PR", Decimal("10.00")),
    ]


@pytest.mark.parametrize("escaped", [False, True], ids=["fast", "full"])
def test_minus_zero_reads_as_zero(escaped: bool) -> None:
    value = eob(
        "E-1", lines=[line(adjustments=[adj("CO", "45", "50.00"), adj("PR", "2", "20.00"), adj("OA", "94", "-0.00")])]
    )
    [*_, zero] = decoded(value, escaped=escaped).lines[0].adjustments
    assert str(zero.amount) == "0.00"


@pytest.mark.parametrize("escaped", [False, True], ids=["fast", "full"])
def test_a_line_with_negative_adjustments_must_still_balance(escaped: bool) -> None:
    unbalanced = line(charge="541.00", paid="500.00", adjustments=[adj("CO", "45", "9.00"), adj("PR", "1", "50.00")])
    text = json.dumps(eob("E-1", lines=[unbalanced]))
    if escaped:
        text = text.replace('"processed"', '"process\\u0065d"')
    result = decode_eob("primary", text)
    assert isinstance(result, Rejected)
    assert "does not balance: charge 541.00 - adjustments 59.00 = 482.00, but paid is 500.00" in result.error


def test_apportioned_is_kept_when_true_and_left_out_when_false() -> None:
    shares = [adj("CO", "45", "50.00"), {**adj("CO", "A2", "20.00"), "apportioned": True}]
    value = eob("E-1", lines=[line(paid="60.00", adjustments=[*shares, adj("PR", "2", "20.00")])])
    event = decoded(value, escaped=False)
    assert [a.apportioned for a in event.lines[0].adjustments] == [False, True, False]
    dumped = event.model_dump(mode="json")["lines"][0]["adjustments"]
    assert dumped[0] == {"group": "CO", "reason": "45", "amount": "50.00"}
    assert dumped[1] == {"group": "CO", "reason": "A2", "amount": "20.00", "apportioned": True}


def test_apportioned_must_be_true_or_false() -> None:
    shares = [adj("CO", "45", "50.00"), {**adj("PR", "2", "20.00"), "apportioned": "yes"}]
    result = decode_eob("primary", json.dumps(eob("E-1", lines=[line(adjustments=shares)])))
    assert isinstance(result, Rejected)
    assert "lines[0].adjustments[1].apportioned: must be true or false" in result.error


def primary_line(adjustments: list[dict[str, str]], *, charge: str, paid: str, allowed: str | None) -> PrimaryLine:
    return PrimaryLine.of(
        ServiceLine.model_validate(line(charge=charge, paid=paid, allowed=allowed, adjustments=adjustments))
    )


def test_pr1_is_floored_at_zero_and_a1_follows_it() -> None:
    first = primary_line(
        [adj("CO", "45", "25.00"), adj("PR", "2", "20.00"), adj("PR", "1", "-25.00")],
        charge="100.00",
        paid="80.00",
        allowed=None,
    )
    assert first.primary_patient == Decimal("0.00")
    assert first.primary_allowed == Decimal("80.00")  # P1 + PR1
    assert first.collectible == Decimal("80.00")


def test_a_negative_pr_amount_lowers_pr1_and_is_no_patient_reason() -> None:
    first = primary_line(
        [adj("PR", "2", "30.00"), adj("PR", "1", "-5.00")], charge="105.00", paid="80.00", allowed=None
    )
    assert first.primary_patient == Decimal("25.00")
    assert first.primary_reasons == ("2",)


def test_negative_contractual_amounts_enter_no_formula() -> None:
    """The guide's COB example on the primary: CO-45 -9.00 changes nothing but the write-off."""
    with_credit = compute(GUIDE_PRIMARY, a2=None)
    first = with_credit.primary
    assert (first.primary_patient, first.primary_allowed, first.collectible) == (
        Decimal("50.00"),
        Decimal("550.00"),
        Decimal("550.00"),
    )
    assert with_credit.expected_paid == Decimal("50.00")  # min(PR1 50, B2 550, min(550, 550) - 500)
    assert with_credit.patient == Decimal("0.00")
    assert with_credit.write_off == Decimal("-9.00")  # C - P1 - S - patient: a credit, reported as it is


def test_the_secondary_deductible_d2_is_floored_at_zero() -> None:
    refund = secondary_line(paid="10.00", adjustments=[adj("PR", "1", "-10.00"), adj("OA", "23", "150.00")])
    result = compute(line(), a2="90.00", secondary=refund)
    assert result.allowable.deductible == Decimal("0.00")
    assert result.benefit == Decimal("90.00")  # (A2 - d2) * r2 with d2 0, not 100


def test_the_supplemental_sum_is_floored_at_zero() -> None:
    credit = line(
        charge="100.00", paid="80.00", allowed=None, adjustments=[adj("PR", "1", "30.00"), adj("PR", "2", "-10.00")]
    )
    result = compute(credit, a2=None, method="supplemental", covers_deductible=False)
    assert result.primary.primary_patient == Decimal("20.00")
    assert result.expected_paid == Decimal("0.00")  # coinsurance and copay add up to -10.00: nothing to pay
    assert (result.patient, result.write_off) == (Decimal("20.00"), Decimal("0.00"))


def test_the_explanation_shows_negative_and_apportioned_adjustments() -> None:
    primary = line(
        charge="541.00",
        paid="480.00",
        allowed="550.00",
        adjustments=[
            adj("CO", "45", "-9.00"),
            {**adj("CO", "A2", "20.00"), "apportioned": True},
            adj("PR", "2", "55.00"),
            adj("PR", "1", "-5.00"),
        ],
    )
    other = line(
        "2",
        charge="100.00",
        paid="70.00",
        allowed=None,
        adjustments=[{**adj("CO", "A2", "30.00"), "apportioned": True}],
    )
    run = explained(
        [message("reference.payers", profile("AETNA")), message("eob.primary", eob("P-1", lines=[primary, other]))]
    )
    assert run.explanation is not None
    first = run.explanation.lines[0]
    assert first.primary_patient_responsibility == Decimal("50.00")
    assert first.primary_patient_sum == Decimal("50.00")
    credit, share, *_ = first.primary_adjustments
    assert (credit.amount, credit.apportioned, credit.claim_level_amount) == (Decimal("-9.00"), False, None)
    assert "negative: it only balances the line" in credit.meaning
    assert (share.amount, share.apportioned, share.claim_level_amount) == (Decimal("20.00"), True, Decimal("50.00"))
    assert "this line's share of the claim-level CO-A2 50.00" in share.meaning
    assert "negative: lowers the patient's share" in first.primary_adjustments[3].meaning


def test_the_explanation_says_when_pr1_was_floored() -> None:
    floored = line(
        charge="100.00",
        paid="80.00",
        allowed=None,
        adjustments=[adj("CO", "45", "25.00"), adj("PR", "2", "20.00"), adj("PR", "1", "-25.00")],
    )
    run = explained([message("eob.primary", eob("P-1", secondary_payer_id=None, lines=[floored]))])
    assert run.explanation is not None
    [explained_line] = run.explanation.lines
    assert (explained_line.primary_patient_responsibility, explained_line.primary_patient_sum) == (
        Decimal("0.00"),
        Decimal("-5.00"),
    )
    assert "they add up to -5.00: floored at 0.00" in render_text(run.explanation)
    assert run.last("billing.ready")["write_off"] == "20.00"
