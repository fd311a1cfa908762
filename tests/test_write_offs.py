"""COVERAGE.md section 5, `write_off_reasons`: every ready line's write-off coded entry by entry,
the amounts adding up exactly to the line's write-off; the worked examples' lists, through the
engine over the shared vectors (COB_RULES.md section 5)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from builders import Run, adj, eob, line, profile, secondary_line

from cobstream.engine import Engine
from cobstream.shared.replay_format import replay_lines
from models.contract.outcomes import PatientBillingReady, ReadyLine

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"
CO45 = ("primary_adjustment", "45", "50.00")


def ready_lines(vector: str) -> list[ReadyLine]:
    engine = Engine()
    published = list(replay_lines((VECTORS / f"{vector}.jsonl").read_bytes().splitlines(keepends=True), engine))
    readies = [p.value for p in published if isinstance(p.value, PatientBillingReady) and p.value.status == "ready"]
    return [ready_line for ready in readies for ready_line in ready.lines]


def coded(ready_line: ReadyLine) -> list[tuple[str, str | None, str]]:
    return [(entry.reason, entry.carc, f"{entry.amount:.2f}") for entry in ready_line.write_off_reasons]


@pytest.mark.parametrize(
    ("vector", "expected"),
    [
        ("ex01_lesser_in_network", [CO45, ("secondary_network_contract", "45", "10.00")]),
        ("ex02_lesser_out_of_network", [CO45]),
        ("ex03_secondary_deductible", [CO45, ("secondary_network_contract", "45", "10.00")]),
        ("ex04_primary_paid_above_secondary_allowable", [CO45, ("secondary_network_contract", "45", "5.00")]),
        ("ex05_standard", [CO45]),
        ("ex06_non_duplication", [CO45, ("secondary_network_contract", "45", "10.00")]),
        ("ex07_medicare_secondary", [("primary_adjustment", "45", "25.00")]),
        ("ex08_medicare_secondary_pr45", [("medicare_limit", "45", "50.00")]),
        ("ex09b_medicaid_state_copay", [CO45, ("medicaid_payment_in_full", "45", "10.00")]),
        ("ex10_supplemental_no_deductible", [CO45]),
        ("ex11_secondary_noncovered_96", [CO45]),
    ],
)
def test_the_worked_examples_code_their_write_offs(vector: str, expected: list[tuple[str, str, str]]) -> None:
    [ready_line] = ready_lines(vector)
    assert coded(ready_line) == expected
    assert sum((e.amount for e in ready_line.write_off_reasons), Decimal(0)) == ready_line.write_off


def test_example_9_codes_the_medicaid_reduction_per_line() -> None:
    a2_90, a2_70 = ready_lines("ex09_medicaid")
    assert coded(a2_90) == [CO45, ("medicaid_payment_in_full", "45", "10.00")]
    assert coded(a2_70) == [CO45, ("medicaid_payment_in_full", "45", "20.00")]


def test_each_entry_carries_its_group() -> None:
    [ready_line] = ready_lines("ex01_lesser_in_network")
    assert [entry.group for entry in ready_line.write_off_reasons] == ["CO", "CO"]


def test_an_overpayment_inside_the_tolerance_is_a_credit() -> None:
    """C = K1 = 100, PR-2 20, S_exp 20; the secondary pays 20.01 in network (row 4: K 100.01)."""
    run = Run()
    primary_line = line(charge="100.00", paid="80.00", allowed="100.00", adjustments=[adj("PR", "2", "20.00")])
    run.primary(eob("P1", lines=[primary_line]))
    run.secondary(
        eob(
            "S1",
            payer_id="AETNA",
            at="2026-03-20T10:00:00Z",
            lines=[secondary_line(paid="20.01", allowed="100.00", charge="100.00")],
        )
    )
    [ready_line] = run.last("billing.ready").lines
    assert coded(ready_line) == [("overpayment_credit", None, "-0.01")]
    assert ready_line.write_off == Decimal("-0.01")


def test_a_negative_patient_sum_on_the_primary_is_a_credit() -> None:
    """CO-45 25, PR-2 20 and PR-1 -25, no secondary: PR1 floored at 0."""
    run = Run()
    adjustments = [adj("CO", "45", "25.00"), adj("PR", "2", "20.00"), adj("PR", "1", "-25.00")]
    run.primary(
        eob("P1", secondary_payer_id=None, lines=[line(charge="100.00", paid="80.00", adjustments=adjustments)])
    )
    [ready_line] = run.last("billing.ready").lines
    assert coded(ready_line) == [("primary_adjustment", "45", "25.00"), ("primary_patient_credit", None, "-5.00")]
    assert ready_line.write_off_reasons[1].group == "PR"


def test_a_negative_primary_adjustment_is_listed_as_it_is() -> None:
    run = Run()
    run.payer(profile("AETNA", in_network=False))
    adjustments = [adj("CO", "45", "-9.00"), adj("OA", "23", "59.00"), adj("PR", "2", "20.00")]
    run.primary(eob("P1", lines=[line(charge="150.00", paid="80.00", adjustments=adjustments)]))
    run.secondary(eob("S1", payer_id="AETNA", at="2026-03-20T10:00:00Z", lines=[secondary_line(paid="10.00")]))
    [ready_line] = run.last("billing.ready").lines
    assert coded(ready_line) == [("primary_adjustment", "45", "-9.00"), ("primary_adjustment", "23", "59.00")]
