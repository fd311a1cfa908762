"""The 2400/2430 loops of the 837 to send to the secondary: each line as the provider billed it,
followed by the primary's adjudication of it (SVD paid amount, CAS adjustments grouped by group,
DTP*573, AMT*EAF), from a `SecondaryClaim` (COVERAGE.md section 5; docs/X12.md "The secondary 837")."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from models.contract.outcomes import SecondaryClaim, SecondaryClaimLine
from models.remittance.x12_837_lines import ServiceLine
from models.remittance.x12_837_original import Original, made, refused
from models.remittance.x12_envelope import ClaimGuide
from models.remittance.x12_segments import Delimiters, Segment

MAX_CAS = 5  # CAS segments in one 2320 or 2430 loop
PER_CAS = 6  # adjustment trios in one CAS segment
_ADJUDICATION = frozenset({"SVD", "CAS", "DTP", "AMT"})  # a 2430 loop's segments


def x12_amount(amount: Decimal) -> str:
    """Money as X12 writes it (type R): no trailing zeros, no exponent."""
    text = f"{amount.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _line_id(line: ServiceLine) -> str:
    ref = line.first("REF", "6R")
    return ref.get(2) if ref else line.lx.get(1)


def adjudicated_lines(d: Delimiters, original: Original, payer_id: str, claim: SecondaryClaim) -> list[Segment]:
    """Each service line as billed, its 2430 (the primary's adjudication of it) before any 2440."""
    adjudicated = {line.line_id: line for line in claim.lines}
    billed = [_line_id(line) for line in original.claim.lines]
    if sorted(billed) != sorted(adjudicated):
        raise refused(
            f"the primary adjudicated lines {sorted(adjudicated)} but the claim bills lines {billed}: the 837 to the "
            "secondary must report the primary's adjudication of each billed line (resolve the line mismatch first)"
        )
    segments: list[Segment] = []
    for line, line_id in zip(original.claim.lines, billed, strict=True):
        before, after = _around_adjudication(line.nested)
        adjudication = _adjudication(d, line, adjudicated[line_id], payer_id, original.guide, claim.adjudicated_at)
        segments += [line.lx, *line.own, *before, *adjudication, *after]
    return segments


def _around_adjudication(nested: list[Segment]) -> tuple[list[Segment], list[Segment]]:
    """A line's 2410 and 2420 loops, and its 2440 loops; an original 2430 is left out (replaced)."""
    before: list[Segment] = []
    after: list[Segment] = []
    skipping = False
    for segment in nested:
        if after or segment.id in ("LQ", "FRM"):
            after.append(segment)
        elif segment.id == "SVD" or (skipping and segment.id in _ADJUDICATION):
            skipping = True
        else:
            skipping = False
            before.append(segment)
    return before, after


def _adjudication(
    d: Delimiters, line: ServiceLine, paid: SecondaryClaimLine, payer_id: str, guide: ClaimGuide, at: datetime
) -> list[Segment]:
    """2430: SVD (payer, paid, procedure as billed, units), CAS by group, DTP*573, AMT*EAF."""
    service = line.own[0]
    charge_at, units_at = (2, 4) if guide == "837P" else (3, 5)
    if Decimal(service.get(charge_at)) != paid.charge:
        raise refused(
            f"line {paid.line_id}: the primary adjudicated a charge of {paid.charge}, the claim bills "
            f"{service.get(charge_at)}: the 837 to the secondary would not balance (resolve the line mismatch first)"
        )
    if guide == "837P":
        procedure, revenue = service.get(1), ""
    else:
        procedure, revenue = service.get(2), service.get(1)
    patient = sum((a.amount for a in paid.adjustments if a.group == "PR"), Decimal(0))
    return [
        made(d, "SVD", payer_id, x12_amount(paid.primary_paid), procedure, revenue, service.get(units_at) or "1"),
        *_cas(d, paid),
        made(d, "DTP", "573", "D8", f"{at.astimezone(UTC):%Y%m%d}"),
        made(d, "AMT", "EAF", x12_amount(max(patient, Decimal(0)))),
    ]


def _cas(d: Delimiters, paid: SecondaryClaimLine) -> list[Segment]:
    """The line's adjustments with an amount, one CAS per group (in the primary's order), six to a segment."""
    groups: dict[str, list[str]] = {}
    for adjustment in paid.adjustments:
        if adjustment.amount != 0:  # the guide reports non-zero adjustments only
            groups.setdefault(adjustment.group, []).extend([adjustment.reason, x12_amount(adjustment.amount), ""])
    segments = [
        made(d, "CAS", group, *trios[start : start + 3 * PER_CAS])
        for group, trios in groups.items()
        for start in range(0, len(trios), 3 * PER_CAS)
    ]
    if len(segments) > MAX_CAS:
        raise refused(
            f"line {paid.line_id}: the primary's adjustments need {len(segments)} CAS segments, more than the "
            f"{MAX_CAS} a 2430 loop holds"
        )
    return segments


# ---- the claim's standing secondary claim ---------------------------------------------------------
