"""The claim's coverage: who its secondary payer is, and where that is known from (COVERAGE.md
section 1), and what its submission says against the EOBs (section 2).

The secondary payer is the first of: the current primary EOB's `secondary_payer_id` when the EOB
states it (a payer: the claim was crossed over; null: none); the current submission's secondary
(or none when it lists none); the payer of the current secondary EOB; else unknown. Payer ids are
compared through the reference's aliases (`Reference.same_payer`); ids are carried as received.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from models.cob.reference import Reference
from models.contract.events import ClaimSubmission, EobEvent

CoverageSource = Literal["primary_eob", "submission", "secondary_eob", "unknown"]


class Coverage(NamedTuple):
    """The claim's secondary payer (None: none, or unknown) and where it comes from."""

    payer: str | None
    source: CoverageSource

    @property
    def known(self) -> bool:
        return self.source != "unknown"


UNKNOWN = Coverage(None, "unknown")


def claim_coverage(
    primary: EobEvent | None, secondary: EobEvent | None, submission: ClaimSubmission | None
) -> Coverage:
    """The claim's secondary payer for one version (COVERAGE.md section 1)."""
    if primary is not None and primary.states_secondary:
        return Coverage(primary.secondary_payer_id, "primary_eob")
    if submission is not None:
        return Coverage(submission.payer("secondary"), "submission")
    if secondary is not None:
        return Coverage(secondary.payer_id, "secondary_eob")
    return UNKNOWN


def tertiary_payer(submission: ClaimSubmission | None) -> str | None:
    """The third payer the submission names: kept and shown, not reconciled."""
    return submission.payer("tertiary") if submission is not None else None


def disputes_submission(primary: EobEvent, submission: ClaimSubmission | None, ref: Reference) -> bool:
    """Whether the primary EOB contradicts the submission's COB order: it comes from another payer
    than the submission's primary, or names a secondary (or none) that the submission does not."""
    if submission is None:
        return False
    if not ref.same_payer(primary.payer_id, submission.payer("primary") or ""):
        return True
    if not primary.states_secondary:
        return False
    named, listed = primary.secondary_payer_id, submission.payer("secondary")
    if named is None or listed is None:
        return named != listed
    return not ref.same_payer(named, listed)


def lines_off_submission(primary: EobEvent, submission: ClaimSubmission | None) -> list[str]:
    """The primary EOB's lines that are not on the submission, or whose charge differs from the
    submitted line's (a submitted line the EOB does not carry is no mismatch)."""
    if submission is None:
        return []
    charges = {line.line_id: line.charge for line in submission.lines}
    return [line.line_id for line in primary.lines if charges.get(line.line_id) != line.charge]


def payer_named_twice(submission: ClaimSubmission, ref: Reference) -> str | None:
    """Why a submission is invalid under the reference data in force: two of its coverage entries
    resolve to one payer through the profiles' aliases. None when it is not."""
    seen: dict[str, str] = {}
    for entry in submission.coverage:
        payer = ref.resolve(entry.payer_id)
        if payer in seen:
            return (
                f"coverage: the {seen[payer]} and {entry.role} payers ({_quoted(submission, seen[payer])} and"
                f" {entry.payer_id!r}) are one payer ({payer!r}, through its profile's aliases)"
            )
        seen[payer] = entry.role
    return None


def _quoted(submission: ClaimSubmission, role: str) -> str:
    return repr(next(entry.payer_id for entry in submission.coverage if entry.role == role))
