"""The claims agent: applies each claim event to the claims table with the core's `step` and
publishes what it returns. The timer finds claims with a timeout (or their retention) due and
sends them a tick through the same topic, so every change to a claim happens here, in order,
on the partition that owns it.
"""

from __future__ import annotations

import heapq
import logging
from datetime import UTC, datetime, timedelta

from faust.types import StreamT

from models.claim import ClaimState, ClockTick, EobReceived, armed_timers, expires_at, step
from models.outcomes import TOPIC_OF, Outcome
from models.timers import TimerIndex
from streams.app import app, claims, reference, settings, topics
from streams.codec import ClaimEvent, encode

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

    def rebuild(self, states: list[ClaimState]) -> None:
        self.timers, self.expiry = TimerIndex(), []
        for state in states:
            self.track(state)
        self.stale = False

    def due(self, now: datetime) -> list[str]:
        due = self.timers.pop_due(reference.reference, now)
        while self.expiry and self.expiry[0][0] <= now:
            due.append(heapq.heappop(self.expiry)[1])
        return list(dict.fromkeys(due))


schedule = Schedule()


async def publish(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        await topics.outputs[TOPIC_OF[type(outcome)]].send(key=outcome.claim_id, value=encode(outcome))


@app.agent(topics.claim_events)
async def reconcile(stream: StreamT) -> None:
    await reference.caught_up.wait()
    async for event in stream:
        assert isinstance(event, ClaimEvent)
        state = claims.get(event.claim_id)
        if event.kind == "eob":
            transition = step(state, EobReceived(event.role, event.eob), reference.reference, event.at)  # type: ignore[arg-type]
        elif state is None:
            continue  # a tick for a claim already forgotten
        else:
            transition = step(state, ClockTick(), reference.reference, event.at)
            until = expires_at(transition.state, RETENTION)
            if until is not None and until <= event.at and not transition.outcomes:
                claims.delete(event.claim_id)
                schedule.forget(event.claim_id)
                log.info("claim %s forgotten after its retention", event.claim_id)
                continue
        if transition.state is not state:
            claims.put(transition.state)
            schedule.track(transition.state)
        await publish(transition.outcomes)
        if transition.outcomes:
            log.debug("claim %s: %s", event.claim_id, ", ".join(TOPIC_OF[type(o)] for o in transition.outcomes))


@app.timer(interval=settings.timer_interval)
async def fire_due_timers() -> None:
    if app.rebalancing or not app.tables.recovery.completed.is_set() or not reference.caught_up.is_set():
        return
    if schedule.stale:
        schedule.rebuild(list(claims.states()))
        log.info("schedule rebuilt for %d claims", len(claims))
    now = datetime.now(UTC)
    for claim_id in schedule.due(now):
        await topics.claim_events.send(key=claim_id, value=ClaimEvent(kind="tick", claim_id=claim_id, at=now))


@app.on_partitions_assigned.connect
async def _assignment_changed(*_: object, **__: object) -> None:
    schedule.stale = True


@app.task
async def read_reference_data() -> None:
    await reference.run()
