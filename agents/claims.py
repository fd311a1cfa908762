"""The claims agent: every change to a claim happens here, in order, on the partition that owns
it. It reads the claim-events topic and, on the `direct` input path, the EOB and submission
topics themselves: a record there on its claim's partition is taken in (`agents.intake.take_in`)
and applied where it lands, with no hop; one elsewhere (keyed by something other than the claim
id, or by another partitioner) is sent on through claim-events. Each claim event goes through
the worker's one write path (`streams.claim_writer`, which runs the claim processor replay runs
too) at the place it was read from, and what it returns is published. The timer asks the
deadline index which claims have a timeout or the end of their retention due and sends each a
tick through the same topic. After each assignment the deadline index (and the census) are
rebuilt from the recovered claims table: Faust calls the table's `on_recover` callback, and the
timer sends nothing until the rebuild is done.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from faust.types import EventT, StreamT
from faust.types.tuples import Message

from agents.intake import send_on, take_in
from models.contract.outcomes import event_json
from models.contract.topics import CLAIM_EVENTS, DEAD_LETTER, REMITTANCE_X12
from models.remittance.decode import Rejected, dead_letter
from models.remittance.intake import ROLE_REFUSAL
from streams import metrics
from streams.app import RAW, Worker
from streams.codec import (
    ClaimEvent,
    Place,
    Sent,
    claim_event_codec,
    claim_partition,
    kafka_key_text,
    record_time,
)

log = logging.getLogger(__name__)


def register(worker: Worker) -> None:
    """The claims agent, the deadline index's rebuild and the timer, on the worker's app."""
    app, rebuild, names = worker.app, DeadlineRebuild(worker), worker.settings.names
    read = {names.full(name): name for name in (CLAIM_EVENTS, *worker.settings.direct_topics)}
    channel = app.topic(*read, key_serializer=RAW, value_serializer=RAW)

    @app.agent(channel, name="agents.claims.reconcile")
    async def reconcile(stream: StreamT) -> None:
        await worker.reference.caught_up.wait()
        async for event in stream.events():
            message = event.message
            place = Place(read[message.topic], message.partition, message.offset)
            try:
                await _take(worker, place, message)
            except Exception as exc:
                await _not_reconciled(worker, place, event, exc)

    @app.task
    async def rebuild_deadlines_after_recovery() -> None:
        await rebuild.run_forever()

    @app.timer(interval=worker.settings.timer_interval, name="agents.claims.send_due_ticks")
    async def send_due_ticks() -> None:
        if not worker.serving() or rebuild.pending:
            return  # the deadline index is being rebuilt: the next tick sends what is due
        now = datetime.now(UTC)
        for claim_id in worker.writer.due(now):
            await worker.topics.claim_events.send(
                key=claim_id, value=ClaimEvent(kind="tick", claim_id=claim_id, at=now)
            )

    @app.on_partitions_assigned.connect
    async def _assignment_changed(*_: object, **__: object) -> None:
        rebuild.assigned()
        worker.claims.forget_cached()

    worker.claims.table.on_recover(rebuild.recovered)

    @app.task
    async def read_reference_data() -> None:
        await worker.reference.run()


class ClaimFailed(Exception):
    """Applying a claim event failed (the cause is chained); the claim was left unchanged."""

    def __init__(self, claim_id: str) -> None:
        super().__init__(claim_id)
        self.claim_id = claim_id


async def _take(worker: Worker, place: Place, message: Message) -> None:
    """One record of the claims agent's topics: a claim event, or an input record to take in."""
    if place.topic == CLAIM_EVENTS:
        await _apply(worker, claim_event_codec.loads(message.value), place)
        return
    for claim_event in await take_in(worker, place.topic, message):
        if claim_partition(claim_event.claim_id, worker.settings.partitions) == place.partition:
            await _apply(worker, claim_event, place)
        else:  # its claim is on another partition: the changelog write must go there
            await send_on(worker, claim_event, place.topic)


async def _apply(worker: Worker, claim_event: ClaimEvent, place: Place) -> None:
    """One claim event, written once, its outcomes published."""
    try:
        sent = worker.writer.write(claim_event, place)
    except Exception as exc:
        raise ClaimFailed(claim_event.claim_id) from exc
    await publish(worker, claim_event.claim_id, sent, claim_event.at)


async def _not_reconciled(worker: Worker, place: Place, event: EventT, exc: Exception) -> None:
    """A record the claims agent could not handle, dead-lettered; one bad claim never stops the others."""
    message = event.message
    claim_id = exc.claim_id if isinstance(exc, ClaimFailed) else None
    cause = exc.__cause__ if isinstance(exc, ClaimFailed) and exc.__cause__ is not None else exc
    # Ids only: the exception's text may quote amounts.
    log.error("claim %s: %s while reconciling %s; claim left unchanged", claim_id, type(cause).__name__, place)
    log.debug("reconcile failure", exc_info=cause)
    rejected = Rejected(
        f"internal error while reconciling ({type(cause).__name__}); the claim was left unchanged",
        claim_id,
        reason="internal_error",
    )
    letter = dead_letter(
        rejected,
        source_topic=place.topic,
        partition=place.partition,
        offset=place.offset,
        key=kafka_key_text(message.key),
        raw=message.value,
        received_at=record_time(message.timestamp),
    )
    await worker.topics.outputs[DEAD_LETTER].send(key=message.key, value=event_json(letter))
    metrics.count_dead_letter(place.topic, rejected.reason)


async def publish(worker: Worker, claim_id: str, sent: tuple[Sent, ...], received_at: datetime) -> None:
    for outcome in sent:
        await worker.topics.outputs[outcome.topic].send(key=claim_id, value=outcome.json.encode())
        if outcome.topic == DEAD_LETTER:  # an EOB the processor refused (its role nothing tells)
            metrics.count_dead_letter(REMITTANCE_X12, ROLE_REFUSAL)
        else:
            metrics.count_outcome_published(outcome.topic, outcome.kind, received_at)
    if sent:
        log.debug("claim %s: %s", claim_id, ", ".join(outcome.topic for outcome in sent))


class DeadlineRebuild:
    """Whether the deadline index still covers this worker's partitions: after each assignment it
    is rebuilt from the claims table once the table has recovered (the table is the truth; the
    index only says which claims to look at). Rebuilt right after recovery, while the table holds
    only what was recovered: at the timer's first tick instead, a loaded worker once stalled for
    5 s decoding the claims written meanwhile (docs/PERFORMANCE.md)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.assignments = 0  # counts assignments: a rebuild covers the one it started under
        self._rebuilt_for = -1
        self._recovered = asyncio.Event()

    @property
    def pending(self) -> bool:
        """Whether the index may miss claims of the current assignment."""
        return self._rebuilt_for != self.assignments

    def assigned(self) -> None:
        self.assignments += 1

    async def recovered(self) -> None:
        """Faust's `on_recover` callback: the claims table has recovered an assignment."""
        self._recovered.set()

    async def run_forever(self) -> None:
        while True:
            await self._recovered.wait()
            self._recovered.clear()
            assignment = self.assignments
            try:
                for _ in self.worker.writer.rebuild():  # one claim in memory at a time
                    await asyncio.sleep(0)
            except Exception as exc:  # e.g. partitions taken away mid-scan: tried again
                log.warning("deadline index rebuild interrupted (%s); retrying", type(exc).__name__)
                await asyncio.sleep(0.5)
                self._recovered.set()
                continue
            self._rebuilt_for = assignment
            metrics.deadline_index_rebuilt()
            log.info("deadline index rebuilt for %d claims", len(self.worker.claims))
