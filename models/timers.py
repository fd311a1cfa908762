"""Which claims have a timeout due, without visiting every claim on every tick.

Deadlines are `anchor + wait days of a payer's profile`, and profiles change while claims wait,
so timers are indexed per (kind, payer) and ordered by anchor: within one payer a later anchor
always means a later deadline, whatever the profile says when the index is asked. Entries are
hints: the claim's own state decides (`models.claim.step` with a `ClockTick`), so an entry for a
timer that was disarmed since costs one look and nothing more.
"""

from __future__ import annotations

import heapq
from datetime import datetime

from models.claim import ArmedTimer
from models.reference import Reference


class TimerIndex:
    def __init__(self) -> None:
        self._heaps: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
        # A tuple, not a set: most claims wait on one timer, and a worker indexes a million
        # claims (a frozenset costs four times the memory of a one-item tuple).
        self._armed: dict[str, tuple[ArmedTimer, ...]] = {}

    def __len__(self) -> int:
        return sum(len(heap) for heap in self._heaps.values())

    def arm(self, claim_id: str, timers: list[ArmedTimer]) -> None:
        """Record the timers a claim now waits on (after every change to the claim)."""
        before = self._armed.get(claim_id, ())
        now_armed = tuple(dict.fromkeys(timers))
        for timer in now_armed:
            if timer not in before:
                heapq.heappush(self._heaps.setdefault((timer.kind, timer.payer_id), []), (timer.anchor, claim_id))
        if now_armed:
            self._armed[claim_id] = now_armed
        else:
            self._armed.pop(claim_id, None)

    def forget(self, claim_id: str) -> None:
        self._armed.pop(claim_id, None)

    def pop_due(self, ref: Reference, clock: datetime) -> list[str]:
        """Claims with a timer due at `clock`, in (deadline, claim_id) order, each once."""
        due: dict[str, datetime] = {}
        for (kind, payer_id), heap in self._heaps.items():
            probe = ArmedTimer(kind, clock, payer_id)  # type: ignore[arg-type]
            latest_anchor = clock - (probe.deadline(ref) - clock)
            while heap and heap[0][0] <= latest_anchor:
                anchor, claim_id = heapq.heappop(heap)
                timer = ArmedTimer(kind, anchor, payer_id)  # type: ignore[arg-type]
                armed = self._armed.get(claim_id, ())
                if timer in armed:
                    # The caller re-arms the claim after the tick; a timer still armed then is
                    # pushed again, so nothing is lost if the tick does not fire it.
                    self._armed[claim_id] = tuple(t for t in armed if t != timer)
                    deadline = timer.deadline(ref)
                    due[claim_id] = min(deadline, due.get(claim_id, deadline))
        return sorted(due, key=lambda claim_id: (due[claim_id], claim_id))
