"""An ExplanationOfBenefit item (or, for an EOB whose items carry no amounts, its header totals) into
a contract line, built only from amounts the EOB states.

The adjudication entries are read by fhir_adjudication.py. `submitted` is the charge (else the
item's `net`), `benefit` what was paid (else CARIN `paidtoprovider`; both given, they must agree),
`eligible` the allowed amount. Adjustments, each an amount the EOB gives: `deductible` PR-1, `copay`
PR-3, CARIN `coinsurance` PR-2, CARIN `priorpayerpaid` OA-23 (the CARC the payer gave on the entry
replaces the default), `submitted - eligible` CO-45, and CARIN `noncovered` with its one CARC, PR
or CO as `memberliability` says. CARCs given without an amount are kept as OA entries of 0.00.
A line that does not balance from these is refused with its numbers: nothing is invented to close it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from models.remittance.fhir_adjudication import Adjudications, read_adjudications
from models.remittance.fhir_read import FhirError, array, codes, day, money

ITEMIZED: dict[str, tuple[str, str]] = {  # category: (group, CARC when the payer gives none)
    "deductible": ("PR", "1"),
    "copay": ("PR", "3"),
    "coinsurance": ("PR", "2"),
    "priorpayerpaid": ("OA", "23"),
}
PATIENT_SHARES = ("deductible", "copay", "coinsurance")
CLAIM_LEVEL_LINE_ID = "CLAIM"
_ZERO = Decimal(0)


def has_amounts(item: Any) -> bool:
    """Whether an item carries any adjudication amount (an institutional EOB's items may not)."""
    entries = item.get("adjudication") if isinstance(item, dict) else None
    return any(isinstance(e, dict) and "amount" in e for e in array(entries)) or (
        isinstance(item, dict) and "net" in item
    )


def item_line(item: Any, number: int, eob: dict[str, Any], header: Adjudications) -> dict[str, Any]:
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
    found = read_adjudications(item.get("adjudication"), f"{path}.adjudication")
    found.out_of_network = found.out_of_network or header.out_of_network
    found.carcs += header.carcs
    found.remarks += header.remarks
    return {
        "line_id": str(sequence) if positive else str(number),
        "procedure_code": procedure[0],
        "modifiers": modifiers,
        "service_date": _service_date(item, eob, path),
        **_amounts(found, net, path),
    }


def claim_line(eob: dict[str, Any], header: Adjudications) -> dict[str, Any]:
    """An EOB whose items carry no amounts: one line for the whole claim, from `total` and the header
    `adjudication`, as for an 835 claim without service lines."""
    if not array(eob.get("total")) and not header.amounts:
        raise FhirError("total", "the EOB's items carry no amounts and it has no totals: nothing to reconcile")
    period = eob.get("billablePeriod")
    if not isinstance(period, dict) or "start" not in period:
        raise FhirError("billablePeriod.start", "a claim-level line needs the billable period as its service date")
    found = read_adjudications(eob.get("total"), "total", header)
    return {
        "line_id": CLAIM_LEVEL_LINE_ID,
        "procedure_code": CLAIM_LEVEL_LINE_ID,
        "service_date": day(period["start"], "billablePeriod.start"),
        **_amounts(found, None, "total"),
    }


def agree_with_totals(lines: list[dict[str, Any]], totals: Adjudications) -> None:
    """The EOB's `total` (and header `adjudication`) amounts must be what the items add up to: a
    claim-level amount the items do not carry cannot be placed on a line."""
    paid_total = totals.amounts.get("benefit", totals.amounts.get("paidtoprovider"))
    allowed = [line["allowed"] for line in lines]
    for name, total, field in (
        ("submitted", totals.amounts.get("submitted"), "charge"),
        ("benefit" if "benefit" in totals.amounts else "paidtoprovider", paid_total, "paid"),
        ("eligible", totals.amounts.get("eligible") if None not in allowed else None, "allowed"),
    ):
        if total is None:
            continue
        added = sum((line[field] for line in lines), _ZERO)
        if total != added:
            raise FhirError(
                totals.where[name],
                f"{name} {total} for the claim, but the items' {name} amounts add up to {added}: "
                "a claim-level amount the items do not carry cannot be placed on a line",
            )


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


def _amounts(found: Adjudications, net: Decimal | None, path: str) -> dict[str, Any]:
    charge = found.amounts.get("submitted", net)
    if charge is None:
        raise FhirError(path, f"no submitted amount (category submitted, or the item's net){_not_read(found)}")
    paid = _paid(found, path)
    allowed = found.amounts.get("eligible")
    adjustments = [
        {"group": group, "reason": found.reason_for.get(category, carc), "amount": found.amounts[category]}
        for category, (group, carc) in ITEMIZED.items()
        if found.amounts.get(category)
    ]
    if allowed is not None and charge != allowed:
        if found.out_of_network:
            raise FhirError(
                path,
                f"out of network (C4BBPayerAdjudicationStatus outofnetwork): submitted {charge} - eligible "
                f"{allowed} = {charge - allowed} may be the patient's (balance billing) or written off; "
                "the EOB does not say which",
            )
        adjustments.append({"group": "CO", "reason": "45", "amount": charge - allowed})
    adjustments += _noncovered(found)
    adjustments += [{"group": "OA", "reason": code, "amount": _ZERO} for code in dict.fromkeys(found.carcs)]
    _balances(charge, paid, adjustments, found, path)
    return {
        "charge": charge,
        "paid": paid,
        "allowed": allowed,
        "adjustments": adjustments,
        "remarks": list(dict.fromkeys(found.remarks)),
    }


def _paid(found: Adjudications, path: str) -> Decimal:
    benefit, to_provider = found.amounts.get("benefit"), found.amounts.get("paidtoprovider")
    if benefit is not None and to_provider is not None and benefit != to_provider:
        raise FhirError(
            path, f"benefit {benefit} and paidtoprovider {to_provider} differ: what the provider was paid is unsure"
        )
    paid = benefit if benefit is not None else to_provider
    if paid is None:
        raise FhirError(path, f"no paid amount (category benefit, or CARIN paidtoprovider){_not_read(found)}")
    return paid


def _noncovered(found: Adjudications) -> list[dict[str, Any]]:
    """CARIN `noncovered` with its CARC; PR when `memberliability` shows the patient owes it, CO when
    it shows the patient owes none of it."""
    amount = found.amounts.get("noncovered")
    if not amount:
        return []
    where = found.where["noncovered"]
    carc = found.reason_for.get("noncovered")
    if carc is None:
        given = list(dict.fromkeys(found.carcs))
        if len(given) != 1:
            raise FhirError(
                where, f"noncovered {amount} needs one CARC as its reason (adjustmentreason); {len(given)} given"
            )
        carc = given[0]
        found.carcs = [c for c in found.carcs if c != carc]
    liability = found.amounts.get("memberliability")
    if liability is None:
        raise FhirError(
            where,
            f"noncovered {amount}: whether the patient owes it (PR) or the provider writes it off (CO) is not "
            "said; the EOB needs memberliability",
        )
    shares = sum((found.amounts.get(c, _ZERO) for c in PATIENT_SHARES), _ZERO)
    patient = liability - shares
    if patient not in (amount, _ZERO):
        raise FhirError(
            where,
            f"noncovered {amount}: memberliability {liability} less deductible, copay and coinsurance {shares} "
            f"leaves {patient}, neither the non-covered amount (PR) nor 0 (CO)",
        )
    return [{"group": "PR" if patient == amount else "CO", "reason": carc, "amount": amount}]


def _balances(
    charge: Decimal, paid: Decimal, adjustments: list[dict[str, Any]], found: Adjudications, path: str
) -> None:
    adjusted = sum((a["amount"] for a in adjustments), _ZERO)
    if charge - adjusted == paid:
        return
    listed = ", ".join(f"{a['group']}-{a['reason']} {a['amount']}" for a in adjustments if a["amount"]) or "none"
    raise FhirError(
        path,
        f"does not balance from what the EOB says: submitted {charge} - adjustments ({listed}) = "
        f"{charge - adjusted}, but paid is {paid}; no adjustment is invented for the {charge - adjusted - paid} "
        f"left{_not_read(found)}",
    )


def _not_read(found: Adjudications) -> str:
    if not found.not_read:
        return ""
    shown = "; ".join(found.not_read[:4]) + ("; ..." if len(found.not_read) > 4 else "")
    return f" (adjudications in other code systems, not read: {shown})"
