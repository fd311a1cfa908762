"""COB_RULES.md section 6: each discrepancy kind, its payload, tolerance and precedence."""

from __future__ import annotations

from decimal import Decimal

import pytest
from builders import Run, adj, eob, fee, line, profile, secondary_line

from models.cob.arithmetic import PrimaryLine, compute_line, secondary_allowable
from models.cob.reference import PayerTerms
from models.contract.events import ServiceLine


@pytest.fixture
def article(run: Run) -> Run:
    """AETNA as secondary with a 90.00 allowable for 99214; the article's primary EOB is in."""
    run.payer(profile("AETNA"))
    run.fee(fee("AETNA", "99214", "90.00"))
    run.primary(eob("P1"))
    return run


def secondary(paid: str = "10.00", *, event_id: str = "S1", payer_id: str = "AETNA", **kw) -> dict:
    lines = kw.pop("lines", None) or [secondary_line(paid=paid, **kw)]
    return eob(event_id, payer_id=payer_id, at="2026-03-24T15:00:00Z", secondary_payer_id=None, lines=lines)


def test_paid_as_expected_is_ready_without_discrepancy(article: Run) -> None:
    assert article.kinds(article.secondary(secondary("10.00"))) == ["billing.ready:ready"]


@pytest.mark.parametrize(
    ("paid", "kinds"),
    [
        ("9.99", ["billing.ready:ready"]),  # exactly at the band: no discrepancy
        ("9.98", ["billing.discrepancy:secondary_underpaid"]),  # one cent past it
        ("10.01", ["billing.ready:ready"]),
        ("10.02", ["billing.discrepancy:secondary_overpaid"]),
    ],
)
def test_tolerance_band_is_inclusive(article: Run, paid: str, kinds: list[str]) -> None:
    assert article.kinds(article.secondary(secondary(paid))) == kinds


def test_within_tolerance_the_patient_share_uses_what_was_actually_paid(article: Run) -> None:
    article.secondary(secondary("9.99"))
    ready = article.last("billing.ready")
    assert (ready.secondary_paid, ready.expected_secondary_paid) == (Decimal("9.99"), Decimal("10.00"))
    # K = max(P1 + S, min(K1, A2)) = 90, so the cent the secondary kept is the patient's.
    assert ready.patient_responsibility == Decimal("0.01")
    assert ready.write_off == Decimal("60.00")


def test_underpaid_payload(article: Run) -> None:
    article.secondary(secondary("5.00"))
    found = article.last("billing.discrepancy")
    assert (found.kind, found.blocking) == ("secondary_underpaid", True)
    assert (found.expected_secondary_paid, found.actual_secondary_paid, found.difference) == (
        Decimal("10.00"),
        Decimal("5.00"),
        Decimal("-5.00"),
    )
    assert found.line_ids == ("1",)
    assert (found.primary_event_id, found.secondary_event_id) == ("P1", "S1")
    assert found.action


def test_overpaid_payload(article: Run) -> None:
    article.secondary(secondary("20.00"))
    found = article.last("billing.discrepancy")
    assert (found.kind, found.difference, found.line_ids) == ("secondary_overpaid", Decimal("10.00"), ("1",))


def test_tolerance_scales_with_the_number_of_primary_lines(run: Run) -> None:
    run.fee(fee("AETNA", "99214", "90.00"))
    run.primary(eob("P1", lines=[line("1"), line("2")]))
    # Each line one cent short: 0.02 short in all, exactly at 0.01 x 2 lines.
    run.secondary(secondary(lines=[secondary_line("1", paid="9.99"), secondary_line("2", paid="9.99")]))
    assert run.kinds()[-1] == "billing.ready:ready"


def test_underpaid_names_only_the_lines_off_by_more_than_the_tolerance(run: Run) -> None:
    run.fee(fee("AETNA", "99214", "90.00"))
    run.primary(eob("P1", lines=[line("1"), line("2"), line("3")]))
    run.secondary(
        secondary(
            lines=[
                secondary_line("1", paid="10.00"),
                secondary_line("2", paid="2.00"),
                secondary_line("3", paid="9.99"),
            ]
        )
    )
    found = run.last("billing.discrepancy")
    assert (found.kind, found.line_ids) == ("secondary_underpaid", ("2",))
    assert found.difference == Decimal("-8.01")


def test_a_primary_line_the_secondary_did_not_list_counts_as_paid_zero(run: Run) -> None:
    run.fee(fee("AETNA", "99214", "90.00"))
    run.primary(eob("P1", lines=[line("1"), line("2")]))
    run.secondary(secondary(lines=[secondary_line("1", paid="10.00")]))
    found = run.last("billing.discrepancy")
    assert (found.kind, found.actual_secondary_paid, found.line_ids) == (
        "secondary_underpaid",
        Decimal("10.00"),
        ("2",),
    )


@pytest.mark.parametrize(
    ("adjustments", "remarks"),
    [
        ([adj("CO", "16", "150.00")], ["MA04"]),
        ([adj("CO", "16", "150.00")], []),
        ([adj("OA", "23", "150.00")], ["MA04"]),
    ],
    ids=["co16-and-ma04", "co16-only", "ma04-only"],
)
def test_missing_primary_eob_denial(article: Run, adjustments: list, remarks: list) -> None:
    article.secondary(secondary("0.00", allowed=None, adjustments=adjustments, remarks=remarks))
    found = article.last("billing.discrepancy")
    assert (found.kind, found.blocking, found.difference) == ("missing_primary_eob_denial", True, Decimal("-10.00"))
    assert article.kinds()[-1] == "billing.discrepancy:missing_primary_eob_denial"


def test_co16_when_the_payment_is_right_is_no_discrepancy(article: Run) -> None:
    paid = secondary_line(paid="10.00", adjustments=[adj("CO", "16", "0.00"), adj("OA", "23", "140.00")])
    assert article.kinds(article.secondary(secondary(lines=[paid]))) == ["billing.ready:ready"]


@pytest.mark.parametrize("code", ["22", "109"])
def test_cob_order_dispute_by_secondary_code_wins_over_underpayment(article: Run, code: str) -> None:
    denied = secondary_line(paid="0.00", allowed=None, adjustments=[adj("CO", code, "150.00")])
    emitted = article.secondary(secondary(lines=[denied]))
    assert article.kinds(emitted) == ["billing.discrepancy:cob_order_dispute"]
    found = emitted[0].value
    assert (found.blocking, found.line_ids, found.expected_secondary_paid, found.difference) == (
        True,
        ("1",),
        Decimal("10.00"),
        Decimal("-10.00"),
    )


def test_cob_order_dispute_when_another_payer_answers_as_secondary(article: Run) -> None:
    emitted = article.secondary(secondary("10.00", payer_id="CIGNA"))
    assert article.kinds(emitted) == ["billing.discrepancy:cob_order_dispute"]
    assert emitted[0].value.line_ids == ("1",)
    assert emitted[0].value.actual_secondary_paid == Decimal("10.00")


def test_cob_order_dispute_when_the_primary_says_there_is_no_secondary(run: Run) -> None:
    run.primary(eob("P1", secondary_payer_id=None))
    emitted = run.secondary(secondary("10.00"))
    assert run.kinds(emitted) == ["billing.ready:voided", "billing.discrepancy:cob_order_dispute"]
    found = emitted[1].value
    assert (found.expected_secondary_paid, found.difference, found.actual_secondary_paid) == (
        None,
        None,
        Decimal("10.00"),
    )


def test_primary_cob_order_denial_holds_the_claim(run: Run) -> None:
    denied = line(paid="0.00", allowed=None, adjustments=[adj("CO", "22", "150.00")])
    emitted = run.primary(eob("P1", status="denied", lines=[denied]))
    assert run.kinds(emitted) == ["billing.discrepancy:cob_order_dispute"]  # no estimate, no ready
    assert (emitted[0].value.expected_secondary_paid, emitted[0].value.line_ids) == (None, ("1",))
    # The secondary's EOB is a new claim version: the dispute is raised again, nothing is ready.
    assert run.kinds(run.secondary(secondary("10.00"))) == ["billing.discrepancy:cob_order_dispute"]


def test_primary_denied_for_other_reasons_still_reconciles(run: Run) -> None:
    denied = line(paid="0.00", allowed=None, adjustments=[adj("CO", "45", "50.00"), adj("PR", "96", "100.00")])
    emitted = run.primary(eob("P1", status="denied", lines=[denied]))
    assert run.kinds(emitted) == ["secondary.expected"]
    assert emitted[0].value.expected_secondary_paid == Decimal("100.00")


def test_line_mismatch_and_a_money_kind_in_one_version(article: Run) -> None:
    extra = secondary_line("9", paid="0.00")
    short = secondary_line("1", paid="5.00", charge="140.00")
    emitted = article.secondary(secondary(lines=[short, extra]))
    assert article.kinds(emitted) == ["billing.discrepancy:line_mismatch", "billing.discrepancy:secondary_underpaid"]
    mismatch = emitted[0].value
    assert (mismatch.blocking, mismatch.line_ids) == (True, ("1", "9"))
    # Secondary lines with no primary line are not in the totals.
    assert mismatch.actual_secondary_paid == Decimal("5.00")


def test_secondary_denied_status_is_reconciled_like_processed(article: Run) -> None:
    value = secondary("10.00")
    value["status"] = "denied"
    assert article.kinds(article.secondary(value)) == ["billing.ready:ready"]


def test_tolerance_comes_from_the_secondary_payers_profile(run: Run) -> None:
    run.payer(profile("AETNA", tolerance="5.00"))
    run.fee(fee("AETNA", "99214", "90.00"))
    run.primary(eob("P1"))
    assert run.kinds(run.secondary(secondary("5.00"))) == ["billing.ready:ready"]


def test_b2_rounds_half_up_to_the_cent() -> None:
    terms = PayerTerms("X", cob_method="standard", coinsurance_rate=Decimal("0.5"))
    first = PrimaryLine.of(ServiceLine.model_validate(line()))
    for a2, b2 in [("100.01", "50.01"), ("100.03", "50.02"), ("0.01", "0.01"), ("99.99", "50.00")]:
        result = compute_line(first, secondary_allowable(first, Decimal(a2), None), terms)
        assert result.benefit == Decimal(b2), a2
