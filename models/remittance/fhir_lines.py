"""An ExplanationOfBenefit item (or, for an EOB without items, its totals) into a contract line.

The adjudication categories give the amounts: `submitted` the charge (else the item's `net`),
`benefit` what was paid (else CARIN's `paidtoprovider`), `eligible` the allowed amount. Patient
shares become PR adjustments (`deductible` PR-1, `copay` PR-3, CARIN `coinsurance` PR-2), CARIN
`priorpayerpaid` OA-23, and `submitted - eligible` the contractual CO-45. What is still unexplained
(the line must balance) goes to the CARC the payer gave as a reason, else to the patient's
coinsurance on a primary (PR-2) or the prior payer's part on a secondary (OA-23) when `eligible`
says the payer priced the line, else to CO-45.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from models.events import Role
from models.remittance.fhir_read import FhirError, array, coded, codes, day, money

ITEMIZED: dict[str, tuple[str, str]] = {  # category: (group, CARC when the payer gives none)
    "deductible": ("PR", "1"),
    "copay": ("PR", "3"),
    "coinsurance": ("PR", "2"),
    "priorpayerpaid": ("OA", "23"),
}
PAID_CATEGORIES = ("benefit", "paidtoprovider")
CLAIM_LEVEL_LINE_ID = "CLAIM"
_RARC = re.compile(r"(?:MA|M|N)\d{1,4}")
_ZERO = Decimal(0)


def item_line(item: Any, number: int, eob: dict[str, Any], role: Role) -> dict[str, Any]:
    path = f"item[{number - 1}]"
    if not isinstance(item, dict):
        raise FhirError(path, "must be an object")
    sequence = item.get("sequence")
    positive = isinstance(sequence, int) and not isinstance(sequence, bool) and sequence > 0
    procedure = codes(item.get("productOrService"))
    if not procedure:
        raise FhirError(f"{path}.productOrService", "needs a coding with a code (the procedure)")
    modifiers = [c for m in array(item.get("modifier")) for c in codes(m)[:1]]
    net = money(item["net"], f"{path}.net") if isinstance(item.get("net"), dict) else None
    found = _adjudications(item.get("adjudication"), f"{path}.adjudication")
    return {
        "line_id": str(sequence) if positive else str(number),
        "procedure_code": procedure[0],
        "modifiers": modifiers,
        "service_date": _service_date(item, eob, path),
        **_amounts(found, net, role, path),
    }


def claim_line(eob: dict[str, Any], role: Role) -> dict[str, Any]:
    """An EOB without items: one line for the whole claim, from `total` and header `adjudication`."""
    entries = [*array(eob.get("total")), *array(eob.get("adjudication"))]
    if not entries:
        raise FhirError("item", "the EOB has no items and no totals: nothing to reconcile")
    period = eob.get("billablePeriod")
    if not isinstance(period, dict) or "start" not in period:
        raise FhirError("billablePeriod.start", "an EOB without items needs its billable period as the service date")
    return {
        "line_id": CLAIM_LEVEL_LINE_ID,
        "procedure_code": CLAIM_LEVEL_LINE_ID,
        "service_date": day(period["start"], "billablePeriod.start"),
        **_amounts(_adjudications(entries, "total"), None, role, "total"),
    }


def _service_date(item: dict[str, Any], eob: dict[str, Any], path: str) -> date:
    if "servicedDate" in item:
        return day(item["servicedDate"], f"{path}.servicedDate")
    period = item.get("servicedPeriod")
    if isinstance(period, dict) and "start" in period:
        return day(period["start"], f"{path}.servicedPeriod.start")
    billable = eob.get("billablePeriod")
    if isinstance(billable, dict) and "start" in billable:
        return day(billable["start"], "billablePeriod.start")
    raise FhirError(f"{path}.servicedDate", "no service date (servicedDate, servicedPeriod or billablePeriod)")


class _Found:
    """A line's adjudications: amounts summed per category, and the reason codes given."""

    def __init__(self) -> None:
        self.amounts: dict[str, Decimal] = {}
        self.reason_for: dict[str, str] = {}  # CARC given for an itemized category
        self.carcs: list[str] = []  # CARCs on other categories (a denial reason, say)
        self.remarks: list[str] = []


def _adjudications(entries: Any, path: str) -> _Found:
    found = _Found()
    if entries is not None and not isinstance(entries, list):
        raise FhirError(path, "must be a list")
    for n, entry in enumerate(entries or []):
        if not isinstance(entry, dict):
            raise FhirError(f"{path}[{n}]", "must be an object")
        categories = codes(entry.get("category"))
        if not categories:
            raise FhirError(f"{path}[{n}].category", "needs a coding with a code")
        category = categories[0]
        if "amount" in entry:
            amount = money(entry["amount"], f"{path}[{n}].amount")
            found.amounts[category] = found.amounts.get(category, _ZERO) + amount
        for system, code in coded(entry.get("reason")):
            if _is_remark(system, code):
                found.remarks.append(code)
            elif category in ITEMIZED:
                found.reason_for.setdefault(category, code)
            else:
                found.carcs.append(code)
    return found


def _is_remark(system: str | None, code: str) -> bool:
    if system:
        return "remark" in system.lower()
    return bool(_RARC.fullmatch(code))


def _amounts(found: _Found, net: Decimal | None, role: Role, path: str) -> dict[str, Any]:
    charge = found.amounts.get("submitted", net)
    paid = next((found.amounts[c] for c in PAID_CATEGORIES if c in found.amounts), None)
    if charge is None:
        raise FhirError(path, "no submitted amount (adjudication category 'submitted' or the item's net)")
    if paid is None:
        raise FhirError(path, "no paid amount (adjudication category 'benefit')")
    allowed = found.amounts.get("eligible")
    adjustments = [
        {"group": group, "reason": found.reason_for.get(category, carc), "amount": found.amounts[category]}
        for category, (group, carc) in ITEMIZED.items()
        if found.amounts.get(category)
    ]
    if allowed is not None and charge != allowed:
        adjustments.append({"group": "CO", "reason": "45", "amount": charge - allowed})
    adjustments += _unexplained(charge, paid, allowed, adjustments, found, role, path)
    return {
        "charge": charge,
        "paid": paid,
        "allowed": allowed,
        "adjustments": adjustments,
        "remarks": list(dict.fromkeys(found.remarks)),
    }


def _unexplained(
    charge: Decimal,
    paid: Decimal,
    allowed: Decimal | None,
    adjustments: list[dict[str, Any]],
    found: _Found,
    role: Role,
    path: str,
) -> list[dict[str, Any]]:
    """The adjustment that makes the line balance, then the other CARCs the payer gave (0.00)."""
    rest = charge - sum((a["amount"] for a in adjustments), _ZERO) - paid
    if (rest < 0 <= charge) or (rest > 0 > charge):
        raise FhirError(
            path,
            f"does not balance: submitted {charge} is less than paid {paid} plus the itemized adjustments "
            f"{charge - paid - rest}",
        )
    carcs = list(dict.fromkeys(found.carcs))
    extra: list[dict[str, Any]] = []
    if rest:
        if carcs:
            extra.append({"group": "CO", "reason": carcs.pop(0), "amount": rest})
        elif allowed is not None:
            group, reason = ("PR", "2") if role == "primary" else ("OA", "23")
            extra.append({"group": group, "reason": reason, "amount": rest})
        else:
            extra.append({"group": "CO", "reason": "45", "amount": rest})
    return extra + [{"group": "CO", "reason": code, "amount": _ZERO} for code in carcs]
