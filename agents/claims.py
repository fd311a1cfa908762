"""The claims agent: applies each claim event to the claims table with the core's `step` and
publishes what it returns. The timer finds claims with a timeout (or their retention) due and
sends them a tick through the same topic, so every change to a claim happens here, in order,
on the partition that owns it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from faust.types import TP, EventT, StreamT

from agents.intake import JOIN_WHERE_LANDED, claim_event, forward, joined_here, receive
from models.claim import ClaimState, ClockTick, EobReceived, armed_timers, expires_at, step
from models.decode import Rejected, dead_letter
from models.outcomes import TOPIC_OF
from models.timers import TimerIndex
from streams.app import app, claims, reference, settings, topics
from streams.codec import (
    ClaimEvent,
    ClaimRecord,
    OutboxEntry,
    claim_event_codec,
    encode,
    kafka_key_text,
    record_time,
)
from streams.topics import CLAIM_EVENTS, DEAD_LETTER, EOB_TOPICS

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


def committed_offset(topic: str, partition: int) -> int:
    """The offset of an input topic (unprefixed) this worker last committed for a partition (-1
    if none): outbox entries below it will never be delivered again."""
    found = app.consumer._committed_offset.get(TP(settings.topic(topic), partition))
    return found if found is not None else -1


async def apply(event: ClaimEvent, topic: str, partition: int, offset: int) -> None:
    """One claim event, read at `offset` of `topic` (unprefixed): the core decides, the table
    keeps, the outputs publish."""
    record = claims.get(event.claim_id)
    if record is not None and record.already_applied(topic, offset):
        # Delivered again after a crash or a rebalance: publish exactly what was published.
        await publish(event.claim_id, record.published_at(topic, offset))
        return
    state = record.state if record else None
    if event.kind == "eob":
        transition = step(state, EobReceived(event.role, event.eob), reference.reference, event.at)  # type: ignore[arg-type]
    elif state is None:
        return  # a tick for a claim already forgotten
    else:
        transition = step(state, ClockTick(), reference.reference, event.at)
        until = expires_at(transition.state, RETENTION)
        if until is not None and until <= event.at and not transition.outcomes:
            claims.delete(event.claim_id)
            schedule.forget(event.claim_id)
            log.info("claim %s forgotten after its retention", event.claim_id)
            return
    events = tuple((TOPIC_OF[type(o)], encode(o).decode()) for o in transition.outcomes)
    if transition.state is not state or events:
        outbox = tuple(e for e in (record.outbox if record else ()) if e.offset >= committed_offset(e.topic, partition))
        if events:
            outbox += (OutboxEntry(topic=topic, offset=offset, events=events),)
        applied = {**(record.applied if record else {}), topic: offset}
        claims.put(ClaimRecord(state=transition.state, applied=applied, outbox=outbox))
        schedule.track(transition.state)
    await publish(event.claim_id, events)
    if events:
        log.debug("claim %s: %s", event.claim_id, ", ".join(topic for topic, _ in events))


_UNPREFIXED = {settings.topic(name): name for name in (CLAIM_EVENTS, *EOB_TOPICS)}
_READ_HERE = (CLAIM_EVENTS, *EOB_TOPICS) if JOIN_WHERE_LANDED else (CLAIM_EVENTS,)
claim_inputs = app.topic(*(settings.topic(name) for name in _READ_HERE), key_serializer="raw", value_serializer="raw")
_misplaced = itertools.count(1)


class ClaimFailed(Exception):
    """`apply` failed for this claim (the cause is chained)."""

    def __init__(self, claim_id: str) -> None:
        super().__init__(claim_id)
        self.claim_id = claim_id


async def take(event: EventT) -> None:
    """One message of the claims agent's topics: a claim event, or an EOB to join here."""
    message = event.message
    topic = _UNPREFIXED[message.topic]
    if topic == CLAIM_EVENTS:
        claim = claim_event_codec.loads(message.value)
    else:
        received = await receive(event)
        if received is None:
            return
        if not joined_here(event, received):
            misplaced = next(_misplaced)
            if misplaced in (1, 10) or misplaced % 1000 == 0:
                log.warning(
                    "%d EOBs so far were not keyed by claim id on its partition (%s=claim_id expects"
                    " that); re-keyed through the claim-events topic, their order against the others"
                    " of their claims is not kept",
                    misplaced,
                    "COBSTREAM_EOB_KEYS",
                )
            await forward(event, received)
            return
        claim = claim_event(event, received)
    try:
        await apply(claim, topic, message.partition, message.offset)
    except Exception as exc:
        raise ClaimFailed(claim.claim_id) from exc


@app.agent(claim_inputs)
async def reconcile(stream: StreamT) -> None:
    await reference.caught_up.wait()
    async for event in stream.events():
        try:
            await take(event)
        except Exception as exc:  # one bad claim (or message) must not stop the others
            await internal_error(event, exc)


async def internal_error(event: EventT, exc: Exception) -> None:
    """Dead-letter a message the claims agent could not handle; the claim stays as it was."""
    message = event.message
    topic = _UNPREFIXED[message.topic]
    claim_id = exc.claim_id if isinstance(exc, ClaimFailed) else None
    cause = exc.__cause__ if isinstance(exc, ClaimFailed) and exc.__cause__ is not None else exc
    # Ids only: the exception's text may quote amounts.
    log.error(
        "claim %s: %s while reconciling %s[%s]@%s; claim left unchanged",
        claim_id,
        type(cause).__name__,
        topic,
        message.partition,
        message.offset,
    )
    log.debug("reconcile failure", exc_info=cause)
    letter = dead_letter(
        Rejected(f"internal error while reconciling ({type(cause).__name__}); the claim was left unchanged", claim_id),
        source_topic=topic,
        partition=message.partition,
        offset=message.offset,
        key=kafka_key_text(message.key),
        raw=message.value,
        received_at=record_time(message.timestamp),
    )
    await topics.outputs[DEAD_LETTER].send(key=message.key, value=encode(letter))


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
