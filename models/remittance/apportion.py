"""Claim-level adjustments apportioned to the service lines (COVERAGE.md section 3).

An 835 may carry CAS at claim level (loop 2100) on a claim that has service lines: a managed-care
withhold, an interest or late-filing reduction, a claim-level deductible. The contract's
arithmetic is per line, so each claim-level amount is split over the lines in proportion to their
paid amounts (SVC03), or to their charges when no line was paid, in whole cents by the largest
remainder (ties: the earlier line). Each share joins its line's adjustments with
`apportioned: true` and lowers the line's paid amount, so every line still balances and the
lines' paid amounts add up to the claim's payment. Pure: amounts in, shares out.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

CENTS = 100


class ApportionError(ValueError):
    """The claim-level amounts cannot be split over these lines; the message says why."""


def shares(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """`amount` split in proportion to `weights` (all of one sign, not all zero), in whole cents
    that add up to it exactly: each line its cents rounded down, then the cents left over one by
    one to the lines with the largest fractional parts, the earlier line first on a tie."""
    total = sum(weights, Decimal(0))
    if not total:
        raise ApportionError("the weights add up to 0")
    if any(w * total < 0 for w in weights):
        raise ApportionError("the weights are of both signs")
    scaled = abs(amount) * CENTS
    if scaled != scaled.to_integral_value():
        raise ApportionError("the amount has more than two decimals")
    cents = int(scaled)
    exact = [Fraction(cents) * Fraction(w) / Fraction(total) for w in weights]
    whole = [int(e) for e in exact]  # e >= 0, so int() rounds down
    left = cents - sum(whole)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - whole[i]), i))
    for index in by_remainder[:left]:
        whole[index] += 1
    sign = -1 if amount < 0 else 1
    return [Decimal(sign * c).scaleb(-2) for c in whole]


def apportion(claim_adjustments: list[dict[str, Any]], lines: list[dict[str, Any]]) -> None:
    """Add each claim-level adjustment's shares to `lines` (contract line dicts, changed in place):
    weighted by the lines' paid amounts, or their charges when none was paid."""
    paid = [line["paid"] for line in lines]
    weights = paid if any(paid) else [line["charge"] for line in lines]
    basis = "paid amounts (SVC03)" if any(paid) else "charges (SVC02)"
    for adjustment in claim_adjustments:
        try:
            split = shares(adjustment["amount"], weights)
        except ApportionError as exc:
            raise ApportionError(
                f"the claim-level {adjustment['group']}-{adjustment['reason']} {adjustment['amount']} cannot be "
                f"apportioned to the service lines by their {basis}: {exc}"
            ) from None
        for line, share in zip(lines, split, strict=True):
            line["adjustments"].append({**adjustment, "amount": share, "apportioned": True})
            line["paid"] -= share
