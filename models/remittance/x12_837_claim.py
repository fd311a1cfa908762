"""One 837 claim (loop 2300) with the subscriber and patient loops above it into the contract's
`ClaimSubmission` (COVERAGE.md section 4): the coverage from the SBR loops (2000B with 2010BB, the
payer of this 837; each 2320 with its 2330B, the other payers), the frequency from CLM05-3, the
lines (models.remittance.x12_837_lines), a deterministic event id, and the claim's own 837
(`original_837`, `standalone_837`: the interchange cut down to this claim, which the secondary's 837
is built from).

The system reconciles a primary and a secondary and keeps a tertiary: a payer further down the COB
order (SBR01 A-H, U) refuses the claim, as do a frequency other than original, replacement and
void, and a total that is not its lines' sum. Every submission is validated by the contract, so a
claim it refuses (two primaries, one payer twice, an id too long) is a rejection naming its
segment, never a crash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from models.contract.events import ClaimSubmission, CoverageRole
from models.remittance.results import ConversionRejected, ConvertedSubmission, refused_by_contract
from models.remittance.x12_835 import EnvelopeIds
from models.remittance.x12_837_lines import BilledClaim, divide_claim, submitted_lines, total_charge
from models.remittance.x12_envelope import ClaimGuide
from models.remittance.x12_segments import Delimiters, Segment, X12Error

# SBR01, payer responsibility sequence number code.
RESPONSIBILITY: dict[str, CoverageRole] = {"P": "primary", "S": "secondary", "T": "tertiary"}
_FURTHER = {"A": "four", "B": "five", "C": "six", "D": "seven", "E": "eight", "F": "nine", "G": "ten", "H": "eleven"}
_ROLE_ORDER = ("primary", "secondary", "tertiary")
# CLM05-3, claim frequency type code (NUBC): the three a submission can be, and why the others are not.
FREQUENCY = {"1": "original", "7": "replacement", "8": "void"}
_WHOLE = "a submission is the whole claim as billed"
NOT_TAKEN = {
    "0": f"non-payment/zero claim: billed for no payment; {_WHOLE} for payment",
    "2": f"interim, first claim: one part of a stay billed in several claims; {_WHOLE}",
    "3": f"interim, continuing claim: one part of a stay billed in several claims; {_WHOLE}",
    "4": f"interim, last claim: one part of a stay billed in several claims; {_WHOLE}",
    "5": "late charge(s) only: lines added to a claim billed earlier, while a submission replaces the claim's lines",
    "6": "corrected claim: whether it replaces the claim billed earlier or adjusts part of it is not said; a "
    "replacement is 7, a void 8",
    "9": f"final claim for a home health PPS episode: it completes an earlier request; {_WHOLE}",
}


@dataclass(slots=True, eq=False)
class Level:
    """One HL loop (2000A, 2000B or 2000C): its segments (HL first), its parent, and the fault, if
    any, that spoils the claims under it."""

    hl: Segment
    segments: list[Segment]
    parent: Level | None
    fault: X12Error | None = None

    def chain(self) -> list[Level]:
        """This loop and the loops above it, the top (2000A) first."""
        levels: list[Level] = []
        level: Level | None = self
        while level is not None:  # a parent is always an earlier HL: no cycle
            levels.append(level)
            level = level.parent
        return levels[::-1]


@dataclass(frozen=True, slots=True)
class Batch:
    """What the transaction says about every claim in it."""

    guide: ClaimGuide
    envelope: EnvelopeIds
    submitted_at: datetime
    reference: str | None  # BHT03, the originator's id of the batch
    delimiters: Delimiters
    # What each claim's own 837 (`standalone_837`) keeps around it: the ST, the header (BHT,
    # 1000A, 1000B), and the ISA and GS (None for a bare ST..SE).
    st: Segment | None = None
    header: list[Segment] = field(default_factory=list)
    wrapper: tuple[Segment, Segment] | None = None


def convert_submission(
    segments: list[Segment], level: Level, ordinal: int, batch: Batch
) -> ConvertedSubmission | ConversionRejected:
    """One claim (CLM and what follows it) into a submission, or the reason it cannot be one."""
    above = [s for lvl in level.chain() if lvl.hl.get(3) != "20" for s in lvl.segments]
    try:
        subscriber = _subscriber(level, segments[0])
        claim = divide_claim(segments, batch.guide)
        lines = submitted_lines(claim, batch.guide, batch.delimiters.component)
        total_charge(claim, lines)
        fields = {
            "event_id": event_id(claim, above, ordinal, batch),
            "claim_id": claim.clm.get(1),
            "submitted_at": batch.submitted_at,
            "frequency": frequency(claim.clm, batch.delimiters.component),
            "coverage": coverage(subscriber, claim),
            "lines": lines,
            "original_837": standalone_837(level, segments, batch),
        }
        submission = _validated(claim, fields)
    except X12Error as exc:
        original = batch.delimiters.join([*above, *segments])
        return ConversionRejected.of_claim(exc, segments[0], original, submission=True)
    return ConvertedSubmission(submission, _source(claim, batch))


def _subscriber(level: Level, clm: Segment) -> Level:
    """The subscriber loop (2000B) of a claim in `level`; X12Error for the first fault above the claim."""
    for found in level.chain():
        if found.fault is not None:
            raise found.fault
    code = level.hl.get(3)
    if code == "22":
        return level
    if code == "23" and level.parent is not None:
        return level.parent
    raise X12Error(
        clm,
        f"the claim follows {level.hl.where}, a billing provider loop (HL03 20): a claim belongs in a "
        "subscriber (HL03 22) or patient (HL03 23) loop",
    )


def coverage(subscriber: Level, claim: BilledClaim) -> list[dict[str, Any]]:
    """The payer of this 837 (2000B SBR with 2010BB) and the other payers (2320 SBR with 2330B), in COB order."""
    sbr = next((s for s in subscriber.segments if s.id == "SBR"), None)
    if sbr is None:
        raise X12Error(
            subscriber.hl,
            "the subscriber loop (2000B) has no SBR (subscriber information): the payer's place "
            "in the COB order is unknown",
        )
    payer = next((s for s in subscriber.segments if s.id == "NM1" and s.get(1) == "PR"), None)
    if payer is None:
        raise X12Error(
            sbr,
            "the subscriber loop (2000B) has no NM1*PR (loop 2010BB, payer name): the payer this claim is "
            "billed to is unknown",
        )
    entries = [{"payer_id": _payer_id(payer, "2010BB"), "role": _role(sbr, "2000B")}]
    for other in claim.others:
        other_payer = other.payer()
        if other_payer is None:
            raise X12Error(
                other.sbr,
                "the other subscriber loop (2320) has no NM1*PR (loop 2330B, other payer name): "
                "the payer it names a place in the COB order for is unknown",
            )
        entries.append({"payer_id": _payer_id(other_payer, "2330B"), "role": _role(other.sbr, "2320")})
    return sorted(entries, key=lambda entry: _ROLE_ORDER.index(entry["role"]))


def _payer_id(nm1: Segment, loop: str) -> str:
    if not nm1.get(9):
        raise X12Error(nm1, f"NM109 (payer identifier) of NM1*PR in loop {loop} is required")
    return nm1.get(9)


def _role(sbr: Segment, loop: str) -> CoverageRole:
    code = sbr.get(1)
    if code in RESPONSIBILITY:
        return RESPONSIBILITY[code]
    two_payer = (
        "the system reconciles two payers (primary and secondary) and keeps a tertiary; a claim with a payer "
        "beyond those is not taken: bill and post it by hand"
    )
    if code in _FURTHER:
        raise X12Error(sbr, f"SBR01 {code} (payer responsibility {_FURTHER[code]}) in loop {loop}: {two_payer}")
    if code == "U":
        unknown = "the payer's place in the COB order is unknown"
        raise X12Error(sbr, f"SBR01 U (unknown) in loop {loop}: {unknown}; {two_payer}")
    raise X12Error(
        sbr, f"SBR01 {code[:8]!r} in loop {loop} is not a payer responsibility sequence number code (P, S, T, A-H, U)"
    )


def frequency(clm: Segment, component: str) -> str:
    """CLM05-3, claim frequency type code: 1 original, 7 replacement, 8 void."""
    parts = clm.get(5).split(component)
    code = parts[2] if len(parts) > 2 else ""
    if code in FREQUENCY:
        return FREQUENCY[code]
    taken = "only 1 (original), 7 (replacement of prior claim) and 8 (void/cancel of prior claim) are taken"
    if not code:
        raise X12Error(clm, f"CLM05-3 (claim frequency type code) is required; {taken}")
    if code in NOT_TAKEN:
        raise X12Error(clm, f"CLM05-3 {code}, {NOT_TAKEN[code]}; {taken}")
    raise X12Error(clm, f"CLM05-3 {code[:8]!r} is not a claim frequency type code; {taken}")


def event_id(claim: BilledClaim, above: list[Segment], ordinal: int, batch: Batch) -> str:
    """Sender, interchange, group and transaction control numbers, the claim's place in its
    transaction, CLM01, and a digest of the claim's content with its subscriber and patient loops
    (the 835's scheme, models.remittance.x12_events.event_id)."""
    ids = batch.envelope
    content = [*(s for s in above if s.id != "HL"), claim.clm, *claim.claim_segments]
    content += [s for other in claim.others for s in (other.sbr, *other.segments)]
    content += [s for line in claim.lines for s in (line.lx, *line.own, *line.nested)]
    text = "\x1e".join("\x1f".join(s.elements) for s in content)
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    where = f"BHT:{batch.reference or ''}" if ids.interchange is None else f"{ids.sender}:{ids.interchange}:{ids.group}"
    return f"837:{where}:{ids.transaction}:{ordinal}:{claim.clm.get(1)}:{digest}"


def standalone_837(level: Level, segments: list[Segment], batch: Batch) -> str | None:
    """The claim alone as its own 837 (`ClaimSubmission.original_837`): the original ISA, GS and
    ST with their control numbers, the header, the claim's HL loops (2000A, 2000B, 2000C;
    renumbered 1, 2, 3 as the other subscribers' loops are left out) and its CLM with what
    follows it; SE, GE and IEA count what this one holds. A bare ST..SE stays bare."""
    if batch.st is None:
        return None
    d = batch.delimiters
    chain = level.chain()
    body = [batch.st, *batch.header]
    for number, found in enumerate(chain, 1):
        children = "1" if number < len(chain) else "0"
        body += [_made(d, "HL", str(number), str(number - 1) if number > 1 else "", found.hl.get(3), children)]
        body += found.segments[1:]
    body += [*segments, _made(d, "SE", str(len(body) + len(segments) + 1), batch.st.get(2))]
    if batch.wrapper is None:
        return d.join(body)
    isa, gs = batch.wrapper
    trailer = [_made(d, "GE", "1", gs.get(6)), _made(d, "IEA", "1", isa.get(13))]
    return d.join([isa, gs, *body, *trailer])


def _made(d: Delimiters, segment_id: str, *elements: str) -> Segment:
    """A segment written here (not read): its text from its elements."""
    return Segment(segment_id, [segment_id, *elements], 0, d.element.join([segment_id, *elements]))


def _validated(claim: BilledClaim, fields: dict[str, Any]) -> ClaimSubmission:
    try:
        return ClaimSubmission.model_validate(fields)
    except ValidationError as exc:
        lines = [line.own[0] if line.own else None for line in claim.lines]
        raise refused_by_contract(exc, claim.clm, lines) from None


def _source(claim: BilledClaim, batch: Batch) -> dict[str, Any]:
    ids = batch.envelope
    return {
        "format": f"x12-{batch.guide}",
        "interchange_control_number": ids.interchange,
        "group_control_number": ids.group,
        "transaction_control_number": ids.transaction,
        "segment_position": claim.clm.position,
        "claim_frequency_code": claim.clm.get(5).split(batch.delimiters.component)[2],
        "batch_reference": batch.reference,
    }
