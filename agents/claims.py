"""The claims agent: the worker's driver of the claim processor (`models.cob.processor`, the one
replay drives too). Each claim event goes to the processor over the claims table
(`streams.claim_store.TableStore`, which also keeps the outbox that makes a redelivery publish
exactly what it published the first time), and what it returns is published. The timer asks the
processor's deadlines which claims have a timeout (or their retention) due and sends each a tick
through the same topic, so every change to a claim happens here, in order, on the partition
that owns it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from faust.types import StreamT

from models.cob.census import CensusStore
from models.cob.processor import ClaimProcessor
from models.contract.topics import CLAIM_EVENTS, DEAD_LETTER
from models.remittance.decode import Rejected, dead_letter
from streams import kafka_internals, metrics
from streams.app import app, claims, reference, settings, topics
from streams.claim_store import Events, TableStore
from streams.codec import ClaimEvent, encode

log = logging.getLogger(__name__)
RETENTION = timedelta(days=settings.claim_retention_days)


def committed_offset(partition: int) -> int:
    """The claim-events offset this worker last committed for a partition (-1 if none): outbox
    entries below it will never be delivered again."""
    found = kafka_internals.committed_offset(app, topics.claim_events.get_topic_name(), partition)
    return found if found is not None else -1


store = TableStore(claims, committed_offset)
processor = ClaimProcessor(CensusStore(store, metrics.census), reference.reference, RETENTION)


async def publish(claim_id: str, events: Events, received_at: datetime) -> None:
    for topic, payload in events:
        await topics.outputs[topic].send(key=claim_id, value=payload.encode())
        metrics.count_outcome_published(topic, payload, received_at)


async def apply(event: ClaimEvent, partition: int, offset: int) -> None:
    """One claim event: the processor decides and stores, the outputs publish."""
    events = store.apply_once(processor, event, partition, offset)
    await publish(event.claim_id, events, event.at)
    if events:
        log.debug("claim %s: %s", event.claim_id, ", ".join(topic for topic, _ in events))


class Reindex:
    """Whether the processor's deadlines still cover this worker's partitions: after each
    assignment they are rebuilt from the claims table (the table is the truth; the deadlines
    only say which claims to look at)."""

    def __init__(self) -> None:
        self.stale = True
        self.running = False

    async def run(self) -> None:
        """Index every claim again, letting the agents run every few hundred claims."""
        self.stale, self.running = False, True
        try:
            for _ in processor.reindex():  # one claim in memory at a time
                await asyncio.sleep(0)
        except Exception:
            self.stale = True
            raise
        finally:
            self.running = False


reindex = Reindex()


@app.agent(topics.claim_events)
async def reconcile(stream: StreamT) -> None:
    await reference.caught_up.wait()
    async for event in stream.events():
        message, claim_event = event.message, event.value
        try:
            await apply(claim_event, message.partition, message.offset)
        except Exception as exc:  # one bad claim must not stop the others
            # Ids only: the exception's text may quote amounts.
            log.error(
                "claim %s: %s while reconciling claim-events[%s]@%s; claim left unchanged",
                claim_event.claim_id,
                type(exc).__name__,
                message.partition,
                message.offset,
            )
            log.debug("reconcile failure", exc_info=True)
            letter = dead_letter(
                Rejected(
                    f"internal error while reconciling ({type(exc).__name__}); the claim was left unchanged",
                    claim_event.claim_id,
                ),
                source_topic=CLAIM_EVENTS,
                partition=message.partition,
                offset=message.offset,
                key=claim_event.claim_id,
                raw=message.value,
                received_at=claim_event.at,
            )
            await topics.outputs[DEAD_LETTER].send(key=claim_event.claim_id, value=encode(letter))
            metrics.count_dead_letter(CLAIM_EVENTS, letter.error)


def settled() -> bool:
    """Not rebalancing, the table recovered and the reference data read: claims can be looked at."""
    return not app.rebalancing and app.tables.recovery.completed.is_set() and reference.caught_up.is_set()


@app.task
async def rebuild_schedule_after_assignment() -> None:
    """Rebuild the deadlines as soon as an assignment has recovered, while the table holds only
    what was recovered (each rebuilt claim is decoded: rebuilt at the timer's first tick instead,
    the rebuild once stalled a loaded worker for 5 s, docs/PERFORMANCE.md)."""
    while True:
        await asyncio.sleep(0.5)
        if reindex.stale and not reindex.running and settled():
            try:
                await reindex.run()
            except Exception as exc:  # e.g. partitions taken away mid-scan: tried again
                log.warning("schedule rebuild interrupted (%s); retrying", type(exc).__name__)
                continue
            log.info("schedule rebuilt for %d claims", len(claims))


@app.timer(interval=settings.timer_interval)
async def fire_due_timers() -> None:
    if not settled() or reindex.stale or reindex.running:
        return  # the deadlines are being rebuilt: the next tick fires what is due
    now = datetime.now(UTC)
    for claim_id in processor.due(now):
        await topics.claim_events.send(key=claim_id, value=ClaimEvent(kind="tick", claim_id=claim_id, at=now))


@app.on_partitions_assigned.connect
async def _assignment_changed(*_: object, **__: object) -> None:
    reindex.stale = True
    claims.forget_cached()


@app.task
async def read_reference_data() -> None:
    await reference.run()
