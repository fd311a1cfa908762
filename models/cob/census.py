"""The claim census: how many claims stand where, in the billing team's buckets, kept as claims
change instead of counted by scanning the claims table (a worker may hold a million claims).

`status_of` puts one claim in exactly one bucket:

- `waiting_for_secondary`: the claim has a secondary payer (COVERAGE.md section 1) whose EOB has
  not come and whose `secondary_overdue` timeout has not fired yet;
- `waiting_for_primary`: a submission, or a secondary EOB on a claim that never had a primary,
  before its `primary_overdue` or `orphan_secondary` timeout;
- `waiting_for_coverage`: the primary EOB is in and nothing says whether the patient has a
  secondary payer (`coverage_unknown`): a person has to find out;
- `overdue`: one of those timeouts fired and the EOB it waited for has still not come;
- `settled`: a patient-billing-ready event stands;
- `on_hold`: anything else the billing team has to act on before the patient can be billed (a
  blocking discrepancy, a reversed EOB waiting for its correction, a COB-order denial).

Open claims are every bucket but `settled`. The worker's write path moves a claim between
buckets with every `Change` it persists (`ClaimCensus.account`), and its rebuild after an
assignment counts every claim again. Pure like the rest of models/: no Kafka, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal, get_args

from models.cob.claim import ClaimState, armed_timers
from models.cob.processor import Change
from models.cob.verdict import is_cob_order_denial

ClaimStatus = Literal[
    "waiting_for_secondary", "waiting_for_primary", "waiting_for_coverage", "overdue", "on_hold", "settled"
]
CLAIM_STATUSES: tuple[ClaimStatus, ...] = get_args(ClaimStatus)


def status_of(state: ClaimState) -> ClaimStatus:
    """The one bucket a claim is in now."""
    for timer in armed_timers(state):  # secondary_overdue excludes the others (it needs a primary)
        return "waiting_for_secondary" if timer.kind == "secondary_overdue" else "waiting_for_primary"
    primary, secondary, submission = state.primary, state.secondary, state.submission
    if primary is not None and secondary is None and state.overdue_fired_for == primary.event_id:
        return "overdue"
    if secondary is not None and not state.had_primary and state.orphan_fired_for == secondary.event_id:
        return "overdue"
    if primary is None and submission is not None and state.primary_overdue_fired_for == submission.event_id:
        return "overdue"
    if primary is not None and not state.version.coverage.known and not is_cob_order_denial(primary):
        return "waiting_for_coverage"
    return "settled" if state.standing_ready is not None else "on_hold"


class ClaimCensus:
    """Claims per status, moved one claim at a time."""

    def __init__(self) -> None:
        self.counts: dict[ClaimStatus, int] = dict.fromkeys(CLAIM_STATUSES, 0)
        # Whether a full recount stands behind the counts: until then they are only the changes
        # since the worker started, not the claims it holds.
        self.recounted = False

    classify = staticmethod(status_of)

    def count(self, state: ClaimState) -> None:
        """One more claim (a full recount, one claim at a time)."""
        self.counts[status_of(state)] += 1

    def account(self, change: Change) -> None:
        """Move the claim of a change between buckets (a claim whose state was not written
        stays where it was)."""
        if change.written:
            self.update(change.before, change.after)

    def update(self, before: ClaimState | None, after: ClaimState | None) -> None:
        """A claim changed from `before` to `after` (None: not in the store)."""
        if before is not None:
            self.counts[status_of(before)] -= 1
        if after is not None:
            self.counts[status_of(after)] += 1

    def replace(self, recount: ClaimCensus) -> None:
        """Take the counts of a full recount."""
        self.counts = dict(recount.counts)
        self.recounted = True

    def counting(self, states: Iterable[ClaimState]) -> Iterator[ClaimState]:
        """Every claim of a full scan, counted on the way: the census takes the recount once the
        scan has seen them all (a scan cut short changes nothing)."""
        recount = ClaimCensus()
        for state in states:
            recount.count(state)
            yield state
        self.replace(recount)

    @property
    def open(self) -> int:
        """Claims the billing team cannot consider done: every status but `settled`."""
        return sum(count for status, count in self.counts.items() if status != "settled")

    @property
    def total(self) -> int:
        return sum(self.counts.values())
