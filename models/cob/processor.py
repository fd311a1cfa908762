"""The claim processor: a claim's state and one claim event in, what changed out.

`process(state, event, reference, now, retention)` is the one implementation of what an EOB or a
clock tick does to a claim, for every driver. It touches no store: it returns a `Change` (the
state before, the state after or that the claim is forgotten, the outcomes with their topic and
kind, whether event time moves, and the claim's deadlines), and the driver persists and publishes
it. Bytewax's `StatefulLogic` is the model: `on_item` returns what to emit and whether to discard
the state; `notify_at` says when to be called again.

Two drivers: `InMemoryClaims` here, over a dict (replay, the audit, tests), and the worker's
`streams.claim_writer.ClaimWriter`, over the claims table, which also keeps an outbox so that a
redelivered claim event publishes the same bytes. Both keep a `DeadlineIndex`: which claims fall
due when, so that a clock tick visits only those.

Pure like the rest of models/: no Kafka, no Faust, no clock reads. `now` is always given: event
time in replay, the claim event's time in the worker.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from models.cob.claim import (
    ArmedTimer,
    ClaimInput,
    ClaimState,
    ClockTick,
    EobReceived,
    SubmissionReceived,
    armed_timers,
    expires_at,
    step_or_forget,
)
from models.cob.reference import Reference
from models.cob.timers import TimeoutIndex
from models.contract.outcomes import (
    TOPIC_OF,
    DeadLetter,
    Outcome,
    PatientBillingReady,
    PaymentDiscrepancy,
    SecondaryClaim,
)

# How long a claim is kept after its last change once no timeout is pending (README; the
# worker's COBSTREAM_CLAIM_RETENTION_DAYS, replay and the audit alike).
DEFAULT_RETENTION = timedelta(days=180)
REBUILD_BATCH = 500  # claims indexed between two chances for a driver to let others run

ClaimEventKind = ClaimInput


@dataclass(frozen=True, slots=True)
class Published:
    """One event to publish: its (unprefixed) topic, key and value."""

    topic: str
    key: str | None
    value: Outcome | DeadLetter

    @property
    def kind(self) -> str:
        """What the outcome is, in the contract's words: a discrepancy's kind, a ready event's or a
        secondary claim's status, `expected_payment` for an estimate, `dead_letter` for a dead
        letter."""
        value = self.value
        if isinstance(value, PaymentDiscrepancy):
            return value.kind
        if isinstance(value, PatientBillingReady | SecondaryClaim):
            return value.status
        return "dead_letter" if isinstance(value, DeadLetter) else "expected_payment"


@dataclass(frozen=True, slots=True)
class Deadlines:
    """When a claim is next due: the timeouts it waits on (due `wait days` of a payer's profile
    after their anchor, so only the index can say when), and the end of its retention."""

    timeouts: tuple[ArmedTimer, ...]
    retention_ends: datetime | None

    @classmethod
    def of(cls, state: ClaimState, retention: timedelta) -> Deadlines:
        timeouts = tuple(armed_timers(state))
        return cls(timeouts, None if timeouts else expires_at(state, retention))  # no retention while one waits


@dataclass(frozen=True, slots=True)
class Change:
    """What one claim event did to one claim.

    `after` is None when the claim is forgotten (its retention passed with nothing left to
    publish), or when a tick found no claim. `deadlines` is None when they did not change (a
    duplicate EOB), else the claim's deadlines to index again (a tick that fired nothing gives
    its due timeouts back this way)."""

    claim_id: str
    before: ClaimState | None
    after: ClaimState | None
    published: list[Published]
    moves_clock: bool
    deadlines: Deadlines | None
    refused: str | None = None  # the event could not be applied: the driver dead-letters it, saying why

    @property
    def written(self) -> bool:
        """Whether the claim's stored state must be written (or deleted: `after` None)."""
        return self.after is not self.before


def process(
    state: ClaimState | None,
    claim_id: str,
    event: ClaimEventKind,
    reference: Reference,
    now: datetime,
    retention: timedelta,
) -> Change:
    """One claim event applied to its claim (None: a claim never seen, or forgotten)."""
    transition = step_or_forget(state, event, reference, now, retention)
    if transition is None:
        return Change(claim_id, state, None, [], False, None)
    if transition.refused is not None:
        return Change(claim_id, state, state, [], False, None, transition.refused)
    after = transition.state
    published = [Published(TOPIC_OF[type(o)], o.claim_id, o) for o in transition.outcomes]
    if after is state and not published and isinstance(event, EobReceived | SubmissionReceived):
        return Change(claim_id, state, state, [], transition.moves_clock, None)  # a duplicate: nothing
    return Change(claim_id, state, after, published, transition.moves_clock, Deadlines.of(after, retention))


class DeadlineIndex:
    """Which claims fall due when: their timeouts, by payer (`models.cob.timers.TimeoutIndex`),
    and the end of their retention. In memory, rebuilt from the claims when a driver needs to
    (the stored claims are the truth). Entries are hints: a claim's own state decides what a tick
    does, so a stale entry costs one look at the claim and nothing more."""

    def __init__(self) -> None:
        self.timeouts = TimeoutIndex()
        self.retention_ends: list[tuple[datetime, str]] = []

    def track(self, claim_id: str, deadlines: Deadlines) -> None:
        """Record a claim's deadlines as they are now (after every change to the claim)."""
        self.timeouts.arm(claim_id, deadlines.timeouts)
        if deadlines.retention_ends is not None:
            heapq.heappush(self.retention_ends, (deadlines.retention_ends, claim_id))

    def forget(self, claim_id: str) -> None:
        self.timeouts.forget(claim_id)

    def account(self, change: Change) -> None:
        """Index what a change did to its claim's deadlines."""
        if change.after is None:
            self.forget(change.claim_id)
        elif change.deadlines is not None:
            self.track(change.claim_id, change.deadlines)

    def pop_due(self, reference: Reference, now: datetime) -> list[str]:
        """Claims to tick at `now`, each once: timeouts in (deadline, claim_id) order, then the
        claims whose retention has ended. Each leaves the index until its tick tracks it again."""
        due = self.timeouts.pop_due(reference, now)
        ends = self.retention_ends
        while ends and ends[0][0] <= now:
            due.append(heapq.heappop(ends)[1])
        return list(dict.fromkeys(due))

    def fill(self, states: Iterable[ClaimState], retention: timedelta) -> Iterator[int]:
        """Track every claim of `states`, one at a time; yields the count every `REBUILD_BATCH`
        claims so that an async driver can let others run in between. A driver makes a new index
        current before filling it, so that a claim changed meanwhile is tracked too (twice, which
        costs one extra look)."""
        count = 0
        for count, state in enumerate(states, start=1):
            self.track(state.claim_id, Deadlines.of(state, retention))
            if count % REBUILD_BATCH == 0:
                yield count


class Census(Protocol):
    """What a driver needs of a census of claims by status (`models.cob.census.ClaimCensus`)."""

    def account(self, change: Change) -> None: ...

    def counting(self, states: Iterable[ClaimState]) -> Iterator[ClaimState]: ...


class InMemoryClaims:
    """`process` driven over a dict of claims, with its deadline index: replay, the audit, tests."""

    def __init__(
        self, reference: Reference, retention: timedelta = DEFAULT_RETENTION, census: Census | None = None
    ) -> None:
        self.claims: dict[str, ClaimState] = {}
        self.reference = reference
        self.retention = retention
        self.deadlines = DeadlineIndex()
        self.census = census

    def on_eob(self, event: EobReceived, now: datetime) -> Change:
        """One accepted EOB for its claim (a claim never seen starts here): what it publishes,
        and whether it counts for event time (a duplicate does not move even the replay clock)."""
        return self.commit(process(self.claims.get(event.eob.claim_id), event.eob.claim_id, event, *self._with(now)))

    def on_submission(self, event: SubmissionReceived, now: datetime) -> Change:
        """One accepted claim submission for its claim, as `on_eob`."""
        claim_id = event.submission.claim_id
        return self.commit(process(self.claims.get(claim_id), claim_id, event, *self._with(now)))

    def on_tick(self, claim_id: str, now: datetime) -> list[Published]:
        """Time has moved for one claim: fire its timeouts now due, or forget it when its
        retention has passed with nothing left to publish."""
        return self.commit(process(self.claims.get(claim_id), claim_id, ClockTick(), *self._with(now))).published

    def apply(self, claim_id: str, event: ClaimEventKind, now: datetime) -> list[Published]:
        """One event off a queue of claim events (the audit's replay of the claim-events topic)."""
        return self.commit(process(self.claims.get(claim_id), claim_id, event, *self._with(now))).published

    def commit(self, change: Change) -> Change:
        """Keep what changed: the claim in the dict, its deadlines in the index (and its status in
        the census, when one is kept)."""
        if self.census is not None:
            self.census.account(change)
        if change.written:
            if change.after is None:
                self.claims.pop(change.claim_id, None)
            else:
                self.claims[change.claim_id] = change.after
        self.deadlines.account(change)
        return change

    def put_aside(self, claim_id: str) -> None:
        """Drop a claim its driver will not see again (the audit, past the claim's last claim
        event): memory then follows the claims in flight, not every claim replayed."""
        self.claims.pop(claim_id, None)
        self.deadlines.forget(claim_id)

    def due(self, now: datetime) -> list[str]:
        """The claims to tick at `now`."""
        return self.deadlines.pop_due(self.reference, now)

    def fire_due(self, now: datetime) -> list[Published]:
        """Tick every claim due at `now`, in order, here and now (replay's clock)."""
        published: list[Published] = []
        for claim_id in self.due(now):
            published += self.on_tick(claim_id, now)
        return published

    def rebuild(self) -> Iterator[int]:
        """Index (and count, when a census is kept) every claim again, as a new owner would."""
        states: Iterable[ClaimState] = list(self.claims.values())
        if self.census is not None:
            states = self.census.counting(states)
        self.deadlines = DeadlineIndex()
        yield from self.deadlines.fill(states, self.retention)

    def _with(self, now: datetime) -> tuple[Reference, datetime, timedelta]:
        return self.reference, now, self.retention
