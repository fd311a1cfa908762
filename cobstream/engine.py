"""The in-process engine behind `cobstream replay`: the claim processor driven over messages in
arrival order.

It owns what only replay has: decoding each message (dead letters, reference changes, 835
remittances) and the clock, which runs on event time as CONTRACT.md's replay format says.
Claims, their timeouts and their retention are the claim processor's (`models.cob.processor`, the
one the worker drives too), here over a dict; payer profiles and the fee schedule are dicts
where the worker reads the reference topics.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from models.cob.claim import ClaimState, EobReceived
from models.cob.processor import ClaimProcessor, DictStore, Published
from models.cob.reference import Reference, ReferenceChange, apply_reference_change
from models.contract.events import FeeScheduleEntry, PayerProfile
from models.remittance.decode import REMITTANCE_X12, Rejected, dead_letter, decode
from models.remittance.intake import decode_remittance
from streams.settings import Settings

Emitted = Published  # one event to publish: its (unprefixed) topic, key and value
# The worker's default COBSTREAM_CLAIM_RETENTION_DAYS: replay forgets claims as the worker does.
DEFAULT_RETENTION = timedelta(days=Settings.claim_retention_days)


class Engine:
    """Replay's driver: decodes each message, runs the event-time clock, and hands claims to the
    claim processor."""

    def __init__(self, retention: timedelta = DEFAULT_RETENTION) -> None:
        self.store = DictStore()
        self.claims: dict[str, ClaimState] = self.store.claims
        self.profiles: dict[str, PayerProfile] = {}
        self.fee_schedule: dict[str, FeeScheduleEntry] = {}
        self.reference = Reference(self.profiles, self.fee_schedule)
        self.processor = ClaimProcessor(self.store, self.reference, retention)
        self.clock: datetime | None = None

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
        clock = max(self.clock, event.eob.adjudicated_at) if self.clock else event.eob.adjudicated_at
        applied = self.processor.on_eob(event, clock)
        if not applied.moves_clock:
            return []
        self.clock = clock
        return [*applied.published, *self.processor.fire_due(clock)]

    def advance(self, now: datetime) -> list[Emitted]:
        """Move the clock (never back) and fire the timers now due."""
        if self.clock is not None and now <= self.clock:
            return []
        self.clock = now
        return self.processor.fire_due(now)
