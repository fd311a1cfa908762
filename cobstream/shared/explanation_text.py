"""A claim's explanation (`models.explain.claim.ClaimExplanation`) as plain text for a billing
clerk: the claim's standing, a section per service line, the claim's totals, then the
discrepancies with their actions and any notes. Shared by `cobstream explain` and the web UI."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from models.explain.claim import ClaimExplanation
from models.explain.formulas import rate
from models.explain.lines import LineExplanation


def render_text(explanation: ClaimExplanation) -> str:
    """The explanation for a billing clerk: the claim's standing, a section per service line, the
    claim's totals, then the discrepancies with their actions and any notes."""
    e = explanation
    out = [f"Claim {e.claim_id}: {e.status.replace('_', ' ')}", e.status_text, ""]
    out += _eobs(e)
    for line in e.lines:
        out += ["", *_line(line)]
    if e.totals is not None:
        t = e.totals
        secondary = "none yet" if t.secondary_paid is None else f"{t.secondary_paid:.2f}"
        out += [
            "",
            "Claim totals",
            _row("charge", t.total_charge),
            _row("primary paid", t.primary_paid),
            _row("secondary paid", secondary, f"expected {t.expected_secondary_paid:.2f}"),
            _row("patient owes", t.patient_responsibility, _reason_codes(t.patient_reasons)),
            _row("write-off", t.write_off),
        ]
    out += ["", "Discrepancies" if e.discrepancies else "Discrepancies: none"]
    for d in e.discrepancies:
        out += [f"  {d.kind} ({'blocking' if d.blocking else 'not blocking'}){_amounts(d)}"]
        out += [f"    why: {d.why}", f"    action: {d.action}"]
    if e.notes:
        out += ["", "Notes", *(f"  - {note}" for note in e.notes)]
    return "\n".join(out) + "\n"


def _eobs(e: ClaimExplanation) -> list[str]:
    out = ["EOBs"]
    for role, eob in (("primary", e.primary), ("secondary", e.secondary)):
        if eob is None:
            out.append(f"  {role:<10} none")
            continue
        at = f"{eob.adjudicated_at:%Y-%m-%d %H:%M} UTC"
        out.append(f"  {role:<10} {eob.payer_id}, {eob.status} {at}, paid {eob.paid:.2f} (event {eob.event_id})")
    terms = e.secondary_terms
    if terms is None:
        out.append("  no secondary coverage" if e.primary is not None else "")
        return out
    network = "in network" if terms.in_network else "out of network"
    defaults = "" if terms.from_profile else " (no profile: the defaults)"
    out += [
        f"Secondary payer {terms.payer_id}{defaults}: {terms.cob_method}, {terms.method_meaning}",
        f"  {network}; pays {_percent(terms.coinsurance_rate)} of its allowable after its deductible; copay "
        f"{terms.copay:.2f} a line; tolerance {terms.tolerance:.2f} a line",
    ]
    return out


def _line(line: LineExplanation) -> list[str]:
    modifiers = f" ({', '.join(line.modifiers)})" if line.modifiers else ""
    patient_parts = ", ".join(
        f"{a.group}-{a.reason} {a.amount:.2f}" for a in line.primary_adjustments if a.group == "PR"
    )
    out = [
        f"Line {line.line_id}: {line.procedure_code}{modifiers}, charge C {line.charge:.2f}",
        "  Primary",
        _row("paid P1", line.primary_paid),
        _row("allowed A1", line.primary_allowed, line.primary_allowed_source),
        _row(
            "patient share PR1", line.primary_patient_responsibility, _floored(patient_parts, line.primary_patient_sum)
        ),
        _row("collectible after it K1", line.collectible_after_primary, "P1 + PR1"),
        *_adjustments(line.primary_adjustments),
    ]
    if line.secondary_allowable is not None:
        out += [
            "  Secondary",
            _row("allowable A2", line.secondary_allowable, line.allowable_source_text or ""),
            _row("deductible d2", line.secondary_deductible, _floored("", line.secondary_deductible_sum)),
            _row("coinsurance rate r2", _rate(line.secondary_coinsurance_rate), "the share of A2 it pays"),
            _row("copay k2", line.secondary_copay),
            *_adjustments(line.secondary_adjustments),
        ]
    out.append("  How the figures come about")
    for step in line.steps:
        lhs, _, numbers = step.with_numbers.partition(" = ")
        indent = " " * (6 + len(lhs))
        out += [f"    {step.name}", f"      {step.formula}", f"{indent} = {numbers}", f"{indent} = {step.result:.2f}"]
        out.append(f"      ({step.why})")
    actual = "none yet" if line.actual_secondary_paid is None else f"{line.actual_secondary_paid:.2f}"
    out += [
        "  Result",
        _row("secondary paid", actual, f"expected {line.expected_secondary_paid:.2f}"),
        _row("patient owes", line.patient_responsibility),
        _row("write-off", line.write_off),
        *(_row("because" if i == 0 else "", "", f"{r.code}: {r.meaning}") for i, r in enumerate(line.patient_reasons)),
    ]
    return out


def _floored(parts: str, total: Decimal | None) -> str:
    """The parts of PR1 or d2, and when they add up to less than 0, that the sum was floored."""
    floored = f"they add up to {total:.2f}: floored at 0.00" if total is not None and total < 0 else ""
    return "; ".join(p for p in (parts, floored) if p)


def _adjustments(adjustments: Any) -> list[str]:
    return [_row("adjustments" if i == 0 else "", "", _adjustment(a)) for i, a in enumerate(adjustments)]


def _row(label: str, value: Any, note: str = "") -> str:
    shown = f"{value:.2f}" if isinstance(value, Decimal) else str(value)
    return f"    {label:<26}{shown:>10}  {note}".rstrip()


def _adjustment(a: Any) -> str:
    return f"{a.group}-{a.reason} {a.amount:.2f} {a.meaning}"


def _reason_codes(reasons: Any) -> str:
    return ("why: " + ", ".join(r.code for r in reasons)) if reasons else ""


def _rate(value: Any) -> str:
    return rate(value) if value is not None else ""


def _percent(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


def _amounts(d: Any) -> str:
    parts = [
        f"{name} {value:.2f}"
        for name, value in (
            ("expected", d.expected_secondary_paid),
            ("actual", d.actual_secondary_paid),
            ("difference", d.difference),
        )
        if value is not None
    ]
    lines = f", lines {', '.join(d.line_ids)}" if d.line_ids else ""
    return (": " + ", ".join(parts) if parts else "") + lines
