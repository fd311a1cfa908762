"""The in-process engine behind `cobstream replay`: the core driven over messages in arrival order.

It holds what the stream worker keeps in Kafka tables (claims, payer profiles, fee schedule) in
dicts, and runs the clock on event time as CONTRACT.md's replay format says. Every decision is
the core's (`models.decode.decode`, `models.claim.step`), exactly as in the agents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.claim import ClaimState, ClockTick, EobReceived, armed_timers, step
from models.decode import REMITTANCE_X12, Rejected, dead_letter, decode
from models.events import FeeScheduleEntry, PayerProfile
from models.outcomes import TOPIC_OF, DeadLetter, Outcome
from models.reference import Reference, ReferenceChange, apply_reference_change
from models.remittance.intake import decode_remittance
from models.timers import TimerIndex


@dataclass(frozen=True, slots=True)
class Emitted:
    """One event to publish: its (unprefixed) topic, key and value."""

    topic: str
    key: str | None
    value: Outcome | DeadLetter


class Engine:
    def __init__(self) -> None:
        self.claims: dict[str, ClaimState] = {}
        self.profiles: dict[str, PayerProfile] = {}
        self.fee_schedule: dict[str, FeeScheduleEntry] = {}
        self.reference = Reference(self.profiles, self.fee_schedule)
        self.clock: datetime | None = None
        self.timers = TimerIndex()

    def receive(
        self,
        topic: str | None,
        key: str | None,
        raw: bytes | str | None,
        *,
        partition: int | None = None,
        offset: int | None = None,
        rejected: Rejected | None = None,
    ) -> list[Emitted]:
        """Take one input message; return what it makes the system publish, in order."""
        if topic == REMITTANCE_X12 and rejected is None:
            return self._receive_remittance(key, raw, partition=partition, offset=offset)
        decoded = rejected or (decode(topic, key, raw) if topic is not None else Rejected("message has no topic"))
        if isinstance(decoded, Rejected):
            letter = dead_letter(
                decoded,
                source_topic=topic,
                partition=partition,
                offset=offset,
                key=key,
                raw=raw,
                received_at=self.clock,
            )
            return [Emitted("eob.dead-letter", key, letter)]
        if isinstance(decoded, ReferenceChange):
            apply_reference_change(decoded, self.profiles, self.fee_schedule)
            return []
        return self._receive_eob(decoded)

    def _receive_remittance(
        self, key: str | None, raw: bytes | str | None, *, partition: int | None, offset: int | None
    ) -> list[Emitted]:
        """Each claim payment of an 835 message as an EOB, each unusable part as a dead letter
        (provider-level adjustments are not claim events: `cobstream convert` reports them)."""
        emitted: list[Emitted] = []
        for item in decode_remittance(raw):
            if isinstance(item, EobReceived):
                emitted += self._receive_eob(item)
            elif isinstance(item, Rejected):
                emitted += self.receive(REMITTANCE_X12, key, raw, partition=partition, offset=offset, rejected=item)
        return emitted

    def _receive_eob(self, event: EobReceived) -> list[Emitted]:
        claim_id = event.eob.claim_id
        clock = max(self.clock, event.eob.adjudicated_at) if self.clock else event.eob.adjudicated_at
        transition = step(self.claims.get(claim_id), event, self.reference, clock)
        self._store(transition.state)
        if not transition.moves_clock:
            return []
        self.clock = clock
        return [*self._published(transition.outcomes), *self._fire_due()]

    def advance(self, now: datetime) -> list[Emitted]:
        """Move the clock (never back) and fire the timers now due."""
        if self.clock is not None and now <= self.clock:
            return []
        self.clock = now
        return self._fire_due()

    def _fire_due(self) -> list[Emitted]:
        assert self.clock is not None
        emitted: list[Emitted] = []
        for claim_id in self.timers.pop_due(self.reference, self.clock):
            transition = step(self.claims[claim_id], ClockTick(), self.reference, self.clock)
            self._store(transition.state)
            emitted += self._published(transition.outcomes)
        return emitted

    def _store(self, state: ClaimState) -> None:
        self.claims[state.claim_id] = state
        self.timers.arm(state.claim_id, armed_timers(state))

    @staticmethod
    def _published(outcomes: list[Outcome]) -> list[Emitted]:
        return [Emitted(TOPIC_OF[type(o)], o.claim_id, o) for o in outcomes]
