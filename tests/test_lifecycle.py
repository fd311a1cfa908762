"""COB_RULES.md section 7: order, duplicates, reversals, corrections, estimates, timers, reference data."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from builders import Run, adj, eob, fee, line, profile, secondary_line

SECONDARY_AT = "2026-03-24T15:00:00Z"


def secondary(event_id: str = "S1", paid: str = "10.00", **kw) -> dict:
    return eob(
        event_id,
        payer_id=kw.pop("payer_id", "AETNA"),
        at=kw.pop("at", SECONDARY_AT),
        secondary_payer_id=None,
        lines=kw.pop("lines", None) or [secondary_line(paid=paid)],
        **kw,
    )


@pytest.fixture
def aetna(run: Run) -> Run:
    run.payer(profile("AETNA"))
    run.fee(fee("AETNA", "99214", "90.00"))
    return run


def ready_run(run: Run) -> Run:
    run.primary(eob("P1"))
    run.secondary(secondary())
    assert run.kinds()[-1] == "billing.ready:ready"
    return run


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_secondary_first_waits_for_its_primary(aetna: Run) -> None:
    assert aetna.secondary(secondary()) == []
    emitted = aetna.primary(eob("P1"))
    assert aetna.kinds(emitted) == ["secondary.expected", "billing.ready:ready"]


def test_duplicate_event_id_changes_nothing_even_with_other_content(aetna: Run) -> None:
    ready_run(aetna)
    before = len(aetna.out)
    assert aetna.primary(eob("P1", lines=[line(paid="70.00", adjustments=[adj("PR", "2", "80.00")])])) == []
    assert aetna.secondary(secondary("S1", paid="99.00", lines=None)) == []
    assert len(aetna.out) == before


def test_duplicate_does_not_move_the_clock(aetna: Run) -> None:
    aetna.primary(eob("P1"))
    clock = aetna.engine.clock
    aetna.primary(eob("P1", at="2027-01-01T00:00:00Z"))
    assert aetna.engine.clock == clock


def test_carc_18_duplicate_claim_notice_is_ignored_and_remembered(aetna: Run) -> None:
    aetna.primary(eob("P1"))
    notice = secondary(
        "S-DUP",
        lines=[secondary_line(paid="0.00", allowed=None, adjustments=[adj("OA", "18", "150.00")])],
        at="2027-01-01T00:00:00Z",
    )
    assert aetna.secondary(notice) == []
    assert aetna.engine.clock == at("2026-03-10T15:00:00Z")
    assert "S-DUP" in aetna.engine.claims["CLM-1"].seen_event_ids
    assert aetna.kinds(aetna.secondary(secondary())) == ["billing.ready:ready"]


def test_secondary_reversal_after_ready_voids_it_and_the_correction_reconciles(aetna: Run) -> None:
    ready_run(aetna)
    first_ready = aetna.last("billing.ready")
    emitted = aetna.secondary(secondary("S1-R", status="reversed", at="2026-03-30T15:00:00Z"))
    assert aetna.kinds(emitted) == ["billing.ready:voided", "billing.discrepancy:secondary_reversed"]
    voided, reversed_ = emitted[0].value, emitted[1].value
    assert voided.voids_event_id == first_ready.event_id
    assert voided.patient_responsibility == first_ready.patient_responsibility
    assert (reversed_.blocking, reversed_.actual_secondary_paid, reversed_.line_ids) == (False, None, ("1",))
    assert (reversed_.primary_event_id, reversed_.secondary_event_id) == ("P1", None)
    # A new secondary EOB: no estimate (the primary did not change), a new ready event.
    assert aetna.kinds(aetna.secondary(secondary("S2", at="2026-04-02T15:00:00Z"))) == ["billing.ready:ready"]


def test_reversal_with_nothing_to_withdraw_changes_nothing(aetna: Run) -> None:
    assert aetna.secondary(secondary("S-R", status="reversed")) == []
    assert aetna.engine.claims["CLM-1"].secondary is None


def test_reversal_before_ready_withdraws_silently(aetna: Run) -> None:
    aetna.primary(eob("P1"))
    assert aetna.primary(eob("P1-R", status="reversed", at="2026-03-12T00:00:00Z")) == []
    assert aetna.engine.claims["CLM-1"].primary is None


def test_correction_without_reversal_replaces_the_primary(aetna: Run) -> None:
    ready_run(aetna)
    corrected = eob(
        "P2",
        at="2026-03-28T00:00:00Z",
        lines=[line(paid="70.00", adjustments=[adj("CO", "45", "50.00"), adj("PR", "2", "30.00")])],
    )
    emitted = aetna.primary(corrected)
    # P1 70 leaves min(A1, A2) - P1 = 20 for the secondary, which paid 10: underpaid.
    assert aetna.kinds(emitted) == [
        "billing.ready:voided",
        "secondary.expected",
        "billing.discrepancy:secondary_underpaid",
    ]
    assert emitted[1].value.expected_secondary_paid == Decimal("20.00")


def test_a_replaced_eob_never_becomes_current_again(aetna: Run) -> None:
    aetna.primary(eob("P1"))
    aetna.primary(eob("P2", at="2026-03-11T00:00:00Z"))
    aetna.primary(eob("P2-R", status="reversed", at="2026-03-12T00:00:00Z"))
    assert aetna.engine.claims["CLM-1"].primary is None
    assert aetna.secondary(secondary()) == []  # waits for a primary again


def test_primary_reversal_after_ready_then_correction(aetna: Run) -> None:
    ready_run(aetna)
    emitted = aetna.primary(eob("P1-R", status="reversed", at="2026-03-30T15:00:00Z"))
    assert aetna.kinds(emitted) == ["billing.ready:voided", "billing.discrepancy:primary_reversed"]
    assert emitted[1].value.actual_secondary_paid == Decimal("10.00")
    assert aetna.kinds(aetna.primary(eob("P1-C", at="2026-04-02T15:00:00Z"))) == [
        "secondary.expected",
        "billing.ready:ready",
    ]


def test_revisions_count_every_outcome_of_a_claim(aetna: Run) -> None:
    ready_run(aetna)
    aetna.primary(eob("P1-R", status="reversed", at="2026-03-30T15:00:00Z"))
    aetna.primary(eob("P1-C", at="2026-04-02T15:00:00Z"))
    assert [e.value.revision for e in aetna.out] == list(range(1, len(aetna.out) + 1))


def test_outcome_ids_are_deterministic_and_unique(aetna: Run) -> None:
    def history(run: Run) -> list[str]:
        run.payer(profile("AETNA"))
        run.fee(fee("AETNA", "99214", "90.00"))
        ready_run(run)
        run.primary(eob("P1-R", status="reversed", at="2026-03-30T15:00:00Z"))
        return [e.value.event_id for e in run.out]

    first, second = history(Run()), history(Run())
    assert first == second
    assert len(set(first)) == len(first)


def test_claim_without_secondary_coverage_is_ready_at_once(run: Run) -> None:
    emitted = run.primary(eob("P1", secondary_payer_id=None))
    assert run.kinds(emitted) == ["billing.ready:ready"]
    ready = emitted[0].value
    assert (ready.patient_responsibility, ready.write_off, ready.secondary_paid) == (
        Decimal("20.00"),
        Decimal("50.00"),
        Decimal("0.00"),
    )
    assert (ready.secondary_payer_id, ready.cob_method) == (None, None)
    assert ready.patient_reasons == ("primary_coinsurance", "no_secondary_coverage")


def test_estimate_is_emitted_only_when_a_primary_becomes_current(aetna: Run) -> None:
    aetna.primary(eob("P1"))
    aetna.secondary(secondary("S1", paid="5.00"))  # underpaid: no new estimate
    aetna.secondary(secondary("S2", paid="10.00", at="2026-03-25T00:00:00Z"))  # correction
    assert aetna.kinds().count("secondary.expected") == 1


def test_emission_order_for_one_event(aetna: Run) -> None:
    aetna.primary(eob("P1"))
    aetna.secondary(secondary(lines=[secondary_line(paid="10.00"), secondary_line("2", paid="0.00")]))
    # Line 2 is not on the primary, so nothing is ready; a corrected primary then raises, in order,
    # its estimate, the line mismatch and the money kind.
    emitted = aetna.primary(
        eob(
            "P2",
            at="2026-03-26T00:00:00Z",
            lines=[line(paid="70.00", adjustments=[adj("CO", "45", "50.00"), adj("PR", "2", "30.00")])],
        )
    )
    assert aetna.kinds(emitted) == [
        "secondary.expected",
        "billing.discrepancy:line_mismatch",
        "billing.discrepancy:secondary_underpaid",
    ]


class TestTimers:
    def test_secondary_overdue_fires_once_at_the_deadline(self, aetna: Run) -> None:
        aetna.primary(eob("P1"))  # 2026-03-10T15:00Z; AETNA waits 30 days
        assert aetna.engine.advance(at("2026-04-09T14:59:59Z")) == []
        emitted = aetna.engine.advance(at("2026-04-09T15:00:00Z"))
        assert [e.value.kind for e in emitted] == ["secondary_overdue"]
        found = emitted[0].value
        assert (found.blocking, found.expected_secondary_paid, found.actual_secondary_paid) == (
            False,
            Decimal("10.00"),
            None,
        )
        assert found.produced_at == at("2026-04-09T15:00:00Z")
        assert aetna.engine.advance(at("2026-06-01T00:00:00Z")) == []

    def test_a_late_secondary_is_processed_as_usual(self, aetna: Run) -> None:
        aetna.primary(eob("P1"))
        aetna.engine.advance(at("2026-05-01T00:00:00Z"))
        assert aetna.kinds(aetna.secondary(secondary())) == ["billing.ready:ready"]

    def test_a_corrected_primary_rearms_the_timeout_from_its_own_date(self, aetna: Run) -> None:
        aetna.primary(eob("P1"))
        aetna.engine.advance(at("2026-04-10T00:00:00Z"))
        aetna.primary(eob("P2", at="2026-04-05T00:00:00Z"))
        assert aetna.engine.advance(at("2026-05-04T23:00:00Z")) == []
        assert [e.value.kind for e in aetna.engine.advance(at("2026-05-05T00:00:00Z"))] == ["secondary_overdue"]

    def test_deadline_follows_the_profile_in_force_when_checked(self, aetna: Run) -> None:
        aetna.primary(eob("P1"))
        aetna.payer(profile("AETNA", secondary_wait_days=5))
        assert [e.value.kind for e in aetna.engine.advance(at("2026-03-15T15:00:00Z"))] == ["secondary_overdue"]

    def test_the_estimate_in_an_overdue_uses_reference_data_then_in_force(self, aetna: Run) -> None:
        aetna.primary(eob("P1"))
        aetna.fee(fee("AETNA", "99214", "95.00"))
        found = aetna.engine.advance(at("2026-05-01T00:00:00Z"))[0].value
        assert found.expected_secondary_paid == Decimal("15.00")

    def test_a_cob_order_denial_does_not_time_out(self, run: Run) -> None:
        denied = line(paid="0.00", allowed=None, adjustments=[adj("CO", "109", "150.00")])
        run.primary(eob("P1", status="denied", lines=[denied]))
        assert run.engine.advance(at("2027-01-01T00:00:00Z")) == []

    def test_orphan_secondary_uses_the_secondary_payers_primary_wait(self, run: Run) -> None:
        run.payer(profile("AETNA", primary_wait_days=10))
        run.secondary(secondary())  # 2026-03-24T15:00Z
        assert run.engine.advance(at("2026-04-03T14:00:00Z")) == []
        emitted = run.engine.advance(at("2026-04-03T15:00:00Z"))
        assert [e.value.kind for e in emitted] == ["orphan_secondary"]
        found = emitted[0].value
        assert (found.expected_secondary_paid, found.actual_secondary_paid, found.line_ids) == (
            None,
            Decimal("10.00"),
            ("1",),
        )
        assert run.engine.advance(at("2026-06-01T00:00:00Z")) == []
        # The primary turns up at last: the claim reconciles as usual.
        assert run.kinds(run.primary(eob("P1")))[-1] == "billing.ready:ready"

    def test_timers_fire_after_each_accepted_eob_in_deadline_then_claim_order(self, aetna: Run) -> None:
        aetna.primary(eob("PB", claim_id="CLM-B", at="2026-03-01T00:00:00Z"))
        aetna.primary(eob("PA", claim_id="CLM-A", at="2026-03-01T00:00:00Z"))
        aetna.primary(eob("PC", claim_id="CLM-C", at="2026-02-20T00:00:00Z"))
        emitted = aetna.primary(eob("PZ", claim_id="CLM-Z", at="2026-04-15T00:00:00Z"))
        assert [(e.value.claim_id, getattr(e.value, "kind", None)) for e in emitted] == [
            ("CLM-Z", None),
            ("CLM-C", "secondary_overdue"),
            ("CLM-A", "secondary_overdue"),
            ("CLM-B", "secondary_overdue"),
        ]


class TestReferenceData:
    def test_a_profile_applies_to_claims_reconciled_after_it(self, run: Run) -> None:
        run.fee(fee("CIGNA", "99215", "140.00"))
        primary = eob(
            "P1",
            secondary_payer_id="CIGNA",
            lines=[
                line(
                    charge="200.00",
                    paid="120.00",
                    allowed="150.00",
                    code="99215",
                    adjustments=[adj("CO", "45", "50.00"), adj("PR", "2", "30.00")],
                )
            ],
        )
        first = run.primary(primary)[0].value
        assert (first.cob_method, first.expected_secondary_paid) == ("lesser_of_allowables", Decimal("20.00"))
        run.payer(profile("CIGNA", cob_method="non_duplication", coinsurance_rate="0.80"))
        primary.update(event_id="P2", claim_id="CLM-2")
        second = run.primary(primary)[0].value
        assert (second.cob_method, second.expected_secondary_paid) == ("non_duplication", Decimal("0.00"))

    def test_a_null_profile_reverts_the_payer_to_the_defaults(self, run: Run) -> None:
        run.payer(profile("AETNA", cob_method="medicaid"))
        run.send("reference.payers", None, key="AETNA")
        assert run.primary(eob("P1"))[0].value.cob_method == "lesser_of_allowables"

    def test_fee_schedule_matches_modifiers_as_a_set_without_fallback(self, run: Run) -> None:
        run.fee(fee("AETNA", "97110", "40.00", modifiers=["GP", "59"]))
        with_mods = line(code="97110", modifiers=["59", "GP"])
        without = line("2", code="97110")
        estimate = run.primary(eob("P1", lines=[with_mods, without]))[0].value
        sources = {x.line_id: (x.allowable_source, x.secondary_allowable) for x in estimate.lines}
        assert sources == {"1": ("fee_schedule", Decimal("40.00")), "2": ("assumed_primary", Decimal("100.00"))}
        assert estimate.allowable_source == "assumed_primary"

    def test_a_deleted_fee_schedule_entry_is_no_longer_used(self, run: Run) -> None:
        run.fee(fee("AETNA", "99214", "90.00"))
        run.send("reference.fee-schedule", None, key="AETNA|99214|")
        assert run.primary(eob("P1"))[0].value.allowable_source == "assumed_primary"
