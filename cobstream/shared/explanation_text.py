"""A claim's explanation (`models.explain.claim.ClaimExplanation`) as plain text for a billing
clerk: the claim's standing, its EOBs and coverage (the secondary payer and where that is known
from, COVERAGE.md section 1; the tertiary payer; the claim as submitted, its lines beside the
primary EOB's), a section per service line, the claim's totals, then the discrepancies with
their actions and any notes. Shared by `cobstream explain` and the web UI (`coverage_words`
gives the UI the same words for the coverage)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

from models.explain.claim import ClaimExplanation, SubmissionSummary
from models.explain.formulas import rate
from models.explain.lines import LineExplanation


def render_text(explanation: ClaimExplanation) -> str:
    """The explanation for a billing clerk: the claim's standing, its EOBs and coverage, the claim
    as submitted, a section per service line, the claim's totals, then the discrepancies with
    their actions and any notes."""
    e = explanation
    out = [f"Claim {e.claim_id}: {e.status.replace('_', ' ')}", e.status_text, ""]
    out += _eobs(e)
    out += _coverage(e)
    if e.submission is not None:
        out += ["", *_submission(e.submission, e)]
    if e.secondary_claim is not None:
        out += ["", *_secondary_claim(e)]
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
    return out


# Where the claim's secondary payer (or its absence) is known from, COVERAGE.md section 1: with a
# payer, and when there is none.
COVERAGE_WORDS: dict[str, tuple[str, str]] = {
    "primary_eob": ("named by the primary's EOB: a crossover", "the primary's EOB says there is no secondary"),
    "submission": ("from the claim as submitted", "the claim as submitted lists no secondary"),
    "secondary_eob": ("from the secondary's EOB: it adjudicated the claim as secondary", ""),
}
UNKNOWN_WORDS = (
    "nothing says whether the patient has a secondary payer (no crossover on the primary's EOB, no claim "
    "submission, no secondary EOB)"
)


def coverage_words(e: ClaimExplanation) -> tuple[str, str]:
    """The claim's secondary payer as shown (its id, "none" or "unknown") and where that is known
    from, in words."""
    if e.coverage_source == "unknown":
        return "unknown", UNKNOWN_WORDS
    with_payer, without = COVERAGE_WORDS[e.coverage_source]
    return (e.secondary_payer_id, with_payer) if e.secondary_payer_id else ("none", without)


def _coverage(e: ClaimExplanation) -> list[str]:
    """The claim's secondary payer and where that is known from, its terms, the tertiary payer."""
    payer, source = coverage_words(e)
    out = [f"Secondary payer: {payer}: {source}" if payer == "unknown" else f"Secondary payer: {payer} ({source})"]
    terms = e.secondary_terms
    if terms is not None:
        network = "in network" if terms.in_network else "out of network"
        defaults = " (no profile: the defaults)" if not terms.from_profile else ""
        out += [
            f"  terms{defaults}: {terms.cob_method}, {terms.method_meaning}",
            f"  {network}; pays {_percent(terms.coinsurance_rate)} of its allowable after its deductible; copay "
            f"{terms.copay:.2f} a line; tolerance {terms.tolerance:.2f} a line",
        ]
    if e.tertiary_payer_id:
        out.append(f"Tertiary payer: {e.tertiary_payer_id} (from the claim as submitted; shown, not reconciled)")
    return out


class LineBeside(NamedTuple):
    """A line of the claim as submitted beside the primary EOB's line of the same id."""

    line_id: str
    procedure_code: str
    service_date: str
    submitted_charge: Decimal | None  # None: on the primary EOB only
    primary_charge: Decimal | None  # None: not on the primary EOB (or no primary EOB yet)
    flag: str  # "" when they agree (or no primary EOB is in to compare with)


def lines_beside(submission: SubmissionSummary, e: ClaimExplanation) -> list[LineBeside]:
    """The submitted lines beside the primary EOB's, then the EOB's lines that were not submitted;
    a charge that differs, or a line on one side only, is flagged."""
    in_eob = e.primary is not None
    out = []
    for line in submission.lines:
        flag = ""
        if in_eob and line.primary_charge is None:
            flag = "not on the primary's EOB"
        elif in_eob and line.primary_charge != line.charge:
            flag = "charge differs"
        out.append(
            LineBeside(line.line_id, line.procedure_code, line.service_date, line.charge, line.primary_charge, flag)
        )
    submitted = {line.line_id for line in submission.lines}
    out += [
        LineBeside(line.line_id, line.procedure_code, "", None, line.charge, "not submitted")
        for line in e.lines
        if line.line_id not in submitted
    ]
    return out


def _secondary_claim(e: ClaimExplanation) -> list[str]:
    """The secondary claim that stands: the primary's adjudication for the secondary (COVERAGE.md
    section 5), answered once the secondary's EOB is in."""
    sent = e.secondary_claim
    assert sent is not None
    answered = "answered by its EOB" if e.secondary is not None else "waiting for its EOB"
    out = [
        f"Secondary claim to {sent.secondary_payer_id} ({answered}; event {sent.event_id})",
        f"  with {sent.primary_payer_id}'s adjudication of {sent.adjudicated_at:%Y-%m-%d}"
        f" (EOB {sent.primary_event_id})",
        _row("primary paid", sent.primary_paid, "AMT*D in 2320"),
        _row("patient liability left", sent.remaining_patient_liability, "AMT*EAF in 2320"),
    ]
    for line in sent.lines:
        cas = ", ".join(f"{a.group}-{a.reason} {a.amount:.2f}" for a in line.adjustments) or "no adjustments"
        out.append(_row(f"line {line.line_id} paid", line.primary_paid, cas))
    return out


def _submission(submission: SubmissionSummary, e: ClaimExplanation) -> list[str]:
    """The claim as submitted: when, how, its payers in COB order, and its lines beside the primary
    EOB's."""
    payers = ", ".join(f"{c.payer_id} ({c.role})" for c in submission.coverage)
    out = [
        f"Submitted {submission.submitted_at:%Y-%m-%d %H:%M} UTC ({submission.frequency}, event {submission.event_id})",
        f"  payers in COB order: {payers}",
        f"    {'line':<8}{'procedure':<11}{'service date':<14}{'submitted':>10}{'primary EOB':>13}",
    ]
    for side in lines_beside(submission, e):
        charges = [f"{a:.2f}" if a is not None else "-" for a in (side.submitted_charge, side.primary_charge)]
        row = f"    {side.line_id:<8}{side.procedure_code:<11}{side.service_date:<14}{charges[0]:>10}{charges[1]:>13}"
        out.append(f"{row}  <- {side.flag}" if side.flag else row)
    if e.primary is None:
        out.append("  no primary EOB yet to compare with")
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
        *(_row("because" if i == 0 else "", "", f"{r.code}: {r.meaning}") for i, r in enumerate(line.patient_reasons)),
        _row("write-off", line.write_off, "coded for posting:" if line.write_off_reasons else ""),
        *(_row("", w.amount, _write_off_code(w)) for w in line.write_off_reasons),
    ]
    return out


def _write_off_code(entry: Any) -> str:
    """One coded write-off entry: its group and CARC when it has them, its reason in words."""
    code = f"{entry.group}-{entry.carc} " if entry.carc else (f"{entry.group} " if entry.group else "")
    return f"{code}{entry.reason}: {entry.meaning}"


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
