"""A ready line's write-off, coded (COVERAGE.md section 5): what a practice-management system
posts, entry by entry, each with its group and CARC, the amounts adding up exactly to the line's
`write_off`.

1. The primary's reductions, `C - K1`: its own non-PR adjustments as it reported them, and a
   `primary_patient_credit` when its PR amounts add up below 0 (PR1 floored at 0).
2. The reduction by the secondary's ceiling, `K1 - min(K, K1)`, named by the row of COB_RULES.md
   section 4 that set K (medicaid, medicare, a network contract; rows 2 and 5 give K = K1).
3. An `overpayment_credit`, `min(K, K1) - P1 - S - patient` (never above 0): a payment above what
   the provider may collect, inside the tolerance.

Entries with a zero amount are left out. A claim without a secondary payer has only those of 1.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from models.cob.arithmetic import LineResult, ceiling_row
from models.cob.reference import PayerTerms
from models.contract.events import ServiceLine
from models.contract.types import ZERO

# The reduction by the secondary's ceiling, by the row of section 4 that set K.
CEILING_REASONS = {1: "medicaid_payment_in_full", 3: "medicare_limit", 4: "secondary_network_contract"}


def write_off_reasons(line: ServiceLine, result: LineResult, terms: PayerTerms | None) -> tuple[dict[str, Any], ...]:
    """The coded entries of one ready line's write-off (`terms` None: no secondary payer)."""
    entries = _primary_reductions(line)
    if terms is not None:
        primary = result.primary
        k1 = primary.collectible
        capped = min(result.limit, k1)
        row = ceiling_row(result.allowable, terms)
        if row in CEILING_REASONS:
            entries.append(_entry(CEILING_REASONS[row], "CO", "45", k1 - capped))
        credit = capped - primary.primary_paid - result.secondary_paid - result.patient
        entries.append(_entry("overpayment_credit", None, None, min(credit, ZERO)))
    return tuple(entry for entry in entries if entry["amount"] != 0)


def _primary_reductions(line: ServiceLine) -> list[dict[str, Any]]:
    entries = []
    patient_sum = ZERO
    for adjustment in line.adjustments:
        if adjustment.group == "PR":
            patient_sum += adjustment.amount
        else:
            entries.append(_entry("primary_adjustment", adjustment.group, adjustment.reason, adjustment.amount))
    if patient_sum < 0:
        entries.append(_entry("primary_patient_credit", "PR", None, patient_sum))
    return entries


def _entry(reason: str, group: str | None, carc: str | None, amount: Decimal) -> dict[str, Any]:
    return {"reason": reason, "group": group, "carc": carc, "amount": amount}
