"""The audit's report: the summary an operator reads, and the JSON (`--json`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from cobstream.audit.model import NOT_TAKEN_IN, AuditReport, Finding
from models.contract.types import format_timestamp


def report_json(report: AuditReport) -> dict[str, Any]:
    """The machine-readable report (`--json`)."""
    return {
        "exit_status": report.exit_status,
        "since": format_timestamp(report.since) if report.since else None,
        "until": format_timestamp(report.until) if report.until else None,
        "counts": {
            "inputs": report.inputs,
            "taken_in": report.taken_in,
            "dead_lettered": report.dead_lettered,
            "claims": report.claims,
            "expected": report.expected,
            "published": report.published,
            "repeats": report.repeats,
            "reordered": report.reordered,
            "problems": len(report.problems),
        },
        "dead_letters_by_reason": dict(report.dead_letters.most_common()),
        "findings": [{**asdict(f), "problem": f.is_problem} for f in report.findings],
    }


def summary(report: AuditReport, prefix: str = "") -> str:
    """The human report: counts, then one line per finding (ids and places only)."""
    span = "everything retained"
    if report.since or report.until:
        since = format_timestamp(report.since) if report.since else "the beginning"
        until = format_timestamp(report.until) if report.until else "now"
        span = f"EOBs received from {since} to {until}"
    not_taken = sum(1 for f in report.findings if f.kind == NOT_TAKEN_IN)
    reasons = ", ".join(f"{reason} {count}" for reason, count in report.dead_letters.most_common())
    lines = [
        f"cobstream audit of {prefix or '(no prefix)'}: {span}",
        f"inputs        {report.inputs} EOBs: {report.taken_in} taken in, {report.dead_lettered} dead-lettered, "
        f"{not_taken} not taken in",
        f"claims        {report.claims} audited, {report.expected} outcomes expected by the core",
        f"outcomes      {report.published} published, {report.repeats} harmless repeats",
        f"dead letters  {sum(report.dead_letters.values())}" + (f": {reasons}" if reasons else ""),
    ]
    if report.reordered:
        claims = f"{report.reordered} claim{'s' if report.reordered != 1 else ''}"
        lines.insert(3, f"order         {claims} applied in another order than record time, accepted")
    lines += [_finding_line(f) for f in report.findings]
    problems = len(report.problems)
    lines.append(
        f"{problems} problem{'s' if problems != 1 else ''}: exit status 1"
        if problems
        else "all accounted for: every EOB taken in, every outcome present, none unexpected or conflicting"
    )
    return "\n".join(lines) + "\n"


def _finding_line(finding: Finding) -> str:
    parts = [f"{finding.kind:<22}", f"claim {finding.claim_id or '-'}"]
    if finding.revision is not None:
        parts.append(f"rev {finding.revision}")
    if finding.event_ids:
        parts.append("event " + ", ".join(finding.event_ids))
    if finding.places:
        parts.append("at " + ", ".join(finding.places))
    if finding.note:
        parts.append(f"({finding.note})")
    return ("  " if finding.is_problem else "  note: ") + "  ".join(parts)
