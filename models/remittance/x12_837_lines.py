"""The inside of one 837 claim (loop 2300): its claim-level segments (2300 and the 2310 provider
loops), its other-subscriber loops (2320, each with its 2330 names) and its service lines (2400, with
2410-2440), and each service line read into the contract's `SubmittedLine` terms.

Service lines: the procedure from SV101 (837P) or SV202 (837I; the revenue code SV201 when SV202 is
absent), the charge from SV102 / SV203, the date from the line's DTP*472 or else the claim's
(837P: a claim-level DTP*472; 837I: the start of the statement period DTP*434), the line id from
the line's REF*6R or else its LX number. Money is read exactly (`Decimal`), never as a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from models.contract.types import format_money
from models.remittance.x12_envelope import CLAIM_GUIDES, ClaimGuide
from models.remittance.x12_segments import Segment, X12Error, amount_element, text_element

# Every segment id of each guide inside ST..SE (pyx12's maps of 005010X222A1 and 005010X223A2).
_COMMON = {"AMT", "BHT", "CAS", "CLM", "CN1", "CRC", "CTP", "CUR", "DMG", "DTP", "HCP", "HI", "HL", "K3", "LIN"}
_COMMON |= {"LX", "MOA", "N3", "N4", "NM1", "NTE", "OI", "PAT", "PER", "PRV", "PWK", "REF", "SBR", "SVD"}
SEGMENTS: dict[ClaimGuide, frozenset[str]] = {
    "837P": frozenset({*_COMMON, "CR1", "CR2", "CR3", "FRM", "LQ", "MEA", "PS1", "QTY", "SV1", "SV5"}),
    "837I": frozenset({*_COMMON, "CL1", "MIA", "SV2"}),
}
SERVICE = {"837P": ("SV1", "professional service"), "837I": ("SV2", "institutional service line")}
_LINE_END = frozenset({"LIN", "NM1", "SVD", "LQ", "FRM"})  # where 2400's own segments end (2410-2440)
_PERIOD = re.compile(r"(\d{8})-(\d{8})")


@dataclass(slots=True)
class OtherSubscriber:
    """One loop 2320 (SBR) with its 2330 loops."""

    sbr: Segment
    segments: list[Segment] = field(default_factory=list)

    def payer(self) -> Segment | None:
        """Loop 2330B, the other payer's name (NM1*PR)."""
        return next((s for s in self.segments if s.id == "NM1" and s.get(1) == "PR"), None)


@dataclass(slots=True)
class ServiceLine:
    """One loop 2400: its LX, the segments of 2400 itself, and the 2410-2440 loops after them."""

    lx: Segment
    own: list[Segment] = field(default_factory=list)
    nested: list[Segment] = field(default_factory=list)

    def first(self, segment_id: str, qualifier: str) -> Segment | None:
        return next((s for s in self.own if s.id == segment_id and s.get(1) == qualifier), None)


@dataclass(slots=True)
class BilledClaim:
    """A CLM segment and its loops, as they appear."""

    clm: Segment
    claim_segments: list[Segment] = field(default_factory=list)
    others: list[OtherSubscriber] = field(default_factory=list)
    lines: list[ServiceLine] = field(default_factory=list)

    def first(self, segment_id: str, qualifier: str) -> Segment | None:
        return next((s for s in self.claim_segments if s.id == segment_id and s.get(1) == qualifier), None)


def divide_claim(segments: list[Segment], guide: ClaimGuide) -> BilledClaim:
    """Sort a claim's segments into 2300, 2320 and 2400 loops; X12Error on a segment that cannot be
    read, is not of this 837, or stands out of the guide's order (an SBR after the service lines)."""
    claim = BilledClaim(segments[0])
    for segment in segments[1:]:
        if segment.problem:
            raise X12Error(segment, segment.problem)
        if segment.id not in SEGMENTS[guide] or segment.id in ("BHT", "HL", "PAT", "DMG"):
            raise X12Error(segment, f"{segment.id} is not a segment of a claim in an {guide} ({CLAIM_GUIDES[guide]})")
        if segment.id == "LX":
            claim.lines.append(ServiceLine(segment))
        elif claim.lines:
            line = claim.lines[-1]
            if segment.id == "SBR":
                raise X12Error(segment, "SBR (other subscriber, loop 2320) stands after the service lines (LX)")
            (line.nested if line.nested or segment.id in _LINE_END else line.own).append(segment)
        elif segment.id == "SBR":
            claim.others.append(OtherSubscriber(segment))
        elif claim.others:
            claim.others[-1].segments.append(segment)
        else:
            claim.claim_segments.append(segment)
    return claim


def submitted_lines(claim: BilledClaim, guide: ClaimGuide, component: str) -> list[dict[str, Any]]:
    """Each service line as the contract's `SubmittedLine` fields, in order."""
    if not claim.lines:
        raise X12Error(claim.clm, "the claim has no service line (loop 2400, LX)")
    fallback = _claim_date(claim, guide)
    return [_line(line, guide, component, fallback) for line in claim.lines]


def _line(line: ServiceLine, guide: ClaimGuide, component: str, fallback: date | None) -> dict[str, Any]:
    service_id, name = SERVICE[guide]
    service = line.own[0] if line.own and line.own[0].id == service_id else None
    if service is None:
        raise X12Error(line.lx, f"the service line has no {service_id} ({name}) right after its LX")
    if guide == "837P":
        code, modifiers = _procedure(service, 1, component)
        charge = amount_element(service, 2, "line item charge amount")
    else:
        revenue = text_element(service, 1, "service line revenue code")
        code, modifiers = _procedure(service, 2, component) if service.get(2) else (revenue, [])
        charge = amount_element(service, 3, "line item charge amount")
    ref = line.first("REF", "6R")
    dtp = line.first("DTP", "472")
    service_date = period_start(dtp, 3, "service date") if dtp else fallback
    if service_date is None:
        claim_level = "claim-level DTP*472" if guide == "837P" else "statement dates (DTP*434)"
        raise X12Error(line.lx, f"no service date: the line has no DTP*472, and the claim has no {claim_level}")
    return {
        "line_id": text_element(ref, 2, "line item control number") if ref else text_element(line.lx, 1, "line number"),
        "procedure_code": code,
        "modifiers": modifiers,
        "service_date": service_date,
        "charge": charge,
    }


def _procedure(segment: Segment, n: int, component: str) -> tuple[str, list[str]]:
    """A composite medical procedure identifier: qualifier, code, up to four modifiers."""
    parts = segment.get(n).split(component)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise X12Error(
            segment,
            f"{segment.id}{n:02d} (composite medical procedure identifier) {segment.get(n)[:30]!r} is not a "
            f"qualifier and a procedure code joined by {component!r}",
        )
    return parts[1], [m for m in parts[2:6] if m]


def _claim_date(claim: BilledClaim, guide: ClaimGuide) -> date | None:
    if guide == "837P":
        dtp = claim.first("DTP", "472")
        return period_start(dtp, 3, "service date") if dtp else None
    dtp = claim.first("DTP", "434")
    return period_start(dtp, 3, "statement from or to date") if dtp else None


def period_start(segment: Segment, n: int, name: str) -> date:
    """A DTP date (DTP02 D8: CCYYMMDD) or the start of a period (RD8: CCYYMMDD-CCYYMMDD)."""
    text, form = segment.get(n), segment.get(n - 1)
    found = _PERIOD.fullmatch(text) if form == "RD8" else re.fullmatch(r"\d{8}", text) if form == "D8" else None
    if not found:
        raise X12Error(
            segment,
            f"{segment.id}{n:02d} ({name}) {text[:20]!r} is not a date written as its {segment.id}{n - 1:02d} "
            f"{form[:8]!r} says (D8: CCYYMMDD, RD8: CCYYMMDD-CCYYMMDD)",
        )
    days = [_day(segment, n, name, part) for part in (found.groups() or (text,))]
    if days[-1] < days[0]:
        raise X12Error(segment, f"{segment.id}{n:02d} ({name}) {text!r} ends before it begins")
    return days[0]


def _day(segment: Segment, n: int, name: str, text: str) -> date:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise X12Error(segment, f"{segment.id}{n:02d} ({name}) {text!r} is not a calendar date") from None


def total_charge(claim: BilledClaim, lines: list[dict[str, Any]]) -> Decimal:
    """CLM02, which must be the sum of the lines' charges exactly."""
    total = amount_element(claim.clm, 2, "total claim charge amount")
    billed = sum((line["charge"] for line in lines), Decimal(0))
    if billed != total:
        raise X12Error(
            claim.clm,
            f"CLM02 total claim charge {_money(total)} is not the sum of the service lines' charges {_money(billed)}: "
            "a line is missing from the claim or its total is wrong",
        )
    return total


def _money(amount: Decimal) -> str:
    """Two decimals, unless that would hide a finer difference."""
    return format_money(amount) if amount == amount.quantize(Decimal("0.01")) else f"{amount}"
