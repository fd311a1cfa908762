"""One claim payment of an 835 (loop 2100, with its service payments, loop 2110) read into the
contract's terms: service lines with their adjustments (claim-level CAS apportioned to them), the
crossover carrier, the claim's remarks, and the balancing the implementation guide requires.

Which segments belong where is the guide's: loop 2100 holds CAS, NM1, MIA, MOA, REF, DTM, PER,
AMT and QTY after its CLP; loop 2110 holds DTM, CAS, REF, AMT, QTY and LQ after its SVC. Any
other segment inside a claim, or a segment that could not be read, spoils that claim only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from models.remittance.apportion import ApportionError, apportion
from models.remittance.x12_segments import Segment, X12Error, amount_element, date_element, text_element

CLAIM_SEGMENTS = frozenset({"CAS", "NM1", "MIA", "MOA", "REF", "DTM", "PER", "AMT", "QTY"})
LINE_SEGMENTS = frozenset({"DTM", "CAS", "REF", "AMT", "QTY", "LQ"})
ADJUSTMENT_GROUPS = frozenset({"CO", "CR", "OA", "PI", "PR"})
CLAIM_LEVEL_LINE_ID = "CLAIM"  # the one line of a claim paid without service lines
CLAIM_LEVEL_PROCEDURE = "CLAIM"
PRIOR_PAYER_CARC = "23"  # impact of prior payer(s) adjudication: only a later payer reports it
NO_PRIMARY_INFO_RARC = "MA04"  # secondary payment cannot be considered without the primary's
_MOA_REMARKS = (3, 4, 5, 6, 7)
_MIA_REMARKS = (5, 20, 21, 22, 23)
_ZERO = Decimal(0)


@dataclass(slots=True)
class ServicePayment:
    """An SVC segment and the loop-2110 segments after it."""

    svc: Segment
    segments: list[Segment] = field(default_factory=list)


@dataclass(slots=True)
class ClaimPayment:
    """A CLP segment, its loop-2100 segments and its service payments, as they appear."""

    clp: Segment
    claim_segments: list[Segment] = field(default_factory=list)
    lines: list[ServicePayment] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)  # every segment, CLP first, for the original text

    @property
    def claim_id(self) -> str | None:
        return self.clp.get(1) or None

    @property
    def status_code(self) -> str:
        return self.clp.get(2)

    def first(self, segment_id: str, qualifier: str) -> Segment | None:
        return next((s for s in self.claim_segments if s.id == segment_id and s.get(1) == qualifier), None)


def divide_claim(segments: list[Segment]) -> ClaimPayment:
    """Sort a claim's segments into loop 2100 and its 2110 lines; X12Error on a segment that
    cannot be read or does not belong in a claim."""
    claim = ClaimPayment(segments[0], segments=segments)
    for segment in segments[1:]:
        if segment.problem:
            raise X12Error(segment, segment.problem)
        if segment.id == "SVC":
            claim.lines.append(ServicePayment(segment))
        elif claim.lines and segment.id in LINE_SEGMENTS:
            claim.lines[-1].segments.append(segment)
        elif not claim.lines and segment.id in CLAIM_SEGMENTS:
            claim.claim_segments.append(segment)
        else:
            loop = "a service payment (loop 2110)" if claim.lines else "a claim payment (loop 2100)"
            raise X12Error(segment, f"{segment.id} is not a segment of {loop} in an 835")
    return claim


def adjustments(segment: Segment) -> list[dict[str, Any]]:
    """One CAS segment: its group code and up to six (reason, amount, quantity) triples."""
    group = segment.get(1)
    if group not in ADJUSTMENT_GROUPS:
        raise X12Error(segment, f"CAS01 (claim adjustment group code) {group[:8]!r} is not CO, CR, OA, PI or PR")
    found = []
    for index in range(6):
        reason_at, amount_at = 2 + 3 * index, 3 + 3 * index
        reason = segment.get(reason_at)
        if not reason and not segment.get(amount_at):
            continue
        if not reason:
            raise X12Error(segment, f"CAS{amount_at:02d} has an amount but CAS{reason_at:02d} no reason code")
        amount = amount_element(segment, amount_at, "adjustment amount")
        found.append({"group": group, "reason": reason, "amount": amount})
    if not found:
        raise X12Error(segment, "CAS has no adjustment (reason code and amount in CAS02-CAS03)")
    return found


def crossover_payer(claim: ClaimPayment) -> str | None:
    """NM1*TT (crossover carrier): the payer this one forwarded the claim to, by NM109, else NM103."""
    segment = claim.first("NM1", "TT")
    return (segment.get(9) or segment.get(3) or None) if segment else None


def claim_remarks(claim: ClaimPayment) -> list[str]:
    """RARCs reported for the whole claim (MOA03-07 outpatient, MIA05 and MIA20-23 inpatient)."""
    remarks: list[str] = []
    for segment in claim.claim_segments:
        positions = _MOA_REMARKS if segment.id == "MOA" else _MIA_REMARKS if segment.id == "MIA" else ()
        remarks += [segment.get(n) for n in positions if segment.get(n)]
    return remarks


def role_evidence(claim: ClaimPayment) -> tuple[set[str], list[str]]:
    """What the claim itself says about the payer's place in the order: the roles it points to and why."""
    roles, why = set(), []
    if claim.first("NM1", "TT"):
        roles.add("primary")
        why.append("a crossover carrier (NM1*TT) means this payer paid first")
    if claim.first("NM1", "PR"):
        roles.add("primary")
        why.append("a corrected priority payer (NM1*PR) means this payer was billed as primary")
    codes = {a["reason"] for s in _all_cas(claim) for a in adjustments(s)}
    remarks = set(claim_remarks(claim)) | {s.get(2) for line in claim.lines for s in line.segments if s.id == "LQ"}
    if PRIOR_PAYER_CARC in codes or NO_PRIMARY_INFO_RARC in remarks:
        roles.add("secondary")
        why.append("CARC 23 or RARC MA04 means an earlier payer's adjudication applies")
    return roles, why


def _all_cas(claim: ClaimPayment) -> list[Segment]:
    return [s for s in claim.segments if s.id == "CAS"]


def service_lines(claim: ClaimPayment, component: str) -> list[dict[str, Any]]:
    """The contract's lines: one per SVC, or one for the whole claim when it has no SVC."""
    claim_cas = [s for s in claim.claim_segments if s.id == "CAS"]
    statement_from = _claim_date(claim, "232")
    remarks = claim_remarks(claim)
    if not claim.lines:
        return [_claim_level_line(claim, claim_cas, statement_from, remarks)]
    lines = [_service_line(line, n, component, statement_from, remarks) for n, line in enumerate(claim.lines, 1)]
    if claim_cas:
        try:
            apportion([a for s in claim_cas for a in adjustments(s)], lines)
        except ApportionError as exc:
            raise X12Error(claim_cas[0], str(exc)) from None
    return lines


def _check_lines_add_up(claim: ClaimPayment, lines: list[dict[str, Any]]) -> None:
    """The lines' paid amounts (less the claim-level adjustments apportioned to them, COVERAGE.md
    section 3) add up to CLP04: the guide's balancing of service payments against the claim. A
    line outside the claim's totals would otherwise tell the engine the payer paid what it did not."""
    paid = amount_element(claim.clp, 4, "claim payment amount")
    lines_paid = sum((line["paid"] for line in lines), _ZERO)
    if lines_paid == paid:
        return
    charges = sum((amount_element(line.svc, 2, "line item charge amount") for line in claim.lines), _ZERO)
    total = amount_element(claim.clp, 3, "total claim charge amount")
    apportioned = any(s.id == "CAS" for s in claim.claim_segments)
    what = "after the claim-level adjustments (CAS in loop 2100) " if apportioned else ""
    raise X12Error(
        claim.clp,
        f"the service lines do not add up to the claim: their paid amounts (SVC03) {what}add up to {lines_paid}, "
        f"not CLP04 {paid}, and their charges (SVC02) to {charges}, against CLP03 {total}: a line is missing "
        "from the claim's totals or added to them; ask the payer for a corrected remittance",
    )


def _claim_level_line(
    claim: ClaimPayment, claim_cas: list[Segment], statement_from: date | None, remarks: list[str]
) -> dict[str, Any]:
    if statement_from is None:
        raise X12Error(
            claim.clp,
            "a claim without service lines (SVC) needs its statement period (DTM*232) as the service date",
        )
    return {
        "line_id": CLAIM_LEVEL_LINE_ID,
        "procedure_code": CLAIM_LEVEL_PROCEDURE,
        "service_date": statement_from,
        "charge": amount_element(claim.clp, 3, "total claim charge amount"),
        "paid": amount_element(claim.clp, 4, "claim payment amount"),
        "allowed": None,
        "adjustments": [a for s in claim_cas for a in adjustments(s)],
        "remarks": list(dict.fromkeys(remarks)),
    }


def _service_line(
    line: ServicePayment, ordinal: int, component: str, statement_from: date | None, claim_remarks: list[str]
) -> dict[str, Any]:
    svc = line.svc
    composite = text_element(svc, 1, "composite medical procedure identifier").split(component)
    if len(composite) < 2 or not composite[0] or not composite[1]:
        raise X12Error(
            svc,
            f"SVC01 {svc.get(1)[:30]!r} must be a qualifier and a procedure code joined by {component!r} (the "
            f"component separator the ISA16 or the file declares), e.g. HC{component}99214",
        )
    found: dict[str, Any] = {"line_id": None, "date": None, "period_start": None, "allowed": None}
    line_adjustments, remarks = [], []
    for segment in line.segments:
        kind = (segment.id, segment.get(1))
        if segment.id == "CAS":
            line_adjustments += adjustments(segment)
        elif kind == ("DTM", "472"):
            found["date"] = date_element(segment, 2, "service date")
        elif kind == ("DTM", "150"):
            found["period_start"] = date_element(segment, 2, "service period start")
        elif kind == ("REF", "6R"):
            found["line_id"] = text_element(segment, 2, "line item control number")
        elif kind == ("AMT", "B6"):
            found["allowed"] = amount_element(segment, 2, "allowed - actual")
        elif kind == ("LQ", "HE"):
            remarks.append(text_element(segment, 2, "remark code"))
    service_date = found["date"] or found["period_start"] or statement_from
    if service_date is None:
        raise X12Error(svc, "no service date: no DTM*472 or DTM*150 on the line and no DTM*232 on the claim")
    charge = amount_element(svc, 2, "line item charge amount")
    paid = amount_element(svc, 3, "line item provider payment amount")
    _check_line_balance(svc, charge, paid, line_adjustments)
    return {
        "line_id": found["line_id"] or str(ordinal),
        "procedure_code": composite[1],
        "modifiers": [m for m in composite[2:6] if m],
        "service_date": service_date,
        "charge": charge,
        "paid": paid,
        "allowed": found["allowed"],
        "adjustments": line_adjustments,
        "remarks": list(dict.fromkeys([*remarks, *claim_remarks])),
    }


def _check_line_balance(svc: Segment, charge: Decimal, paid: Decimal, found: list[dict[str, Any]]) -> None:
    adjusted = sum((a["amount"] for a in found), _ZERO)
    if charge - adjusted != paid:
        raise X12Error(
            svc,
            f"the service line does not balance: SVC02 charge {charge} - adjustments {adjusted} = "
            f"{charge - adjusted}, but SVC03 paid is {paid}",
        )


def check_claim_balance(claim: ClaimPayment, lines: list[dict[str, Any]]) -> None:
    """CLP03 - every adjustment of the claim = CLP04 (the guide's claim balancing), then, for a
    claim with service lines, the lines' paid amounts add up to CLP04. The lines hold every
    adjustment: the claim-level ones are its only line's when it has no SVC, else apportioned."""
    charge = amount_element(claim.clp, 3, "total claim charge amount")
    paid = amount_element(claim.clp, 4, "claim payment amount")
    adjusted = sum((a["amount"] for line in lines for a in line["adjustments"]), _ZERO)
    if charge - adjusted != paid:
        raise X12Error(
            claim.clp,
            f"the claim does not balance: CLP03 charge {charge} - adjustments {adjusted} = {charge - adjusted}, "
            f"but CLP04 paid is {paid}",
        )
    if claim.lines:
        _check_lines_add_up(claim, lines)


def _claim_date(claim: ClaimPayment, qualifier: str) -> date | None:
    segment = claim.first("DTM", qualifier)
    return date_element(segment, 2, "claim date") if segment else None
