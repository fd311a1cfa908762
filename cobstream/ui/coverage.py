"""The claim page's coverage section, from the claim's explanation (the engine's own view of the
claim's current version, `models.explain.claim.ClaimExplanation`): the secondary payer and where
that is known from (COVERAGE.md section 1), the tertiary payer, and the claim as submitted with
its lines beside the primary EOB's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cobstream.shared.explanation_text import LineBeside, coverage_words, lines_beside
from models.explain.claim import ClaimExplanation, SubmissionSummary

# Where the secondary payer is known from, as the claim page labels it ("no secondary" when the
# primary EOB or the submission says there is none).
SOURCE_LABELS = {
    "primary_eob": "crossover",
    "submission": "submission",
    "secondary_eob": "secondary EOB",
    "unknown": "unknown",
}


@dataclass(frozen=True)
class SubmissionView:
    event_id: str
    submitted_at: datetime
    frequency: str
    payers: tuple[tuple[str, str], ...]  # (role, payer id) in COB order
    lines: tuple[LineBeside, ...]
    primary_in: bool  # whether a primary EOB is current (else its column is empty)


@dataclass(frozen=True)
class CoverageView:
    """What the claim page shows of the claim's coverage."""

    secondary_payer: str  # its id, "none" or "unknown"
    source: str  # primary_eob, submission, secondary_eob or unknown
    source_label: str  # crossover, submission, secondary EOB, unknown
    source_words: str  # where it is known from, in words
    tertiary_payer: str | None
    submission: SubmissionView | None


def source_label(source: str, payer: str) -> str:
    """Where the secondary payer (as shown: an id, "none" or "unknown") is known from, in a word or two."""
    return "no secondary" if payer == "none" else SOURCE_LABELS.get(source, source)


def coverage_view(explanation: ClaimExplanation) -> CoverageView:
    payer, words = coverage_words(explanation)
    submission = explanation.submission
    return CoverageView(
        secondary_payer=payer,
        source=explanation.coverage_source,
        source_label=source_label(explanation.coverage_source, payer),
        source_words=words,
        tertiary_payer=explanation.tertiary_payer_id,
        submission=_submission(submission, explanation) if submission is not None else None,
    )


def _submission(submission: SubmissionSummary, explanation: ClaimExplanation) -> SubmissionView:
    return SubmissionView(
        event_id=submission.event_id,
        submitted_at=submission.submitted_at,
        frequency=submission.frequency,
        payers=tuple((c.role, c.payer_id) for c in submission.coverage),
        lines=tuple(lines_beside(submission, explanation)),
        primary_in=explanation.primary is not None,
    )
