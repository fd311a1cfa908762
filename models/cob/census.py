"""The claim census: how many claims stand where, in the billing team's buckets, kept as claims
change instead of counted by scanning the claims table (a worker may hold a million claims).

`status_of` puts one claim in exactly one bucket:

- `waiting_for_secondary`: the primary EOB names a secondary payer whose EOB has not come and
  whose `secondary_overdue` timeout has not fired yet;
- `waiting_for_primary`: a secondary EOB on a claim that never had a primary, before its
  `orphan_secondary` timeout;
- `overdue`: one of those two timeouts fired and the EOB it waited for has still not come;
- `settled`: a patient-billing-ready event stands;
- `on_hold`: anything else the billing team has to act on before the patient can be billed (a
  blocking discrepancy, a reversed EOB waiting for its correction, a COB-order denial).

Open claims are every bucket but `settled`. `CensusStore` wraps any `ClaimStore` (the claims
table in the worker, a dict in tests) and moves a claim between buckets on every put and delete;
a full scan of the store (the processor's `reindex`) counts every claim again. Pure like the rest
of models/: no Kafka, no clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, get_args

from models.cob.claim import ClaimState, armed_timers
from models.cob.processor import ClaimStore, Published

ClaimStatus = Literal["waiting_for_secondary", "waiting_for_primary", "overdue", "on_hold", "settled"]
CLAIM_STATUSES: tuple[ClaimStatus, ...] = get_args(ClaimStatus)


def status_of(state: ClaimState) -> ClaimStatus:
    """The one bucket a claim is in now."""
    for timer in armed_timers(state):  # at most one: the two kinds exclude each other
        return "waiting_for_secondary" if timer.kind == "secondary_overdue" else "waiting_for_primary"
    primary, secondary = state.primary, state.secondary
    if primary is not None and secondary is None and state.overdue_fired_for == primary.event_id:
        return "overdue"
    if secondary is not None and not state.had_primary and state.orphan_fired_for == secondary.event_id:
        return "overdue"
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

    @property
    def open(self) -> int:
        """Claims the billing team cannot consider done: every status but `settled`."""
        return sum(count for status, count in self.counts.items() if status != "settled")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class CensusStore:
    """A `ClaimStore` that keeps `census` in step with the claims it holds.

    The claim processor always reads a claim just before it changes it, so the state read last
    is the claim's state before a put or a delete; only when it is some other claim is the store
    asked again."""

    def __init__(self, store: ClaimStore, census: ClaimCensus) -> None:
        self.store = store
        self.census = census
        self._read: tuple[str | None, ClaimState | None] = (None, None)

    def get(self, claim_id: str) -> ClaimState | None:
        state = self.store.get(claim_id)
        self._read = (claim_id, state)
        return state

    def put(self, state: ClaimState, published: Sequence[Published]) -> None:
        before = self._before(state.claim_id)
        self.store.put(state, published)
        self._read = (state.claim_id, state)
        self.census.update(before, state)

    def delete(self, claim_id: str) -> None:
        before = self._before(claim_id)
        self.store.delete(claim_id)
        self._read = (claim_id, None)
        self.census.update(before, None)

    def states(self) -> Iterator[ClaimState]:
        """Every claim, counted again on the way: the census takes the recount once the scan
        has seen them all (a scan cut short changes nothing)."""
        recount = ClaimCensus()
        for state in self.store.states():
            recount.count(state)
            yield state
        self.census.replace(recount)

    def _before(self, claim_id: str) -> ClaimState | None:
        read_id, state = self._read
        return state if read_id == claim_id else self.store.get(claim_id)
