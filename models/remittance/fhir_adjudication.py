"""Reading an ExplanationOfBenefit's adjudication entries: which amount each one is, and the reason
codes the payer gave. Only the code systems docs/FHIR.md lists are read; nothing is added up.

A category is known by its (system, code): the HL7 adjudication code system and CARIN Blue Button's
adjudication and discriminator code systems. A category coded only in another system (a CMS Blue
Button variable, say) is not read, and is named if the line then fails to balance; a known category
that also carries another system's coding is refused, because that coding narrows what the amount
is (Blue Button codes a revenue-centre rate, the total charge and a payment all as `submitted`). The
same category twice on one item is refused with its amounts. A reason becomes a CARC only from the
X12 CARC code system and a remark only from the X12 RARC code system.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from models.remittance.fhir_read import FhirError, array, money, string

HL7_ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CARIN_ADJUDICATION = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
CARIN_DISCRIMINATOR = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudicationDiscriminator"
CARIN_STATUS = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBPayerAdjudicationStatus"
CARC_SYSTEM = "https://x12.org/codes/claim-adjustment-reason-codes"
RARC_SYSTEM = "https://x12.org/codes/remittance-advice-remark-codes"

# Amounts the line is built from (fhir_lines.py says how).
READ = {
    HL7_ADJUDICATION: {"submitted", "eligible", "benefit", "deductible", "copay"},
    CARIN_ADJUDICATION: {"coinsurance", "noncovered", "priorpayerpaid", "paidtoprovider", "memberliability"},
}
# Known, and no amount of them enters the line: a percentage, units, what the patient already paid
# at the counter (a collection, not an adjudication), network status, and the slices that carry reasons.
NOT_AMOUNTS = {
    HL7_ADJUDICATION: {"eligpercent"},
    CARIN_ADJUDICATION: {"paidbypatient", "paidbypatientcash", "paidbypatientother", "paidbypatienthealthaccount"},
    CARIN_DISCRIMINATOR: {
        "allowedunits",
        "denialreason",
        "adjustmentreason",
        "rejectreason",
        "inoutnetwork",
        "billingnetworkstatus",
        "renderingnetworkstatus",
        "benefitpaymentstatus",
    },
}
# Known, but money whose place in a provider's remittance is not defined: refused unless 0.
UNPLACED = {
    HL7_ADJUDICATION: {"unallocdeduct", "tax"},
    CARIN_ADJUDICATION: {"paidtopatient", "discount", "drugcost"},
}
KNOWN_SYSTEMS = (HL7_ADJUDICATION, CARIN_ADJUDICATION, CARIN_DISCRIMINATOR)
_ZERO = Decimal(0)


@dataclass
class Adjudications:
    """What one item's (or the header's) adjudication entries say."""

    amounts: dict[str, Decimal] = field(default_factory=dict)  # category code: its one amount
    where: dict[str, str] = field(default_factory=dict)  # category code: the entry's path
    reason_for: dict[str, str] = field(default_factory=dict)  # category code: the CARC given on it
    carcs: list[str] = field(default_factory=list)  # CARCs given on entries that are not itemized amounts
    remarks: list[str] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)  # "system#code amount" of entries in other systems
    out_of_network: bool = False


def states_out_of_network(eob: dict[str, Any]) -> bool:
    """CARIN's supportingInfo (benefitpaymentstatus and the like) coded outofnetwork."""
    for info in array(eob.get("supportingInfo")):
        concept = info.get("code") if isinstance(info, dict) else None
        for coding in array(concept.get("coding")) if isinstance(concept, dict) else []:
            if (
                isinstance(coding, dict)
                and coding.get("system") == CARIN_STATUS
                and coding.get("code") == "outofnetwork"
            ):
                return True
    return False


def read_adjudications(entries: Any, path: str, found: Adjudications | None = None) -> Adjudications:
    """Every entry of an `adjudication` (or `total`) list into `found`; a fault is a FhirError."""
    found = found if found is not None else Adjudications()
    if entries is not None and not isinstance(entries, list):
        raise FhirError(path, "must be a list")
    seen: dict[str, list[tuple[str, Decimal]]] = {}
    for n, entry in enumerate(entries or []):
        here = f"{path}[{n}]"
        if not isinstance(entry, dict):
            raise FhirError(here, "must be an object")
        amount = money(entry["amount"], f"{here}.amount") if "amount" in entry else None
        code = _category(entry.get("category"), f"{here}.category", amount, found)
        if code is None:
            continue
        if amount is not None:
            seen.setdefault(code, []).append((here, amount))
        _reasons(entry.get("reason"), f"{here}.reason", code, found)
    for code, amounts in seen.items():
        _one_amount(code, amounts, found)
    return found


def _category(concept: Any, path: str, amount: Decimal | None, found: Adjudications) -> str | None:
    """The category's code in a known system; None when coded only in other systems (not read)."""
    known: list[tuple[str, str]] = []
    other: list[str] = []
    for n, system, code in _codings(concept, path, _SYSTEMS_HINT):
        if system in KNOWN_SYSTEMS:
            if not any(code in table.get(system, ()) for table in (READ, NOT_AMOUNTS, UNPLACED)):
                raise FhirError(
                    f"{path}.coding[{n}]", f"{code[:40]!r} is not a category of {system} this converter reads"
                )
            known.append((system, code))
        else:
            other.append(f"{system}#{code}"[:160])
            found.out_of_network = found.out_of_network or (system, code) == (CARIN_STATUS, "outofnetwork")
    if not known and not other:
        raise FhirError(path, "needs a coding with a system and a code")
    if not known:
        found.not_read.append(f"{other[0]}{'' if amount is None else f' {amount}'}")
        return None
    if len({code for _, code in known}) > 1:
        raise FhirError(path, f"codes {' and '.join(c for _, c in known)} at once: which amount it is is unsure")
    if other:
        raise FhirError(
            path,
            f"{known[0][1]!r} is also coded {other[0]}, which narrows what the amount is: "
            f"the amount is refused rather than read as {known[0][1]!r}",
        )
    return known[0][1]


def _codings(concept: Any, path: str, hint: str) -> list[tuple[int, str, str]]:
    """(position, system, code) of a CodeableConcept's codings that have a code; a coding with a
    code and no system is refused (`hint` says what to give)."""
    found = []
    for n, coding in enumerate(array(concept.get("coding")) if isinstance(concept, dict) else []):
        system, code = (
            (string(coding.get("system")), string(coding.get("code"))) if isinstance(coding, dict) else (None, None)
        )
        if code is None:
            continue
        if system is None:
            raise FhirError(f"{path}.coding[{n}]", f"{code[:40]!r} has no system: {hint}")
        found.append((n, system, code))
    return found


_SYSTEMS_HINT = f"code categories in {HL7_ADJUDICATION} or {CARIN_ADJUDICATION} (docs/FHIR.md)"


def _reasons(concept: Any, path: str, category: str, found: Adjudications) -> None:
    """CARCs and RARCs by their code system; codes of other systems carry no X12 meaning and are not read."""
    carcs: list[str] = []
    for _, system, code in _codings(concept, path, f"give {CARC_SYSTEM} or {RARC_SYSTEM}"):
        if system == CARC_SYSTEM:
            carcs.append(code)
        elif system == RARC_SYSTEM:
            found.remarks.append(code)
        elif system == CARIN_STATUS and code == "outofnetwork":
            found.out_of_network = True
    if category in ITEMIZED_CATEGORIES and carcs:
        if len(set(carcs)) > 1:
            raise FhirError(path, f"CARCs {', '.join(carcs)} for one {category} amount: which one applies is unsure")
        found.reason_for[category] = carcs[0]
    else:
        found.carcs.extend(carcs)


ITEMIZED_CATEGORIES = frozenset({"deductible", "copay", "coinsurance", "priorpayerpaid", "noncovered"})


def _one_amount(code: str, amounts: list[tuple[str, Decimal]], found: Adjudications) -> None:
    if code in found.amounts:  # the header's `total` and `adjudication` both give it
        amounts = [(found.where[code], found.amounts[code]), *amounts]
    if len(amounts) > 1:
        listed = ", ".join(f"{amount} ({where})" for where, amount in amounts)
        raise FhirError(
            amounts[-1][0],
            f"{len(amounts)} amounts of category {code!r}: {listed}; they are not added up (no guide says they add)",
        )
    where, amount = amounts[0]
    if code in UNPLACED[HL7_ADJUDICATION] | UNPLACED[CARIN_ADJUDICATION] and amount:
        raise FhirError(where, f"{code} {amount}: money whose place in the provider's remittance is not defined")
    if code in NOT_AMOUNTS[CARIN_DISCRIMINATOR] and amount:
        raise FhirError(where, f"{code} carries an amount ({amount}): which adjustment it is, is not said")
    found.amounts[code] = amount
    found.where[code] = where
