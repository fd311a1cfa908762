"""Claim-level COB: the section 2-4 arithmetic over every line of a claim, and its totals."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from models.cob.arithmetic import (
    LineResult,
    PrimaryLine,
    compute_line,
    compute_line_without_secondary,
    ordered_reasons,
    secondary_allowable,
)
from models.cob.reference import PayerTerms, Reference
from models.contract.events import EobEvent, ServiceLine
from models.contract.types import ZERO


class ClaimComputation(NamedTuple):
    """Per-line results for one claim version, with claim totals (sums of rounded lines)."""

    terms: PayerTerms | None  # None: the claim has no secondary coverage
    lines: tuple[LineResult, ...]
    total_charge: Decimal
    primary_paid: Decimal
    expected_secondary_paid: Decimal
    secondary_paid: Decimal
    patient_responsibility: Decimal
    write_off: Decimal
    patient_reasons: tuple[str, ...]
    allowable_source: str

    @classmethod
    def of(cls, terms: PayerTerms | None, lines: tuple[LineResult, ...]) -> ClaimComputation:
        """The totals, all in one pass over the lines (each is read by some outcome)."""
        charge = primary_paid = expected = secondary_paid = patient = write_off = ZERO
        reasons: list[str] = []
        sources = set()
        for r in lines:
            charge += r.primary.charge
            primary_paid += r.primary.primary_paid
            expected += r.expected_paid
            secondary_paid += r.secondary_paid
            patient += r.patient
            write_off += r.write_off
            reasons += r.patient_reasons
            sources.add(r.allowable.source)
        # The least certain source of any line speaks for the claim.
        source = next((s for s in ("assumed_primary", "secondary_eob") if s in sources), "fee_schedule")
        totals = (charge, primary_paid, expected, secondary_paid, patient, write_off)
        return cls(terms, lines, *totals, ordered_reasons(reasons), source)


def _lines_by_id(eob: EobEvent | None) -> dict[str, ServiceLine]:
    # Line ids are unique within an EOB (validation); the first wins anyway, as EobEvent.line.
    return {line.line_id: line for line in reversed(eob.lines)} if eob is not None else {}


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
        return ClaimComputation.of(None, lines)
    terms = ref.terms(secondary_payer_id)
    paid_lines = _lines_by_id(secondary)
    own_lines = paid_lines if secondary is not None and ref.same_payer(secondary.payer_id, secondary_payer_id) else {}
    results = []
    for line in primary.lines:
        first = PrimaryLine.of(line)
        fee = ref.allowable(secondary_payer_id, line.procedure_code, line.modifiers)
        allowable = secondary_allowable(first, fee, own_lines.get(line.line_id))
        actual: Decimal | None = None
        if use_actual:
            paid_line = paid_lines.get(line.line_id)
            actual = paid_line.paid if paid_line is not None else ZERO
        results.append(compute_line(first, allowable, terms, actual))
    return ClaimComputation.of(terms, tuple(results))
