"""X12 text into segments: the delimiters an interchange declares in its ISA, and the cutting.

A small tokenizer rather than a library (docs/X12.md says why). It reads the four delimiters
from the fixed-length ISA segment, cuts the text at each segment terminator, and keeps for every
segment its 1-based position in the interchange and its original text. It never guesses: a
segment whose id is not an X12 id, or that runs across a line break, is marked with the problem
and left to the caller, which decides what that segment spoils (its claim, its transaction...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

ISA_LENGTH = 106  # ISA is fixed length: 3 + 16 separators + 86 characters of elements + terminator
_ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_DECIMAL = re.compile(r"-?(?:\d{1,15}(?:\.\d{0,6})?|\.\d{1,6})")
_DATE = re.compile(r"\d{8}")
_LINE_BREAK = re.compile(r"[\r\n]")


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str
    component: str
    repetition: str
    segment: str

    def join(self, segments: list[Segment]) -> str:
        """Segments back to text, one per line (a line break after a terminator is allowed)."""
        suffix = "" if self.segment in "\r\n" else "\n"
        return "".join(f"{s.text}{self.segment}{suffix}" for s in segments)


@dataclass(slots=True)
class Segment:
    """One segment. `elements[n]` is element n in X12 numbering (`elements[0]` is the id)."""

    id: str
    elements: list[str]
    position: int
    text: str
    problem: str | None = None  # why this is not a usable segment, when it is not

    def get(self, n: int) -> str:
        return self.elements[n] if n < len(self.elements) else ""

    @property
    def where(self) -> str:
        return f"{self.id} segment {self.position}" if self.problem is None else f"segment {self.position}"


class X12Error(Exception):
    """A fault in one segment: it names the segment (or None for the unit as a whole) and says why."""

    def __init__(self, segment: Segment | None, reason: str) -> None:
        super().__init__(reason)
        self.segment = segment
        self.reason = reason


def read_isa(text: str, start: int) -> tuple[Delimiters, Segment]:
    """The ISA at `start`: its delimiters (element ISA[3], repetition ISA11, component ISA16,
    segment terminator right after ISA16) and the segment itself, or X12Error saying what is off."""
    isa = text[start : start + ISA_LENGTH]
    element = isa[3:4]
    if len(isa) < ISA_LENGTH or not element or element.isalnum() or element.isspace():
        raise X12Error(None, _isa_shape_reason(isa))
    parts = isa[: ISA_LENGTH - 1].split(element)
    widths_ok = len(parts) == 17 and all(len(p) == w for p, w in zip(parts[1:], _ISA_WIDTHS, strict=True))
    if not widths_ok:
        raise X12Error(None, _isa_shape_reason(isa))
    component, terminator, repetition = parts[16], isa[ISA_LENGTH - 1], parts[11]
    chosen = [element, component, terminator]
    if repetition != "U":  # 4010 put the standards id "U" here; 5010 puts the repetition separator
        chosen.append(repetition)
    if len(set(chosen)) != len(chosen) or any(c.isalnum() or c == " " for c in chosen):
        raise X12Error(
            None,
            f"the ISA declares delimiters that clash (element {element!r}, component {component!r}, "
            f"repetition {repetition!r}, segment terminator {terminator!r}): each must be a distinct "
            "character that is neither a letter, a digit nor a space",
        )
    delimiters = Delimiters(element, component, "" if repetition == "U" else repetition, terminator)
    return delimiters, Segment("ISA", parts, 1, isa[: ISA_LENGTH - 1])


def _isa_shape_reason(isa: str) -> str:
    return (
        "the ISA segment must be exactly 106 characters: 16 fixed-width elements separated by the character "
        "right after 'ISA', then the segment terminator; this one is not, so its delimiters cannot be "
        f"read (it begins {isa[:20]!r})"
    )


def cut_segments(text: str, start: int, delimiters: Delimiters, position: int) -> Iterator[tuple[Segment, int]]:
    """Segments from `start` on, numbered from `position`, each with the offset just past it.

    Blank pieces (a line break after a terminator, a trailing newline) are not segments. The
    last piece may lack its terminator: it is marked as cut off.
    """
    terminator, element, size = delimiters.segment, delimiters.element, len(text)
    while start < size:
        end = text.find(terminator, start)
        cut_off = end < 0
        end = size if cut_off else end
        raw = text[start:end].strip(" \t\r\n")
        start = end + len(terminator)
        if not raw:
            continue
        yield _segment(raw, element, terminator, position, cut_off), start
        position += 1


def _segment(raw: str, element: str, terminator: str, position: int, cut_off: bool) -> Segment:
    elements = raw.split(element)
    segment_id = elements[0]
    problem = None
    if not _SEGMENT_ID.fullmatch(segment_id):
        problem = (
            f"is not an X12 segment: it begins {raw[:12]!r}, not a segment id of 2-3 capital letters or digits "
            f"followed by the element separator {element!r}"
        )
    elif _LINE_BREAK.search(raw):
        problem = f"runs across a line break: segments must end with the terminator {terminator!r} the ISA declares"
    elif cut_off:
        problem = f"is cut off: the text ends before its terminator {terminator!r}"
    return Segment(segment_id, elements, position, raw, problem)


def amount_element(segment: Segment, n: int, name: str) -> Decimal:
    """Element n, required, as an exact decimal (X12 type R: optional minus, optional decimal point)."""
    amount = optional_amount(segment, n, name)
    if amount is None:
        raise X12Error(segment, f"{segment.id}{n:02d} ({name}) is required")
    return amount


def optional_amount(segment: Segment, n: int, name: str) -> Decimal | None:
    """Element n as an exact decimal, or None when it is empty."""
    text = segment.get(n)
    if not text:
        return None
    if not _DECIMAL.fullmatch(text):
        raise X12Error(segment, f"{segment.id}{n:02d} ({name}) {text[:20]!r} is not a decimal amount")
    return Decimal(text)


def date_element(segment: Segment, n: int, name: str) -> date:
    """Element n as a date (X12 type DT, CCYYMMDD)."""
    text = segment.get(n)
    if not _DATE.fullmatch(text):
        raise X12Error(segment, f"{segment.id}{n:02d} ({name}) {text[:20]!r} is not a date written CCYYMMDD")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise X12Error(segment, f"{segment.id}{n:02d} ({name}) {text!r} is not a calendar date") from None


def text_element(segment: Segment, n: int, name: str) -> str:
    """Element n, required to be present."""
    text = segment.get(n)
    if not text:
        raise X12Error(segment, f"{segment.id}{n:02d} ({name}) is required")
    return text
