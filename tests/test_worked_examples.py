"""COB_RULES.md section 5: every worked example, to the cent (S, K, patient, write-off, B2)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from builders import adj, line

from models.cob.arithmetic import LineResult, PrimaryLine, compute_line, secondary_allowable
from models.cob.reference import PayerTerms
from models.contract.events import ServiceLine


def compute(
    primary: dict,
    *,
    a2: str | None,
    method: str = "lesser_of_allowables",
    in_network: bool = True,
    rate: str = "1.00",
    copay: str = "0.00",
    covers_deductible: bool = True,
    secondary: dict | None = None,
) -> LineResult:
    terms = PayerTerms(
        "SECONDARY",
        cob_method=method,  # type: ignore[arg-type]
        in_network=in_network,
        coinsurance_rate=Decimal(rate),
        copay=Decimal(copay),
        covers_deductible=covers_deductible,
    )
    first = PrimaryLine.of(ServiceLine.model_validate(primary))
    second = ServiceLine.model_validate(secondary) if secondary else None
    allowable = secondary_allowable(first, Decimal(a2) if a2 else None, second)
    return compute_line(first, allowable, terms)


def assert_line(
    result: LineResult, *, s: str, patient: str, write_off: str, k: str | None = None, b2: str | None = None
) -> None:
    assert result.expected_paid == Decimal(s)
    assert result.patient == Decimal(patient)
    assert result.write_off == Decimal(write_off)
    if k is not None:
        assert result.limit == Decimal(k)
    if b2 is not None:
        assert result.benefit == Decimal(b2)
    # Every dollar of the charge is accounted for.
    assert (
        result.patient + result.write_off + result.primary.primary_paid + result.expected_paid == result.primary.charge
    )


ARTICLE = line()  # C 150, A1 100, P1 80, CO-45 50, PR-2 20


def test_example_1_article_lesser_of_allowables_in_network() -> None:
    assert_line(compute(ARTICLE, a2="90.00"), s="10.00", k="90.00", patient="0.00", write_off="60.00", b2="90.00")


def test_example_2_out_of_the_secondarys_network() -> None:
    result = compute(ARTICLE, a2="90.00", in_network=False)
    assert_line(result, s="10.00", k="100.00", patient="10.00", write_off="50.00")
    assert "out_of_network" in result.patient_reasons


def test_example_3_secondary_deductible() -> None:
    secondary = line(paid="2.00", allowed="90.00", adjustments=[adj("CO", "45", "60.00"), adj("PR", "1", "88.00")])
    result = compute(ARTICLE, a2="90.00", secondary=secondary)
    assert_line(result, s="2.00", k="90.00", patient="8.00", write_off="60.00", b2="2.00")
    assert result.allowable.deductible == Decimal("88.00")
    assert result.patient_reasons == ("primary_coinsurance", "secondary_deductible")


def test_example_4_primary_paid_more_than_the_secondary_allowable() -> None:
    primary = line(paid="95.00", adjustments=[adj("CO", "45", "50.00"), adj("PR", "2", "5.00")])
    assert_line(compute(primary, a2="90.00"), s="0.00", k="95.00", patient="0.00", write_off="55.00")


STANDARD_PRIMARY = line(
    charge="200.00", paid="120.00", allowed="150.00", adjustments=[adj("CO", "45", "50.00"), adj("PR", "2", "30.00")]
)


def test_example_5_standard() -> None:
    result = compute(STANDARD_PRIMARY, a2="140.00", method="standard", rate="0.80")
    assert_line(result, s="30.00", patient="0.00", write_off="50.00", b2="112.00")


def test_example_6_non_duplication() -> None:
    result = compute(STANDARD_PRIMARY, a2="140.00", method="non_duplication", rate="0.80")
    assert_line(result, s="0.00", k="140.00", patient="20.00", write_off="60.00", b2="112.00")


def test_example_7_medicare_secondary() -> None:
    primary = line(
        charge="175.00",
        paid="120.00",
        allowed="150.00",
        adjustments=[adj("CO", "45", "25.00"), adj("PR", "2", "30.00")],
    )
    result = compute(primary, a2="125.00", method="medicare_secondary", rate="0.80")
    assert_line(result, s="30.00", k="150.00", patient="0.00", write_off="25.00", b2="100.00")


def test_example_8_medicare_secondary_provider_not_bound_by_primary_fee() -> None:
    primary = line(
        charge="300.00",
        paid="160.00",
        allowed="200.00",
        adjustments=[adj("PR", "45", "100.00"), adj("PR", "2", "40.00")],
    )
    result = compute(primary, a2="250.00", method="medicare_secondary", rate="0.80")
    assert result.primary.primary_patient == Decimal("140.00")
    assert_line(result, s="90.00", k="250.00", patient="0.00", write_off="50.00", b2="200.00")


@pytest.mark.parametrize(
    ("a2", "copay", "s", "k", "patient", "write_off"),
    [
        ("90.00", "0.00", "10.00", "90.00", "0.00", "60.00"),
        ("70.00", "0.00", "0.00", "80.00", "0.00", "70.00"),
        ("90.00", "3.00", "7.00", "90.00", "3.00", "60.00"),
    ],
    ids=["a2-90", "a2-70", "a2-90-state-copay-3"],
)
def test_example_9_medicaid(a2: str, copay: str, s: str, k: str, patient: str, write_off: str) -> None:
    result = compute(ARTICLE, a2=a2, method="medicaid", copay=copay)
    assert_line(result, s=s, k=k, patient=patient, write_off=write_off)


def test_example_10_supplemental_without_deductible() -> None:
    primary = line(
        paid="40.00", adjustments=[adj("CO", "45", "50.00"), adj("PR", "1", "40.00"), adj("PR", "2", "20.00")]
    )
    result = compute(primary, a2=None, method="supplemental", covers_deductible=False)
    assert_line(result, s="20.00", k="100.00", patient="40.00", write_off="50.00")
    assert result.patient_reasons == ("primary_deductible", "primary_coinsurance")


def test_example_10_supplemental_covering_the_deductible_pays_all_cost_sharing() -> None:
    primary = line(
        paid="40.00", adjustments=[adj("CO", "45", "50.00"), adj("PR", "1", "40.00"), adj("PR", "2", "20.00")]
    )
    result = compute(primary, a2=None, method="supplemental", covers_deductible=True)
    assert_line(result, s="60.00", k="100.00", patient="0.00", write_off="50.00")


@pytest.mark.parametrize("code", ["96", "204"])
def test_example_11_secondary_non_covered_line(code: str) -> None:
    secondary = line(paid="0.00", allowed=None, adjustments=[adj("CO", code, "150.00")])
    result = compute(ARTICLE, a2="90.00", secondary=secondary)
    assert_line(result, s="0.00", k="100.00", patient="20.00", write_off="50.00")
    assert result.patient_reasons == ("primary_coinsurance", "non_covered")


@pytest.mark.parametrize("code", ["242", "243"])
def test_out_of_network_denial_leaves_the_primary_balance_to_the_patient(code: str) -> None:
    secondary = line(paid="0.00", allowed=None, adjustments=[adj("CO", code, "150.00")])
    result = compute(ARTICLE, a2="90.00", secondary=secondary, method="standard")
    assert_line(result, s="0.00", k="100.00", patient="20.00", write_off="50.00")
    assert result.patient_reasons == ("primary_coinsurance", "out_of_network")
