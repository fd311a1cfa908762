"""A claim's discrepancies explained: why each was raised, with its figures, and the action to
take (COB_RULES.md section 6).

The discrepancies are the engine's own: those `models.cob.verdict.evaluate_version` raises for the
claim's current version, and the timeouts (`secondary_overdue`, `orphan_secondary`) that fired
for its current EOBs, built with `models.cob.verdict.discrepancy`. Only the words are added here.
Pure like the rest of models/.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel

from models.cob.claim import ClaimState, wait_of
from models.cob.reference import PayerTerms, Reference
from models.cob.verdict import ACTIONS, COB_ORDER_CODES, Draft, is_cob_order_denial, orphan_secondary, overdue_secondary
from models.contract.events import EobEvent
from models.contract.outcomes import DiscrepancyKind, PaymentDiscrepancy
from models.contract.types import Money
from models.explain.formulas import EXPLANATION, money


@dataclass(frozen=True)
class _Claim:
    """The claim's current EOBs and its secondary payer's terms."""

    primary: EobEvent | None
    secondary: EobEvent | None
    payer: str | None  # the secondary payer the primary names
    terms: PayerTerms | None
    reference: Reference

    @classmethod
    def of(cls, state: ClaimState, reference: Reference) -> _Claim:
        payer = state.primary.secondary_payer_id if state.primary is not None else None
        terms = reference.terms(payer) if payer is not None else None
        return cls(state.primary, state.secondary, payer, terms, reference)


class DiscrepancyExplanation(BaseModel):
    """A discrepancy of the claim's current version, with why it was raised and what to do."""

    model_config = EXPLANATION

    kind: DiscrepancyKind
    blocking: bool
    expected_secondary_paid: Money | None
    actual_secondary_paid: Money | None
    difference: Money | None
    line_ids: tuple[str, ...]
    action: str
    why: str


def explain_discrepancies(
    state: ClaimState, reference: Reference, drafts: Iterable[Draft], estimate: Decimal | None
) -> tuple[DiscrepancyExplanation, ...]:
    """The discrepancies of the claim's current version (`drafts`: what `evaluate_version` made of
    it), then the timeouts that fired for its current EOBs; `estimate` is the expected secondary
    payment while no secondary EOB is in."""
    version = _Claim.of(state, reference)
    drafts = [d for d in drafts if d.model is PaymentDiscrepancy]
    primary, secondary = state.primary, state.secondary
    if primary is not None and secondary is None and version.payer and state.overdue_fired_for == primary.event_id:
        drafts.append(overdue_secondary(primary, estimate))
    if primary is None and secondary is not None and state.orphan_fired_for == secondary.event_id:
        drafts.append(orphan_secondary(secondary))
    return tuple(_explain_discrepancy(d, version) for d in drafts)


def _explain_discrepancy(draft: Draft, version: _Claim) -> DiscrepancyExplanation:
    fields = draft.fields
    return DiscrepancyExplanation(
        kind=fields["kind"],
        blocking=fields["blocking"],
        expected_secondary_paid=fields["expected_secondary_paid"],
        actual_secondary_paid=fields["actual_secondary_paid"],
        difference=fields["difference"],
        line_ids=fields["line_ids"],
        action=ACTIONS[fields["kind"]],
        why=_why(fields, version),
    )


def _why(fields: dict, version: _Claim) -> str:
    """Why a discrepancy was raised, with its figures (COB_RULES.md section 6)."""
    kind = fields["kind"]
    primary, secondary, terms = version.primary, version.secondary, version.terms
    expected, actual = fields["expected_secondary_paid"], fields["actual_secondary_paid"]
    lines = ", ".join(fields["line_ids"])
    if kind == "cob_order_dispute":
        return _cob_order_why(version, lines)
    if kind == "line_mismatch":
        return _line_mismatch_why(version)
    if kind in ("secondary_underpaid", "secondary_overpaid", "missing_primary_eob_denial"):
        assert terms is not None
        assert primary is not None
        band = terms.tolerance * len(primary.lines)
        more_or_less = "more" if kind == "secondary_overpaid" else "less"
        why = f"{terms.payer_id} paid {money(actual)}, {money(abs(actual - expected))} {more_or_less} than the "
        why += f"{money(expected)} expected, beyond the tolerance of {money(band)} ({money(terms.tolerance)} a line "
        why += f"x {len(primary.lines)} lines); lines off by more than {money(terms.tolerance)}: {lines or 'none'}"
        if kind == "missing_primary_eob_denial":
            why = f"{terms.payer_id} asked for the primary EOB (CARC 16 or RARC MA04); " + why
        return why
    if kind == "secondary_overdue":
        assert terms is not None
        assert primary is not None
        days = wait_of("secondary_overdue", terms).days
        return (
            f"no EOB from {terms.payer_id} {days} days after the primary's adjudication "
            f"({primary.adjudicated_at:%Y-%m-%d}); expected payment {money(expected)}"
        )
    if kind == "orphan_secondary":
        assert secondary is not None
        days = wait_of("orphan_secondary", version.reference.terms(secondary.payer_id)).days
        return (
            f"{secondary.payer_id}'s EOB of {secondary.adjudicated_at:%Y-%m-%d} has had no primary EOB for {days} days"
        )
    return ACTIONS[kind]


def _cob_order_why(version: _Claim, lines: str) -> str:
    primary, secondary, payer = version.primary, version.secondary, version.payer
    assert primary is not None
    if is_cob_order_denial(primary):
        return f"{primary.payer_id} denied the claim as not the primary payer (CARC 22 or 109) on lines {lines}"
    assert secondary is not None
    if payer is None:
        return f"the primary EOB names no secondary payer, but {secondary.payer_id} sent a secondary EOB"
    if secondary.payer_id != payer:
        return (
            f"the primary names {payer} as secondary, but the secondary EOB is from {secondary.payer_id}: it "
            f"counts only as the actual payment; the expected payment is on {payer}'s terms"
        )
    codes = sorted({a.reason for ln in secondary.lines for a in ln.adjustments if a.reason in COB_ORDER_CODES})
    return f"{payer}'s EOB carries CARC {', '.join(codes)} (another payer may be primary) on lines {lines}"


def _line_mismatch_why(version: _Claim) -> str:
    primary, secondary = version.primary, version.secondary
    assert primary is not None
    assert secondary is not None
    found = []
    for line in secondary.lines:
        mine = primary.line(line.line_id)
        if mine is None:
            found.append(f"secondary line {line.line_id} has no primary line")
        elif mine.charge != line.charge:
            found.append(
                f"secondary line {line.line_id} charges {money(line.charge)}, the primary line {money(mine.charge)}"
            )
    return "; ".join(found)
