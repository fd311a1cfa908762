"""COVERAGE.md section 3's split of a claim-level adjustment over the lines, in whole cents."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.remittance.apportion import ApportionError, shares


def d(*amounts: str) -> list[Decimal]:
    return [Decimal(a) for a in amounts]


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        ("50.00", ("500.00",), ("50.00",)),
        ("10.00", ("100.00", "100.00", "100.00"), ("3.34", "3.33", "3.33")),  # the tie: the earlier line
        ("10.00", ("100.00", "200.00", "100.00"), ("2.50", "5.00", "2.50")),
        ("0.05", ("1.00", "1.00", "3.00"), ("0.01", "0.01", "0.03")),
        ("0.02", ("1.00", "1.00", "1.00"), ("0.01", "0.01", "0.00")),
        ("1.00", ("10.00", "0.00", "20.00"), ("0.33", "0.00", "0.67")),  # the largest fraction: the last line
        ("-6.00", ("60.00", "30.00"), ("-4.00", "-2.00")),
        ("-0.01", ("1.00", "2.00"), ("0.00", "-0.01")),
        ("9.00", ("-60.00", "-30.00"), ("6.00", "3.00")),  # a reversal's lines: proportions all the same
    ],
)
def test_shares(amount: str, weights: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert shares(Decimal(amount), d(*weights)) == d(*expected)


@pytest.mark.parametrize(
    ("amount", "weights", "reason"),
    [
        ("1.00", ("0.00", "0.00"), "the weights add up to 0"),
        ("1.00", ("10.00", "-5.00"), "the weights are of both signs"),
        ("1.005", ("10.00",), "the amount has more than two decimals"),
    ],
)
def test_what_cannot_be_split(amount: str, weights: tuple[str, ...], reason: str) -> None:
    with pytest.raises(ApportionError, match=reason):
        shares(Decimal(amount), d(*weights))


cents = st.integers(-(10**8), 10**8).map(lambda c: Decimal(c).scaleb(-2))


@given(cents, st.lists(st.integers(0, 10**7), min_size=1, max_size=30).filter(any))
def test_the_shares_add_up_exactly_and_each_is_within_a_cent_of_its_proportion(
    amount: Decimal, weights: list[int]
) -> None:
    weight = [Decimal(w).scaleb(-2) for w in weights]
    split = shares(amount, weight)
    assert sum(split, Decimal(0)) == amount
    total = sum(weight)
    for share, w in zip(split, weight, strict=True):
        assert share == share.quantize(Decimal("0.01"))
        assert abs(share - amount * w / total) < Decimal("0.01")
