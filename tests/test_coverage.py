"""COVERAGE.md sections 1 and 2, a rule a test: the claim's secondary payer from the primary EOB,
the submission or the secondary EOB; `coverage_unknown`; `primary_overdue`; the submission's COB
order and lines against the EOBs; aliases; `tertiary_payer_id`; versions, duplicates and voids.

Every scenario runs through replay's engine (`tests.builders.Run`), so what is asserted is what
the system publishes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from builders import Run, eob, fee, line, profile, secondary_line, submission, submitted_line, unstated

from models.cob.claim import EobReceived, SubmissionReceived
from models.cob.processor import InMemoryClaims
from models.cob.reference import Reference, ReferenceChange
from models.contract.events import ClaimSubmission, EobEvent, PayerProfile
from models.contract.outcomes import ExpectedSecondaryPayment, PatientBillingReady, PaymentDiscrepancy

SUBMITTED_AT = "2026-03-03T09:00:00Z"
PRIMARY_AT = "2026-03-10T15:00:00Z"


def discrepancies(run: Run, kind: str) -> list[PaymentDiscrepancy]:
    return [p.value for p in run.out if isinstance(p.value, PaymentDiscrepancy) and p.value.kind == kind]


def readies(run: Run) -> list[PatientBillingReady]:
    return [p.value for p in run.out if isinstance(p.value, PatientBillingReady)]


def estimates(run: Run) -> list[ExpectedSecondaryPayment]:
    return [p.value for p in run.out if isinstance(p.value, ExpectedSecondaryPayment)]


# ---- Section 1: the claim's secondary payer ----------------------------------------------------


def test_an_unstated_primary_without_a_submission_holds_the_claim_as_coverage_unknown() -> None:
    run = Run()
    run.primary(unstated(eob("P1")))
    assert run.kinds() == ["billing.discrepancy:coverage_unknown"]
    [held] = discrepancies(run, "coverage_unknown")
    assert held.blocking
    assert (held.expected_secondary_paid, held.actual_secondary_paid, held.difference) == (None, None, None)
    assert (held.line_ids, held.primary_event_id, held.secondary_event_id) == (("1",), "P1", None)


def test_coverage_unknown_names_every_primary_line() -> None:
    run = Run()
    run.primary(unstated(eob("P1", lines=[line("1"), line("2")])))
    assert discrepancies(run, "coverage_unknown")[0].line_ids == ("1", "2")


def test_the_primarys_stated_null_means_no_secondary_whatever_the_submission_says_later() -> None:
    run = Run()
    run.primary(eob("P1", secondary_payer_id=None))
    assert run.kinds() == ["billing.ready:ready"]
    # The submission that lists AETNA contradicts the primary: a COB-order dispute, the ready voided.
    run.submit(submission("S1"))
    assert run.kinds()[1:] == ["billing.ready:voided", "billing.discrepancy:cob_order_dispute"]


def test_the_submissions_secondary_makes_an_unstated_primary_wait_for_it() -> None:
    run = Run()
    run.submit(submission("S1"))
    assert run.out == []  # a submission alone emits nothing
    run.primary(unstated(eob("P1")))
    # The estimate, and the secondary claim the provider sends AETNA (COVERAGE.md section 5).
    assert run.kinds() == ["secondary.expected", "secondary.claim:open"]
    assert estimates(run)[0].secondary_payer_id == "AETNA"
    run.secondary(eob("X1", payer_id="AETNA", at="2026-03-20T10:00:00Z", lines=[secondary_line()]))
    [ready] = readies(run)
    assert (ready.secondary_payer_id, ready.secondary_paid, ready.patient_responsibility) == (
        "AETNA",
        Decimal("10.00"),
        Decimal("0.00"),
    )


def test_a_submission_without_a_secondary_lets_the_unstated_primary_bill_the_patient() -> None:
    run = Run()
    run.submit(submission("S1", secondary=None))
    run.primary(unstated(eob("P1")))
    [ready] = readies(run)
    assert (ready.secondary_payer_id, ready.patient_responsibility) == (None, Decimal("20.00"))
    assert ready.patient_reasons == ("primary_coinsurance", "no_secondary_coverage")


def test_the_secondary_eobs_payer_is_the_secondary_when_nothing_else_says() -> None:
    run = Run()
    run.secondary(eob("X1", payer_id="AETNA", lines=[secondary_line()]))
    run.primary(unstated(eob("P1", at="2026-03-11T09:00:00Z")))
    # The estimate is for the payer that adjudicated as secondary; no coverage_unknown.
    assert run.kinds() == ["secondary.expected", "billing.ready:ready"]
    assert readies(run)[0].secondary_payer_id == "AETNA"


def test_the_primarys_crossover_wins_over_the_submission() -> None:
    run = Run()
    run.submit(submission("S1", secondary="AETNA"))
    run.primary(eob("P1", secondary_payer_id="CIGNA"))
    assert estimates(run)[0].secondary_payer_id == "CIGNA"
    [dispute] = discrepancies(run, "cob_order_dispute")
    assert dispute.expected_secondary_paid == estimates(run)[0].expected_secondary_paid
    assert (dispute.actual_secondary_paid, dispute.difference, dispute.line_ids) == (None, None, ("1",))


# ---- Section 1: versions, replacements, voids, duplicates --------------------------------------


def test_a_replacement_replaces_the_submission_and_voids_the_standing_ready() -> None:
    run = Run()
    run.submit(submission("S1", secondary=None))
    run.primary(unstated(eob("P1")))
    run.submit(submission("S2", frequency="replacement", secondary="AETNA", at="2026-03-12T09:00:00Z"))
    assert run.kinds()[1:] == ["billing.ready:voided", "secondary.expected", "secondary.claim:open"]
    assert readies(run)[1].voids_event_id == readies(run)[0].event_id


def test_a_void_withdraws_the_submission_and_the_coverage_is_unknown_again() -> None:
    run = Run()
    run.submit(submission("S1", secondary=None))
    run.primary(unstated(eob("P1")))
    run.submit(submission("S2", frequency="void", at="2026-03-12T09:00:00Z"))
    assert run.kinds()[1:] == ["billing.ready:voided", "billing.discrepancy:coverage_unknown"]


def test_a_void_without_a_current_submission_changes_nothing_but_moves_the_clock() -> None:
    run = Run()
    run.submit(submission("S1", claim_id="CLM-2"))  # its primary_overdue falls due 2026-04-02 09:00
    assert run.submit(submission("V1", frequency="void", at="2026-03-20T00:00:00Z")) == []
    fired = run.submit(submission("V2", frequency="void", at="2026-04-03T00:00:00Z"))
    assert [p.value.kind for p in fired] == ["primary_overdue"]
    assert fired[0].value.claim_id == "CLM-2"


def test_a_duplicate_submission_changes_nothing_even_with_other_content() -> None:
    run = Run()
    run.submit(submission("S1", secondary=None))
    run.primary(unstated(eob("P1")))
    assert run.submit(submission("S1", secondary="AETNA")) == []
    assert run.kinds() == ["billing.ready:ready"]


def test_a_submission_id_is_never_a_duplicate_of_an_eob_id() -> None:
    run = Run()
    run.primary(unstated(eob("SAME")))
    assert run.submit(submission("SAME", secondary=None)) != []
    assert run.kinds() == ["billing.discrepancy:coverage_unknown", "billing.ready:ready"]


def test_a_null_frequency_is_an_original() -> None:
    run = Run()
    run.submit(submission("S1", frequency=None, secondary=None))
    run.primary(unstated(eob("P1")))
    assert run.kinds() == ["billing.ready:ready"]


def test_an_invalid_submission_is_dead_lettered_and_its_id_not_remembered() -> None:
    run = Run()
    broken = submission("S1")
    broken["coverage"] = [{"payer_id": "BCBS-TX", "role": "secondary"}]  # no primary
    [letter] = run.submit(broken)
    assert letter.topic == "eob.dead-letter"
    assert "exactly one is required" in letter.value.error
    run.submit(submission("S1", secondary=None))  # the same id, fixed
    run.primary(unstated(eob("P1")))
    assert run.kinds()[1:] == ["billing.ready:ready"]


def test_two_ids_of_one_payer_in_one_submission_are_refused_through_the_aliases() -> None:
    run = Run()
    run.payer(profile("AETNA", aliases=["AETNA-COBA"]))
    [letter] = run.submit(submission("S1", primary="AETNA", secondary="AETNA-COBA"))
    assert letter.topic == "eob.dead-letter"
    assert "one payer ('AETNA'" in letter.value.error


# ---- Aliases ---------------------------------------------------------------------------------


def test_a_crossover_to_the_coba_id_matches_the_secondary_eob_under_its_own_id() -> None:
    run = Run()
    run.payer(profile("MEDICAID-TX", cob_method="medicaid", aliases=["COBA-77"]))
    run.primary(eob("P1", secondary_payer_id="COBA-77"))
    run.secondary(eob("X1", payer_id="MEDICAID-TX", at="2026-03-20T10:00:00Z", lines=[secondary_line()]))
    assert discrepancies(run, "cob_order_dispute") == []
    # The profile found through the alias gives the method; the ids are carried as received.
    assert (estimates(run)[0].cob_method, estimates(run)[0].secondary_payer_id) == ("medicaid", "COBA-77")
    assert readies(run)[0].cob_method == "medicaid"


def test_the_fee_schedule_is_found_under_the_payers_own_id_first_then_as_given_then_its_aliases() -> None:
    run = Run()
    run.payer(profile("AETNA", aliases=["ZZ-ALIAS", "AA-ALIAS"]))
    run.fee(fee("AA-ALIAS", "99214", "95.00"))
    run.fee(fee("ZZ-ALIAS", "99214", "93.00"))
    run.primary(eob("P1", secondary_payer_id="ZZ-ALIAS"))
    # Not under AETNA: the id as given (ZZ-ALIAS) comes before the aliases in sorted order.
    assert estimates(run)[-1].lines[0].secondary_allowable == Decimal("93.00")
    run.fee(fee("AETNA", "99214", "91.00"))
    run.primary(eob("P2", secondary_payer_id="ZZ-ALIAS"))
    assert estimates(run)[-1].lines[0].secondary_allowable == Decimal("91.00")


def test_an_alias_resolves_to_the_latest_profile_listing_it() -> None:
    run = Run()
    run.payer(profile("AETNA", aliases=["SHARED"], in_network=False))
    run.payer(profile("CIGNA", aliases=["SHARED"], cob_method="standard"))
    run.primary(eob("P1", secondary_payer_id="SHARED"))
    assert estimates(run)[0].cob_method == "standard"


def test_the_submissions_primary_is_compared_through_aliases() -> None:
    run = Run()
    run.payer(profile("BCBS-TX", aliases=["BCBS-835"]))
    run.submit(submission("S1", secondary=None))
    run.primary(unstated(eob("P1", payer_id="BCBS-835")))
    assert run.kinds() == ["billing.ready:ready"]


# ---- Section 2: the submission against the EOBs -----------------------------------------------


def test_a_primary_eob_from_another_payer_than_the_submissions_primary_is_a_cob_order_dispute() -> None:
    run = Run()
    run.submit(submission("S1"))
    run.primary(unstated(eob("P1", payer_id="UHC")))
    # A dispute does not hold the secondary claim back (COVERAGE.md section 5, "Conditions").
    assert run.kinds() == ["secondary.expected", "secondary.claim:open", "billing.discrepancy:cob_order_dispute"]
    [dispute] = discrepancies(run, "cob_order_dispute")
    assert dispute.expected_secondary_paid == Decimal("20.00")
    assert (dispute.actual_secondary_paid, dispute.line_ids, dispute.blocking) == (None, ("1",), True)


def test_a_primary_naming_none_while_the_submission_lists_a_secondary_is_a_dispute_without_expected() -> None:
    run = Run()
    run.submit(submission("S1"))
    run.primary(eob("P1", secondary_payer_id=None))
    [dispute] = discrepancies(run, "cob_order_dispute")
    assert (dispute.expected_secondary_paid, dispute.difference) == (None, None)
    assert readies(run) == []


def test_the_dispute_carries_the_secondarys_total_when_its_eob_is_in() -> None:
    run = Run()
    run.submit(submission("S1"))
    run.primary(eob("P1", secondary_payer_id="CIGNA"))
    run.secondary(eob("X1", payer_id="CIGNA", at="2026-03-20T10:00:00Z", lines=[secondary_line(paid="12.00")]))
    dispute = discrepancies(run, "cob_order_dispute")[-1]
    assert (dispute.actual_secondary_paid, dispute.difference) == (Decimal("12.00"), Decimal("2.00"))


def test_a_primary_line_not_on_the_submission_or_with_another_charge_is_a_line_mismatch() -> None:
    run = Run()
    run.submit(submission("S1", lines=[submitted_line("1", "140.00"), submitted_line("3")]))
    run.primary(unstated(eob("P1", lines=[line("1"), line("2")])))
    assert run.kinds() == ["secondary.expected", "secondary.claim:open", "billing.discrepancy:line_mismatch"]
    [mismatch] = discrepancies(run, "line_mismatch")
    # Line 3 was submitted and not adjudicated: no mismatch. The estimate rides along.
    assert mismatch.line_ids == ("1", "2")
    assert (mismatch.expected_secondary_paid, mismatch.actual_secondary_paid) == (Decimal("40.00"), None)


def test_one_line_mismatch_names_the_secondary_lines_then_the_primary_lines() -> None:
    run = Run()
    run.submit(submission("S1", lines=[submitted_line("1", "140.00")]))
    run.primary(unstated(eob("P1")))
    run.secondary(eob("X1", payer_id="AETNA", at="2026-03-20T10:00:00Z", lines=[secondary_line(), secondary_line("9")]))
    mismatch = discrepancies(run, "line_mismatch")[-1]
    assert mismatch.line_ids == ("9", "1")


# ---- primary_overdue -----------------------------------------------------------------------


def test_primary_overdue_fires_primary_wait_days_after_the_submission_once() -> None:
    run = Run()
    run.payer(profile("BCBS-TX", primary_wait_days=10))
    run.submit(submission("S1"))
    assert run.advance("2026-03-13T08:59:59Z") == []
    [fired] = run.advance("2026-03-13T09:00:00Z")
    overdue = fired.value
    assert (overdue.kind, overdue.blocking, overdue.line_ids) == ("primary_overdue", False, ("1",))
    assert (overdue.primary_event_id, overdue.secondary_event_id, overdue.expected_secondary_paid) == (None, None, None)
    assert run.advance("2026-05-01T00:00:00Z") == []


def test_a_primary_eob_in_time_disarms_primary_overdue() -> None:
    run = Run()
    run.submit(submission("S1"))
    run.primary(unstated(eob("P1")))
    run.advance("2026-04-05T00:00:00Z")  # past the primary's deadline, before the secondary's
    assert discrepancies(run, "primary_overdue") == []


def test_a_replacement_rearms_primary_overdue_from_its_own_submitted_at() -> None:
    run = Run()
    run.submit(submission("S1"))
    run.advance("2026-04-03T00:00:00Z")
    run.submit(submission("S2", frequency="replacement", at="2026-04-05T00:00:00Z"))
    assert run.advance("2026-05-04T23:59:59Z") == []
    assert [p.value.kind for p in run.advance("2026-05-05T00:00:00Z")] == ["primary_overdue"]
    assert len(discrepancies(run, "primary_overdue")) == 2


def test_a_primary_reversed_past_the_deadline_lets_primary_overdue_fire() -> None:
    run = Run()
    run.submit(submission("S1", secondary=None))
    run.primary(unstated(eob("P1")))
    run.primary(unstated(eob("R1", status="reversed", at="2026-04-10T00:00:00Z")))
    assert run.kinds()[-2:] == ["billing.discrepancy:primary_reversed", "billing.discrepancy:primary_overdue"]


def test_timers_due_at_one_deadline_fire_in_the_order_of_their_kinds_names() -> None:
    run = Run()
    run.submit(submission("S1", at=PRIMARY_AT))
    run.secondary(eob("X1", payer_id="AETNA", at=PRIMARY_AT, lines=[secondary_line()]))
    fired = run.advance("2026-04-09T15:00:00Z")
    assert [p.value.kind for p in fired] == ["orphan_secondary", "primary_overdue"]


# ---- Estimates, secondary_overdue, the ready event ---------------------------------------------


def test_a_submission_that_makes_the_secondary_known_brings_its_estimate() -> None:
    run = Run()
    run.primary(unstated(eob("P1")))
    run.submit(submission("S1", at="2026-03-11T09:00:00Z"))
    assert run.kinds() == ["billing.discrepancy:coverage_unknown", "secondary.expected", "secondary.claim:open"]


def test_no_estimate_on_a_submission_that_names_the_same_payer_again() -> None:
    run = Run()
    run.submit(submission("S1"))
    run.primary(unstated(eob("P1")))
    run.submit(submission("S2", frequency="replacement", at="2026-03-11T09:00:00Z"))
    assert run.kinds() == ["secondary.expected", "secondary.claim:open"]  # the secondary claim stands


def test_no_estimate_on_a_submission_when_the_primary_states_the_secondary() -> None:
    run = Run()
    run.primary(eob("P1"))
    run.submit(submission("S1", at="2026-03-11T09:00:00Z"))
    assert run.kinds() == ["secondary.expected"]


def test_secondary_overdue_waits_for_the_submissions_secondary_on_its_terms() -> None:
    run = Run()
    run.payer(profile("AETNA", secondary_wait_days=5))
    run.submit(submission("S1"))
    run.primary(unstated(eob("P1")))
    [fired] = run.advance("2026-03-15T15:00:00Z")
    assert (fired.value.kind, fired.value.expected_secondary_paid) == ("secondary_overdue", Decimal("20.00"))


def test_the_ready_event_names_the_tertiary_and_its_void_repeats_it() -> None:
    run = Run()
    run.submit(submission("S1", secondary=None, tertiary="TRICARE"))
    run.primary(unstated(eob("P1")))
    run.primary(unstated(eob("R1", status="reversed", at="2026-03-11T00:00:00Z")))
    ready, voided = readies(run)
    assert (ready.tertiary_payer_id, voided.tertiary_payer_id, voided.status) == ("TRICARE", "TRICARE", "voided")


def test_a_claim_without_a_submission_has_no_tertiary() -> None:
    run = Run()
    run.primary(eob("P1", secondary_payer_id=None))
    assert readies(run)[0].tertiary_payer_id is None


def test_the_clock_moves_with_submitted_at() -> None:
    run = Run()
    run.primary(eob("P1", claim_id="CLM-9"))  # secondary_overdue due 2026-04-09 15:00
    fired = run.submit(submission("S1", at="2026-04-10T00:00:00Z", secondary=None))
    assert [p.value.kind for p in fired if isinstance(p.value, PaymentDiscrepancy)] == ["secondary_overdue"]


# ---- A lone denial or reversal: its role from the claim's submission ---------------------------


def _claims_with(*submitted: dict) -> InMemoryClaims:
    claims = InMemoryClaims(Reference())
    for value in submitted:
        claims.on_submission(SubmissionReceived(ClaimSubmission.model_validate(value)), NOW)
    return claims


def _roleless(value: dict) -> EobReceived:
    return EobReceived(None, EobEvent.model_validate(value))


NOW = datetime(2026, 3, 24, tzinfo=UTC)


def test_a_denial_whose_role_its_file_does_not_tell_takes_the_payers_place_in_the_submission() -> None:
    claims = _claims_with(submission("S1"))
    denial = eob("D1", payer_id="AETNA", status="denied", lines=[secondary_line(paid="0.00")])
    change = claims.on_eob(_roleless(denial), NOW)
    assert change.refused is None
    assert claims.claims["CLM-1"].secondary is not None  # AETNA is the submission's secondary
    assert claims.claims["CLM-1"].primary is None


def test_a_roleless_denial_from_a_payer_the_submission_does_not_list_is_refused_and_not_remembered() -> None:
    claims = _claims_with(submission("S1"))
    denial = eob("D1", payer_id="HUMANA", status="denied", lines=[secondary_line(paid="0.00")])
    change = claims.on_eob(_roleless(denial), NOW)
    assert change.refused is not None
    assert "does not list HUMANA" in change.refused
    assert "BCBS-TX (primary), AETNA (secondary)" in change.refused
    assert change.published == []
    assert not change.moves_clock
    assert "D1" not in claims.claims["CLM-1"].seen_event_ids


def test_a_roleless_denial_of_a_claim_without_a_submission_is_refused_saying_what_to_send() -> None:
    change = InMemoryClaims(Reference()).on_eob(_roleless(eob("D1", status="denied")), NOW)
    assert change.refused is not None
    assert "publish the claim's 837 or submission first" in change.refused
    assert change.after is None


def test_a_roleless_denial_resolves_through_the_payers_aliases() -> None:
    reference = Reference()
    reference.apply(ReferenceChange("reference.payers", "AETNA", PayerProfile(payer_id="AETNA", aliases=("60054",))))
    claims = InMemoryClaims(reference)
    claims.on_submission(SubmissionReceived(ClaimSubmission.model_validate(submission("S1"))), NOW)
    change = claims.on_eob(_roleless(eob("D1", payer_id="60054", status="denied")), NOW)
    assert change.refused is None
    assert claims.claims["CLM-1"].secondary is not None
