"""Claim-level COB: the section 2-4 arithmetic over every line of a claim, and its totals."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from models.cob import (
    LineResult,
    PrimaryLine,
    compute_line,
    compute_line_without_secondary,
    ordered_reasons,
    secondary_allowable,
)
from models.events import EobEvent
from models.reference import PayerTerms, Reference
from models.types import ZERO


def _total(values: object) -> Decimal:
    return sum(values, ZERO)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ClaimComputation:
    """Per-line results for one claim version, with claim totals (sums of rounded lines)."""

    terms: PayerTerms | None  # None: the claim has no secondary coverage
    lines: tuple[LineResult, ...]

    @cached_property
    def total_charge(self) -> Decimal:
        return _total(r.primary.charge for r in self.lines)

    @cached_property
    def primary_paid(self) -> Decimal:
        return _total(r.primary.primary_paid for r in self.lines)

    @cached_property
    def expected_secondary_paid(self) -> Decimal:
        return _total(r.expected_paid for r in self.lines)

    @cached_property
    def secondary_paid(self) -> Decimal:
        return _total(r.secondary_paid for r in self.lines)

    @cached_property
    def patient_responsibility(self) -> Decimal:
        return _total(r.patient for r in self.lines)

    @cached_property
    def write_off(self) -> Decimal:
        return _total(r.write_off for r in self.lines)

    @cached_property
    def patient_reasons(self) -> tuple[str, ...]:
        return ordered_reasons(reason for r in self.lines for reason in r.patient_reasons)

    @cached_property
    def allowable_source(self) -> str:
        sources = {r.allowable.source for r in self.lines}
        for source in ("assumed_primary", "secondary_eob"):
            if source in sources:
                return source
        return "fee_schedule"


def compute_claim(
    primary: EobEvent,
    secondary_payer_id: str | None,
    ref: Reference,
    secondary: EobEvent | None = None,
    *,
    use_actual: bool = False,
) -> ClaimComputation:
    """Expected secondary payment per line and, with `use_actual`, the patient share and write-off
    for what the secondary EOB actually paid (0 on a primary line the secondary did not list).

    An EOB from a payer other than the claim's secondary payer says nothing about that payer's
    allowable, so it only counts as the actual payment, never as A2, d2 or a denial.
    """
    if secondary_payer_id is None:
        lines = tuple(compute_line_without_secondary(PrimaryLine.of(line)) for line in primary.lines)
        return ClaimComputation(None, lines)
    terms = ref.terms(secondary_payer_id)
    own = secondary if secondary is not None and secondary.payer_id == secondary_payer_id else None
    results = []
    for line in primary.lines:
        first = PrimaryLine.of(line)
        allowable = secondary_allowable(
            first,
            ref.allowable(secondary_payer_id, line.procedure_code, line.modifiers),
            own.line(line.line_id) if own is not None else None,
        )
        actual: Decimal | None = None
        if use_actual:
            paid_line = secondary.line(line.line_id) if secondary is not None else None
            actual = paid_line.paid if paid_line is not None else ZERO
        results.append(compute_line(first, allowable, terms, actual))
    return ClaimComputation(terms, tuple(results))
