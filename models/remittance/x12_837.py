"""One 837P (005010X222A1) or 837I (005010X223A2) transaction set (ST..SE) cut into its parts: the
header (BHT: when the batch was created, so when the claims were submitted), the hierarchy of HL
loops (2000A billing provider, 2000B subscriber with loop 2010BB, the payer this 837 is sent to,
optional 2000C patient) and the claims (loop 2300) under them. Each claim becomes a
`ClaimSubmission` (models.remittance.x12_837_claim) or a rejection of that claim alone.

What a fault spoils follows the hierarchy: a fault in the header (before the first HL) spoils the
transaction, since every claim takes its submission time from the BHT; a fault in an HL loop (an
unreadable segment, an HL that names no parent of the right level) spoils the claims under that
loop; a fault inside a claim spoils that claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from models.remittance.results import ConversionRejected, ConvertedSubmission
from models.remittance.x12_835 import EnvelopeIds
from models.remittance.x12_837_claim import Batch, Level, convert_submission
from models.remittance.x12_837_lines import SEGMENTS
from models.remittance.x12_envelope import CLAIM_GUIDES, ClaimGuide, Transaction, claim_guide
from models.remittance.x12_segments import Delimiters, Segment, X12Error, date_element

HEADER_SEGMENTS = frozenset({"BHT", "NM1", "PER", "REF"})  # 1000A submitter, 1000B receiver
_TIME = re.compile(r"(\d\d)(\d\d)(?:(\d\d)(\d{1,2})?)?")
_LEVELS = {"20": "2000A (billing provider)", "22": "2000B (subscriber)", "23": "2000C (patient)"}
_PARENT_LEVEL = {"20": "", "22": "20", "23": "22"}  # HL03 -> the HL03 its parent (HL02) must have


@dataclass(slots=True)
class Parts:
    """A transaction's segments sorted into header, HL loops and claims (each with its HL loop)."""

    header: list[Segment] = field(default_factory=list)
    levels: dict[str, Level] = field(default_factory=dict)
    claims: list[tuple[Level, list[Segment]]] = field(default_factory=list)


def convert_claims(
    transaction: Transaction,
    guide: ClaimGuide,
    envelope: EnvelopeIds,
    delimiters: Delimiters,
    wrapper: tuple[Segment, Segment] | None = None,
) -> list[ConvertedSubmission | ConversionRejected]:
    """Every claim of the transaction, in order, as a submission or the rejection of that claim.
    `wrapper`: the ISA and GS around the transaction (None for a bare ST..SE), which each
    claim's own 837 (`ClaimSubmission.original_837`) keeps.

    Raises X12Error for a fault of the transaction as a whole (its header or its ST03).
    """
    check_convention(transaction.st, guide)
    parts = divide_parts(transaction, guide)
    bht = next((s for s in parts.header if s.id == "BHT"), None)
    if bht is None:
        raise X12Error(
            transaction.st,
            "the transaction has no BHT (beginning of hierarchical transaction): when it was submitted is unknown",
        )
    batch = Batch(
        guide, envelope, submitted_at(bht), bht.get(3) or None, delimiters, transaction.st, parts.header, wrapper
    )
    return [convert_submission(segments, level, n, batch) for n, (level, segments) in enumerate(parts.claims, 1)]


def check_convention(st: Segment, guide: ClaimGuide) -> None:
    """ST03, when given, names the same guide as the group's GS08."""
    named = claim_guide(st.get(3))
    if st.get(3) and named != guide:
        raise X12Error(
            st,
            f"ST03 (implementation convention reference) {st.get(3)!r} is not the {guide}'s guide "
            f"({CLAIM_GUIDES[guide]}) that its functional group's GS08 names",
        )


def submitted_at(bht: Segment) -> datetime:
    """BHT04 (date, CCYYMMDD) and BHT05 (time, HHMM[SS[D[D]]]) as a UTC instant: X12 gives no zone."""
    day = date_element(bht, 4, "transaction set creation date")
    text = bht.get(5)
    found = _TIME.fullmatch(text)
    if not found:
        raise X12Error(bht, f"BHT05 (transaction set creation time) {text[:20]!r} is not a time written HHMM[SS[DD]]")
    hours, minutes, seconds, fraction = found.groups()
    if int(hours) > 23 or int(minutes) > 59 or int(seconds or 0) > 59:
        raise X12Error(bht, f"BHT05 (transaction set creation time) {text!r} is not a time of day")
    micro = int((fraction or "0").ljust(6, "0"))
    return datetime.combine(day, time(int(hours), int(minutes), int(seconds or 0), micro), tzinfo=UTC)


def divide_parts(transaction: Transaction, guide: ClaimGuide) -> Parts:
    """Header (up to the first HL), HL loops (each up to the next HL or CLM) and claims (each from its
    CLM to the next CLM or HL). X12Error for a fault of the header; other faults are kept for the
    claims they spoil."""
    parts = Parts()
    level: Level | None = None
    claim: list[Segment] | None = None
    for segment in transaction.segments[1:-1]:
        if segment.id == "HL" and not segment.problem:
            level, claim = _level(segment, parts.levels), None
        elif segment.id == "CLM" and not segment.problem and level is not None:
            claim = [segment]
            parts.claims.append((level, claim))
        elif claim is not None:
            claim.append(segment)  # checked with its claim
        elif level is not None:
            level.segments.append(segment)
            if level.fault is None and (segment.problem or segment.id not in SEGMENTS[guide]):
                level.fault = X12Error(segment, segment.problem or _not_of(segment, guide))
        elif segment.problem or segment.id not in HEADER_SEGMENTS:
            reason = segment.problem or (
                f"{segment.id} does not belong in the header of an 837 (before the first HL, the billing provider loop)"
            )
            raise X12Error(segment, reason)
        else:
            parts.header.append(segment)
    return parts


def _not_of(segment: Segment, guide: ClaimGuide) -> str:
    return f"{segment.id} is not a segment of an {guide} ({CLAIM_GUIDES[guide]})"


def _level(hl: Segment, levels: dict[str, Level]) -> Level:
    """One HL loop, with its parent, or with the fault that spoils its claims."""
    number, parent_number, code = hl.get(1), hl.get(2), hl.get(3)
    parent = levels.get(parent_number) if parent_number else None
    level = Level(hl, [hl], parent)
    if code not in _LEVELS:
        level.fault = X12Error(
            hl,
            f"HL03 (hierarchical level code) {code[:8]!r} is not 20 (billing provider), 22 (subscriber) or "
            "23 (patient)",
        )
    elif not number or number in levels:
        level.fault = X12Error(hl, f"HL01 (hierarchical id) {number[:12]!r} is empty or used twice")
    elif (parent.hl.get(3) if parent else "") != _PARENT_LEVEL[code] or (parent_number and parent is None):
        level.fault = X12Error(hl, _parent_fault(hl, parent))
    if number and number not in levels:
        levels[number] = level
    return level


def _parent_fault(hl: Segment, parent: Level | None) -> str:
    code, parent_number = hl.get(3), hl.get(2)
    if not _PARENT_LEVEL[code]:
        return f"HL02 {parent_number[:12]!r}: a billing provider loop (HL03 20) has no parent"
    wanted = _LEVELS[_PARENT_LEVEL[code]]
    if parent is None:
        return (
            f"HL02 (parent id) {parent_number[:12]!r} names no earlier HL; a loop {_LEVELS[code]} sits under a {wanted}"
        )
    return (
        f"HL02 (parent id) {parent_number!r} names the loop {_LEVELS.get(parent.hl.get(3), '?')} of "
        f"{parent.hl.where}; a loop {_LEVELS[code]} sits under a {wanted}"
    )
