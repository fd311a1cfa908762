"""The in-process engine behind `cobstream replay`: the claim processor driven over messages in
arrival order.

It owns what only replay has: decoding each message (dead letters, reference changes, 835
remittances) and the clock, which runs on event time as CONTRACT.md's replay format says.
Claims, their timeouts and their retention are the claim processor's (`models.cob.processor`, the
one the worker drives too), here over a dict; payer profiles and the fee schedule are dicts
where the worker reads the reference topics.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from datetime import datetime, timedelta

from models.cob.claim import ClaimState, EobReceived, SubmissionReceived
from models.cob.processor import DEFAULT_RETENTION, Change, InMemoryClaims, Published
from models.cob.reference import Reference, ReferenceChange
from models.contract.events import FeeScheduleEntry
from models.contract.topics import DEAD_LETTER
from models.remittance.decode import Rejected, dead_letter
from models.remittance.intake import ROLE_REFUSAL, decode_message, refuse_invalid_coverage


class Engine:
    """Replay's driver: decodes each message, runs the event-time clock, and hands claims to the
    claim processor."""

    def __init__(self, retention: timedelta = DEFAULT_RETENTION) -> None:
        self.reference = Reference()
        self.processor = InMemoryClaims(self.reference, retention)
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
        received_at: datetime | None = None,
    ) -> list[Published]:
        """Take one input message; return what it makes the system publish, in order. `rejected`
        is replay's own reason when the line itself is unusable. An 835's provider-level
        adjustments are not claim events (`cobstream convert` reports them). `received_at`: the
        record's time on Kafka, to run the clock as a worker does (on the records' times, not on
        event time: the work queue's replay of stored records)."""
        emitted: list[Published] = []

        def letter(rejected: Rejected) -> Published:
            value = dead_letter(
                rejected,
                source_topic=topic,
                partition=partition,
                offset=offset,
                key=key,
                raw=raw,
                received_at=self.clock,
            )
            return Published(DEAD_LETTER, key, value)

        for item in [rejected] if rejected else decode_message(topic, key, raw):
            decoded = refuse_invalid_coverage(item, self.reference)
            if isinstance(decoded, Rejected):
                emitted.append(letter(decoded))
            elif isinstance(decoded, ReferenceChange):
                self.reference.apply(decoded)
            elif isinstance(decoded, EobReceived | SubmissionReceived):
                emitted += self._receive_claim_event(decoded, letter, received_at)
        return emitted

    def _receive_claim_event(
        self,
        event: EobReceived | SubmissionReceived,
        letter: Callable[[Rejected], Published],
        received_at: datetime | None,
    ) -> list[Published]:
        """An accepted EOB or submission: the clock moves with its `adjudicated_at` or
        `submitted_at` (COVERAGE.md section 2), unless it changes nothing (a duplicate). An EOB
        whose role only the claim's coverage could tell, and does not, is dead-lettered."""
        at = received_at or (
            event.eob.adjudicated_at if isinstance(event, EobReceived) else event.submission.submitted_at
        )
        clock = max(self.clock, at) if self.clock else at
        applied: Change = (
            self.processor.on_eob(event, clock)
            if isinstance(event, EobReceived)
            else self.processor.on_submission(event, clock)
        )
        if applied.refused is not None:
            return [letter(Rejected(applied.refused, applied.claim_id, reason=ROLE_REFUSAL))]
        if not applied.moves_clock:
            return []
        self.clock = clock
        return [*applied.published, *self.processor.fire_due(clock)]

    @property
    def claims(self) -> dict[str, ClaimState]:
        return self.processor.claims

    @property
    def fee_schedule(self) -> MutableMapping[str, FeeScheduleEntry]:
        return self.reference.fee_schedule

    def advance(self, now: datetime) -> list[Published]:
        """Move the clock (never back) and fire the timers now due."""
        if self.clock is not None and now <= self.clock:
            return []
        self.clock = now
        return self.processor.fire_due(now)
