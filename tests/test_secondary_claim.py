"""COVERAGE.md section 5, `secondary.claim`: the primary's adjudication to send with the claim to
the secondary payer, a rule a test, through replay's engine."""

from __future__ import annotations

from decimal import Decimal

from builders import Run, adj, eob, line, profile, secondary_line, submission, unstated

from models.contract.outcomes import SecondaryClaim

LATER = "2026-03-12T09:00:00Z"


def claims(run: Run) -> list[SecondaryClaim]:
    return [p.value for p in run.out if isinstance(p.value, SecondaryClaim)]


def waiting_claim(run: Run | None = None) -> Run:
    """A claim billed to BCBS-TX with AETNA secondary, BCBS-TX's EOB without crossover."""
    run = run or Run()
    run.submit(submission("S1"))
    run.primary(unstated(eob("P1")))
    return run


def test_an_open_secondary_claim_follows_the_estimate_with_the_primarys_adjudication() -> None:
    run = Run()
    run.submit(submission("S1"))
    adjustments = [adj("CO", "45", "50.00"), adj("PR", "2", "20.00"), adj("OA", "23", "0.00")]
    run.primary(unstated(eob("P1", lines=[line(adjustments=adjustments)])))
    assert run.kinds() == ["secondary.expected", "secondary.claim:open"]
    [sent] = claims(run)
    assert (sent.status, sent.secondary_payer_id, sent.primary_payer_id, sent.primary_event_id) == (
        "open",
        "AETNA",
        "BCBS-TX",
        "P1",
    )
    assert (sent.revision, sent.adjudicated_at.isoformat()) == (2, "2026-03-10T15:00:00+00:00")
    [sent_line] = sent.lines
    assert (sent_line.line_id, sent_line.charge, sent_line.primary_paid) == ("1", Decimal("150.00"), Decimal("80.00"))
    # As the primary reported them: its order, a zero amount included.
    assert [(a.group, a.reason, f"{a.amount}") for a in sent_line.adjustments] == [
        ("CO", "45", "50.00"),
        ("PR", "2", "20.00"),
        ("OA", "23", "0.00"),
    ]
    assert (sent.primary_paid, sent.remaining_patient_liability) == (Decimal("80.00"), Decimal("20.00"))


def test_the_remaining_patient_liability_floors_each_lines_pr_at_zero() -> None:
    run = Run()
    run.submit(submission("S1", lines=[]) | {"lines": [_submitted("1"), _submitted("2")]})
    credit = [adj("CO", "45", "25.00"), adj("PR", "2", "20.00"), adj("PR", "1", "-25.00")]
    run.primary(unstated(eob("P1", lines=[line("1"), line("2", charge="100.00", adjustments=credit)])))
    assert claims(run)[0].remaining_patient_liability == Decimal("20.00")  # 20.00 + max(0, -5.00)


def _submitted(line_id: str) -> dict:
    charge = "150.00" if line_id == "1" else "100.00"
    return {"line_id": line_id, "procedure_code": "99214", "service_date": "2026-03-02", "charge": charge}


def test_no_secondary_claim_for_a_crossed_over_claim() -> None:
    run = Run()
    run.submit(submission("S1"))
    run.primary(eob("P1", secondary_payer_id="AETNA"))  # the primary sent it on itself
    assert run.kinds() == ["secondary.expected"]


def test_no_secondary_claim_when_the_secondarys_eob_is_already_in() -> None:
    run = Run()
    run.submit(submission("S1"))
    run.secondary(eob("X1", payer_id="AETNA", at="2026-03-09T10:00:00Z", lines=[secondary_line()]))
    run.primary(unstated(eob("P1")))
    assert "secondary.claim:open" not in run.kinds()


def test_no_secondary_claim_for_a_cob_order_denial() -> None:
    run = Run()
    run.submit(submission("S1"))
    denial = line(paid="0.00", adjustments=[adj("CO", "22", "150.00")])
    run.primary(unstated(eob("P1", status="denied", lines=[denial])))
    assert claims(run) == []


def test_no_secondary_claim_without_a_secondary_in_the_submission() -> None:
    run = Run()
    run.submit(submission("S1", secondary=None))
    run.primary(unstated(eob("P1")))
    assert claims(run) == []


def test_the_secondarys_eob_answers_it_and_replaces_nothing() -> None:
    run = waiting_claim()
    run.secondary(eob("X1", payer_id="AETNA", at="2026-03-20T10:00:00Z", lines=[secondary_line()]))
    assert run.kinds() == ["secondary.expected", "secondary.claim:open", "billing.ready:ready"]
    # A reversal of that EOB brings no new one, and the open one still stands.
    run.secondary(negated_secondary())
    assert [k for k in run.kinds() if k.startswith("secondary.claim")] == ["secondary.claim:open"]


def negated_secondary() -> dict:
    lines = [secondary_line(paid="-10.00", charge="-150.00", allowed="-90.00")]
    return eob("X1-R", payer_id="AETNA", status="reversed", at="2026-03-21T10:00:00Z", lines=lines)


def test_a_corrected_primary_replaces_it_then_a_new_one_follows_its_estimate() -> None:
    run = waiting_claim()
    run.primary(
        unstated(
            eob(
                "P2",
                at="2026-03-11T15:00:00Z",
                lines=[line(paid="70.00", adjustments=[adj("CO", "45", "50.00"), adj("PR", "2", "30.00")])],
            )
        )
    )
    assert run.kinds()[2:] == ["secondary.claim:replaced", "secondary.expected", "secondary.claim:open"]
    first, replaced, second = claims(run)
    assert replaced.replaces_event_id == first.event_id
    assert replaced.model_dump(
        exclude={"event_id", "revision", "produced_at", "status", "replaces_event_id"}
    ) == first.model_dump(exclude={"event_id", "revision", "produced_at", "status", "replaces_event_id"})
    assert replaced.event_id != first.event_id
    assert (second.primary_event_id, second.remaining_patient_liability) == ("P2", Decimal("30.00"))


def test_a_primary_reversal_replaces_it_and_opens_none() -> None:
    run = waiting_claim()
    reversal = line(
        charge="-150.00",
        paid="-80.00",
        allowed="-100.00",
        adjustments=[adj("CO", "45", "-50.00"), adj("PR", "2", "-20.00")],
    )
    run.primary(unstated(eob("R1", status="reversed", at="2026-03-11T00:00:00Z", lines=[reversal])))
    assert run.kinds()[2:] == ["secondary.claim:replaced"]


def test_a_replacement_submission_naming_the_same_payer_changes_nothing_for_it() -> None:
    run = waiting_claim()
    run.submit(submission("S2", frequency="replacement", at=LATER))
    assert run.kinds() == ["secondary.expected", "secondary.claim:open"]


def test_the_same_payer_through_its_alias_keeps_it_standing() -> None:
    run = Run()
    run.payer(profile("AETNA", aliases=["AETNA-837"]))
    waiting_claim(run)
    run.submit(submission("S2", frequency="replacement", secondary="AETNA-837", at=LATER))
    assert run.kinds() == ["secondary.expected", "secondary.claim:open"]


def test_a_submission_naming_another_secondary_replaces_it_and_opens_one_for_that_payer() -> None:
    run = waiting_claim()
    run.submit(submission("S2", frequency="replacement", secondary="CIGNA", at=LATER))
    assert run.kinds()[2:] == ["secondary.claim:replaced", "secondary.expected", "secondary.claim:open"]
    assert claims(run)[-1].secondary_payer_id == "CIGNA"


def test_a_void_replaces_it_and_the_claim_is_held_for_its_coverage() -> None:
    run = waiting_claim()
    run.submit(submission("S2", frequency="void", at=LATER))
    assert run.kinds()[2:] == ["secondary.claim:replaced", "billing.discrepancy:coverage_unknown"]


def test_emission_order_voided_ready_then_replaced_claim_then_reversal() -> None:
    """COVERAGE.md section 5: voided ready, replaced secondary claim, *_reversed, estimate, open."""
    run = waiting_claim()
    run.secondary(eob("X1", payer_id="AETNA", at="2026-03-20T10:00:00Z", lines=[secondary_line()]))
    reversal = line(
        charge="-150.00",
        paid="-80.00",
        allowed="-100.00",
        adjustments=[adj("CO", "45", "-50.00"), adj("PR", "2", "-20.00")],
    )
    run.primary(unstated(eob("R1", status="reversed", at="2026-03-21T00:00:00Z", lines=[reversal])))
    assert run.kinds()[3:] == [
        "billing.ready:voided",
        "secondary.claim:replaced",
        "billing.discrepancy:primary_reversed",
    ]


def test_it_counts_in_the_claims_revision_sequence() -> None:
    run = waiting_claim()
    run.secondary(eob("X1", payer_id="AETNA", at="2026-03-20T10:00:00Z", lines=[secondary_line()]))
    assert [p.value.revision for p in run.out] == [1, 2, 3]
