"""The claims agent: applies each claim event to the claims table with the core's `step` and
publishes what it returns. The timer finds claims with a timeout (or their retention) due and
sends them a tick through the same topic, so every change to a claim happens here, in order,
on the partition that owns it.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from faust.types import StreamT

from models.claim import ClaimState, armed_timers, expires_at, step_or_forget
from models.decode import Rejected, dead_letter
from models.outcomes import TOPIC_OF
from models.timers import TimerIndex
from streams import kafka_internals
from streams.app import app, claims, reference, settings, topics
from streams.codec import ClaimEvent, ClaimRecord, OutboxEntry, encode
from streams.topics import CLAIM_EVENTS, DEAD_LETTER

log = logging.getLogger(__name__)
RETENTION = timedelta(days=settings.claim_retention_days)


class Schedule:
    """This worker's due-times: timeouts by payer (models.timers) and claim retention.

    In memory, rebuilt from the claims table after each rebalance (the table is the truth; the
    schedule only says which claims to look at).
    """

    def __init__(self) -> None:
        self.timers = TimerIndex()
        self.expiry: list[tuple[datetime, str]] = []
        self.stale = True

    def track(self, state: ClaimState) -> None:
        self.timers.arm(state.claim_id, armed_timers(state))
        until = expires_at(state, RETENTION)
        if until is not None:
            heapq.heappush(self.expiry, (until, state.claim_id))

    def forget(self, claim_id: str) -> None:
        self.timers.forget(claim_id)

    async def rebuild(self, states: Iterable[ClaimState]) -> None:
        """Index every claim again, one at a time, letting the agents run every few hundred
        claims (a claim changed meanwhile is tracked twice, which costs one extra look)."""
        self.stale = False
        self.timers, self.expiry = TimerIndex(), []
        for count, state in enumerate(states, start=1):
            self.track(state)
            if count % 500 == 0:
                await asyncio.sleep(0)

    def due(self, now: datetime) -> list[str]:
        due = self.timers.pop_due(reference.reference, now)
        while self.expiry and self.expiry[0][0] <= now:
            due.append(heapq.heappop(self.expiry)[1])
        return list(dict.fromkeys(due))


schedule = Schedule()


async def publish(claim_id: str, events: tuple[tuple[str, str], ...]) -> None:
    for topic, payload in events:
        await topics.outputs[topic].send(key=claim_id, value=payload.encode())


def committed_offset(partition: int) -> int:
    """The claim-events offset this worker last committed for a partition (-1 if none): outbox
    entries below it will never be delivered again."""
    found = kafka_internals.committed_offset(app, topics.claim_events.get_topic_name(), partition)
    return found if found is not None else -1


async def apply(event: ClaimEvent, partition: int, offset: int) -> None:
    """One claim event: the core decides, the table keeps, the outputs publish."""
    record = claims.get(event.claim_id)
    if record is not None and offset <= record.applied_offset:
        # Delivered again after a crash or a rebalance: publish exactly what was published.
        await publish(event.claim_id, record.published_at(offset))
        return
    state = record.state if record else None
    transition = step_or_forget(state, event.for_the_core(), reference.reference, event.at, RETENTION)
    if transition is None:
        if state is not None:
            claims.delete(event.claim_id)
            schedule.forget(event.claim_id)
            log.info("claim %s forgotten after its retention", event.claim_id)
        return
    events = tuple((TOPIC_OF[type(o)], encode(o).decode()) for o in transition.outcomes)
    if transition.state is not state or events:
        keep = committed_offset(partition)
        outbox = tuple(e for e in (record.outbox if record else ()) if e.offset >= keep)
        if events:
            outbox += (OutboxEntry(offset=offset, events=events),)
        claims.put(ClaimRecord(state=transition.state, applied_offset=offset, outbox=outbox))
        schedule.track(transition.state)
    await publish(event.claim_id, events)
    if events:
        log.debug("claim %s: %s", event.claim_id, ", ".join(topic for topic, _ in events))


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


@app.timer(interval=settings.timer_interval)
async def fire_due_timers() -> None:
    if app.rebalancing or not app.tables.recovery.completed.is_set() or not reference.caught_up.is_set():
        return
    if schedule.stale:
        try:
            await schedule.rebuild(claims.states())  # one claim in memory at a time
        except Exception as exc:  # e.g. partitions taken away mid-scan: the next tick tries again
            schedule.stale = True
            log.warning("schedule rebuild interrupted (%s); retrying on the next tick", type(exc).__name__)
            return
        log.info("schedule rebuilt for %d claims", len(claims))
    now = datetime.now(UTC)
    for claim_id in schedule.due(now):
        await topics.claim_events.send(key=claim_id, value=ClaimEvent(kind="tick", claim_id=claim_id, at=now))


@app.on_partitions_assigned.connect
async def _assignment_changed(*_: object, **__: object) -> None:
    schedule.stale = True
    claims.forget_cached()


@app.task
async def read_reference_data() -> None:
    await reference.run()
