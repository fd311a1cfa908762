"""Which claims have a timeout due, without visiting every claim on every tick.

Deadlines are `anchor + wait days of a payer's profile`, and profiles change while claims wait,
so timers are indexed per (kind, payer) and ordered by anchor: within one payer a later anchor
always means a later deadline, whatever the profile says when the index is asked. Entries are
hints: the claim's own state decides (`models.cob.claim.step` with a `ClockTick`), so an entry for a
timer that was disarmed since costs one look and nothing more.
"""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, timedelta

from models.cob.claim import ArmedTimer, TimerKind, wait_of
from models.cob.reference import Reference
from models.contract.events import PayerProfile

_NEVER = datetime.max.replace(tzinfo=UTC)


class TimeoutIndex:
    """The claims' armed timeouts by (kind, payer), each heap ordered by anchor."""

    def __init__(self) -> None:
        self._heaps: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
        # A tuple, not a set: most claims wait on one timer, and a worker indexes a million
        # claims (a frozenset costs four times the memory of a one-item tuple).
        self._armed: dict[str, tuple[ArmedTimer, ...]] = {}
        # Replay asks for due claims after every EOB. The earliest deadline in the index, as of
        # the last look at every heap, answers most of those asks at once; it holds while no
        # payer's profile has changed since (`_waits` keeps the profile each wait came from).
        self._waits: dict[tuple[str, str], tuple[PayerProfile | None, timedelta]] = {}
        self._profiles: dict[str, PayerProfile | None] = {}  # the profile behind each wait
        self._next: datetime | None = None  # None: unknown, look at every heap
        self._ref: Reference | None = None

    def __len__(self) -> int:
        return sum(len(heap) for heap in self._heaps.values())

    def arm(self, claim_id: str, timers: tuple[ArmedTimer, ...] | list[ArmedTimer]) -> None:
        """Record the timers a claim now waits on (after every change to the claim)."""
        before = self._armed.get(claim_id, ())
        now_armed = tuple(dict.fromkeys(timers))
        for timer in now_armed:
            if timer not in before:
                key = (timer.kind, timer.payer_id)
                heapq.heappush(self._heaps.setdefault(key, []), (timer.anchor, claim_id))
                known = self._waits.get(key)
                if self._next is not None:
                    self._next = min(self._next, timer.anchor + known[1]) if known is not None else None
        if now_armed:
            self._armed[claim_id] = now_armed
        else:
            self._armed.pop(claim_id, None)

    def forget(self, claim_id: str) -> None:
        self._armed.pop(claim_id, None)

    def pop_due(self, ref: Reference, clock: datetime) -> list[str]:
        """Claims with a timer due at `clock`, in (deadline, claim_id) order, each once."""
        if self._none_due(ref, clock):
            return []
        due: dict[str, datetime] = {}
        for (kind, payer_id), heap in self._heaps.items():
            wait = self._wait(ref, kind, payer_id)  # type: ignore[arg-type]
            latest_anchor = clock - wait
            while heap and heap[0][0] <= latest_anchor:
                anchor, claim_id = heapq.heappop(heap)
                timer = ArmedTimer(kind, anchor, payer_id)  # type: ignore[arg-type]
                armed = self._armed.get(claim_id, ())
                if timer in armed:
                    # The caller re-arms the claim after the tick; a timer still armed then is
                    # pushed again, so nothing is lost if the tick does not fire it.
                    self._armed[claim_id] = tuple(t for t in armed if t != timer)
                    deadline = anchor + wait  # timer.deadline(ref)
                    due[claim_id] = min(deadline, due.get(claim_id, deadline))
        self._ref = ref
        self._next = min(
            (heap[0][0] + self._waits[key][1] for key, heap in self._heaps.items() if heap), default=_NEVER
        )
        return sorted(due, key=lambda claim_id: (due[claim_id], claim_id))

    def _none_due(self, ref: Reference, clock: datetime) -> bool:
        """Whether the last look at every heap still proves that nothing is due at `clock`."""
        if self._next is None or ref is not self._ref or clock >= self._next:
            return False
        for payer_id, profile in self._profiles.items():  # noqa: SIM110 - asked after every EOB
            if ref.profile_of(payer_id) is not profile:
                return False
        return True

    def _wait(self, ref: Reference, kind: TimerKind, payer_id: str) -> timedelta:
        """`wait_of` the payer's terms, derived again only when its profile has changed."""
        key = (kind, payer_id)
        profile = ref.profile_of(payer_id)
        known = self._waits.get(key)
        if known is None or known[0] is not profile:
            known = self._waits[key] = (profile, wait_of(kind, ref.terms(payer_id)))
            self._profiles[payer_id] = profile
        return known[1]
