"""X12 transactions without their envelope (ST..SE, one after the other, as some payers' tools
write them): where each begins and ends, which transaction set it is (its ST01, and for an 837
its ST03), and its delimiters, which no ISA gives. `models.remittance.x12` converts them."""

from __future__ import annotations

import re

from models.remittance.results import ConversionRejected
from models.remittance.x12_envelope import Transaction, TransactionSet, claim_guide
from models.remittance.x12_segments import Delimiters, Segment, X12Error


def bare_set(st: Segment) -> TransactionSet:
    """What a transaction without its envelope is, by its ST01 (and, for an 837, its ST03)."""
    if st.get(1) == "835":
        return "835"
    if st.get(1) != "837":
        raise X12Error(st, f"ST01 {st.get(1)!r} is neither 835 (a remittance) nor 837 (a claim)")
    guide = claim_guide(st.get(3))
    if guide is None:
        raise X12Error(
            st,
            f"ST03 (implementation convention reference) {st.get(3)[:20]!r} is not 005010X222(A1) (837P) or "
            "005010X223(A2) (837I): an 837 without its envelope must say which guide it follows",
        )
    return guide


def bare_transactions(segments: list[Segment], delimiters: Delimiters) -> list[Transaction | ConversionRejected]:
    """Each ST..SE in order (an ST before the previous one's SE leaves that one unclosed); segments
    between an SE and the next ST belong to no transaction and are rejected."""
    found: list[Transaction | ConversionRejected] = []
    current: list[Segment] = []
    stray: list[Segment] = []
    for segment in segments:
        if segment.id == "ST":
            if current:
                found.append(Transaction(current, closed=False))
            if stray:
                found.append(_stray(stray, delimiters))
            current, stray = [], []
        (current if current or segment.id == "ST" else stray).append(segment)
        if current and segment.id == "SE":
            found.append(Transaction(current, closed=True))
            current = []
    if current:
        found.append(Transaction(current, closed=False))
    if stray:
        found.append(_stray(stray, delimiters))
    return found


def _stray(segments: list[Segment], delimiters: Delimiters) -> ConversionRejected:
    first = segments[0]
    return ConversionRejected(
        first.where,
        f"{len(segments)} segment(s) after an SE and before any ST belong to no transaction",
        "file",
        None if first.problem else first.id,
        first.position,
        original=delimiters.join(segments),
    )


def bare_delimiters(text: str, start: int) -> Delimiters:
    """The element separator follows "ST"; the terminator is the first other non-alphanumeric
    character of the ST segment; the component separator follows SVC01's (or PLB03's) qualifier,
    in an 837 SV101's qualifier or CLM05's first part."""
    element = text[start + 2 : start + 3] or "*"
    terminator = next((c for c in text[start + 3 :] if not c.isalnum() and c != element), "~")
    component = ":"
    for tag in ("SVC", "PLB"):
        at = text.find(f"{terminator}{tag}{element}", start)
        if at >= 0:
            after = text[at + len(tag) + 2 :].lstrip("\r\n")
            qualifier_end = next((i for i, c in enumerate(after[:8]) if not c.isalnum()), None)
            if qualifier_end and after[qualifier_end] not in (element, terminator):
                component = after[qualifier_end]
                break
    else:
        component = _claim_component(text[start:], element, terminator) or component
    return Delimiters(element, component, "^", terminator)


def _claim_component(text: str, element: str, terminator: str) -> str | None:
    """The component separator of an 837: after SV101's qualifier, else after CLM05's first part."""
    for tag, n in (("SV1", 1), ("CLM", 5)):
        found = re.search(rf"{re.escape(terminator)}\s*{tag}{re.escape(element)}([^{re.escape(terminator)}]*)", text)
        if found is None:
            continue
        elements = found.group(1).split(element)
        value = elements[n - 1] if len(elements) >= n else ""
        separator = next((c for c in value if not c.isalnum() and c not in " -."), None)
        if separator:
            return separator
    return None
