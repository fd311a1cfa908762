"""The claim processor: one claim event in, the events to publish out, for every driver.

It owns what replay (`cobstream.engine`) and the worker (`agents/claims.py`) used to do each in
its own way: routing an EOB or a clock tick to its claim, storing the claim through a
`ClaimStore` (a dict in replay, the claims table in the worker), the deadlines that say which
claims to look at (timeouts by payer, `models.cob.timers`, and the end of each claim's retention),
forgetting a claim once its retention has passed (`models.cob.claim.step_or_forget`), and the topic
each outcome is published on. Bytewax's StatefulLogic and Quix Streams' state stores are the
models: the logic is written once, against a store interface with several backends.

Pure like the rest of models/: no Kafka, no Faust, no clock reads. `now` is always given: event
time in replay, the claim event's time in the worker.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from models.cob.claim import (
    ClaimState,
    ClockTick,
    EobReceived,
    Transition,
    armed_timers,
    expires_at,
    step,
    step_or_forget,
)
from models.cob.reference import Reference
from models.cob.timers import TimerIndex
from models.contract.outcomes import TOPIC_OF, DeadLetter, Outcome

# How long a claim is kept after its last change once no timeout is pending (README; the
# worker's COBSTREAM_CLAIM_RETENTION_DAYS, replay and the audit alike).
DEFAULT_RETENTION = timedelta(days=180)
REINDEX_BATCH = 500  # claims indexed between two chances for a driver to let others run


@dataclass(frozen=True, slots=True)
class Published:
    """One event to publish: its (unprefixed) topic, key and value."""

    topic: str
    key: str | None
    value: Outcome | DeadLetter


@dataclass(frozen=True, slots=True)
class Applied:
    """What one EOB did: the events to publish, in order, and whether it counts for event time
    (a duplicate changes nothing, not even the replay clock)."""

    published: list[Published]
    moves_clock: bool


class ClaimStore(Protocol):
    """Where claims are kept between their events: a dict in replay, the claims table in the
    worker. `put` also receives what the change published, for a store that must be able to
    publish it again (the worker's outbox)."""

    def get(self, claim_id: str) -> ClaimState | None: ...

    def put(self, state: ClaimState, published: Sequence[Published]) -> None: ...

    def delete(self, claim_id: str) -> None: ...

    def states(self) -> Iterable[ClaimState]: ...


class DictStore:
    """Claims in a dict, for replay and tests."""

    def __init__(self) -> None:
        self.claims: dict[str, ClaimState] = {}

    def get(self, claim_id: str) -> ClaimState | None:
        return self.claims.get(claim_id)

    def put(self, state: ClaimState, published: Sequence[Published] = ()) -> None:
        self.claims[state.claim_id] = state

    def delete(self, claim_id: str) -> None:
        self.claims.pop(claim_id, None)

    def states(self) -> Iterator[ClaimState]:
        return iter(list(self.claims.values()))


class Deadlines:
    """Which claims fall due when: their timeouts, by payer (`models.cob.timers.TimerIndex`), and the
    end of their retention. In memory, rebuilt from the store when a driver needs to (the store
    is the truth). Entries are hints: a claim's own state decides what a tick does, so a stale
    entry costs one look at the claim and nothing more."""

    def __init__(self, retention: timedelta) -> None:
        self.retention = retention
        self.timeouts = TimerIndex()
        self.retention_ends: list[tuple[datetime, str]] = []

    def track(self, state: ClaimState) -> None:
        """Record the claim's deadlines as they are now (after every change to the claim)."""
        timers = armed_timers(state)
        self.timeouts.arm(state.claim_id, timers)
        until = None if timers else expires_at(state, self.retention)  # no retention while one waits
        if until is not None:
            heapq.heappush(self.retention_ends, (until, state.claim_id))

    def forget(self, claim_id: str) -> None:
        self.timeouts.forget(claim_id)

    def pop_due(self, reference: Reference, now: datetime) -> list[str]:
        """Claims to tick at `now`, each once: timeouts in (deadline, claim_id) order, then the
        claims whose retention has ended."""
        due = self.timeouts.pop_due(reference, now)
        ends = self.retention_ends
        while ends and ends[0][0] <= now:
            due.append(heapq.heappop(ends)[1])
        return list(dict.fromkeys(due))


class ClaimProcessor:
    """Applies EOBs and clock ticks to the claims of one store and keeps their deadlines."""

    def __init__(self, store: ClaimStore, reference: Reference, retention: timedelta) -> None:
        self.store = store
        self.reference = reference
        self.retention = retention
        self.deadlines = Deadlines(retention)

    def on_eob(self, event: EobReceived, now: datetime) -> Applied:
        """One accepted EOB for its claim (a claim never seen starts here)."""
        before = self.store.get(event.eob.claim_id)
        transition = step(before, event, self.reference, now)
        return Applied(self._keep(before, transition), transition.moves_clock)

    def on_tick(self, claim_id: str, now: datetime) -> list[Published]:
        """Time has moved for one claim: fire its timeouts now due, or forget it when its
        retention has passed with nothing left to publish."""
        before = self.store.get(claim_id)
        transition = step_or_forget(before, ClockTick(), self.reference, now, self.retention)
        if transition is None:
            if before is not None:
                self.store.delete(claim_id)
                self.deadlines.forget(claim_id)
            return []
        if transition.state is before:
            # The index gave this claim's due timeouts up when it named the claim: a tick that
            # fired nothing (the payer's wait grew meanwhile) arms them again.
            self.deadlines.track(before)
            return []
        return self._keep(before, transition)

    def apply(self, claim_id: str, event: EobReceived | ClockTick, now: datetime) -> list[Published]:
        """One event off a queue of claim events (the worker's claim-events topic, the audit)."""
        if isinstance(event, ClockTick):
            return self.on_tick(claim_id, now)
        return self.on_eob(event, now).published

    def due(self, now: datetime) -> list[str]:
        """The claims to tick at `now` (each leaves the index until its tick tracks it again)."""
        return self.deadlines.pop_due(self.reference, now)

    def fire_due(self, now: datetime) -> list[Published]:
        """Tick every claim due at `now`, in order, here and now (replay's clock)."""
        published: list[Published] = []
        for claim_id in self.due(now):
            published += self.on_tick(claim_id, now)
        return published

    def reindex(self) -> Iterator[int]:
        """Rebuild the deadlines from the store, one claim at a time; yields the count every
        `REINDEX_BATCH` claims so that an async driver can let others run in between (a claim
        changed meanwhile is tracked twice, which costs one extra look)."""
        self.deadlines = Deadlines(self.retention)
        count = 0
        for count, state in enumerate(self.store.states(), start=1):
            self.deadlines.track(state)
            if count % REINDEX_BATCH == 0:
                yield count

    def _keep(self, before: ClaimState | None, transition: Transition) -> list[Published]:
        """Store what changed with what it publishes, and track the claim's new deadlines."""
        published = [Published(TOPIC_OF[type(o)], o.claim_id, o) for o in transition.outcomes]
        if transition.state is not before or published:
            self.store.put(transition.state, published)
            self.deadlines.track(transition.state)
        return published
