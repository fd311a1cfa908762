"""Intake: taking in an input message (`take_in`), and the agent that does it for every input
topic the claims agent does not read itself, in the order they are consumed.

Each message is decoded by `models.remittance.intake.decode_message`: with the contract, or, on
`remittance.x12`, as an X12 835 (one EOB per claim payment) or 837 (one submission per claim). Invalid
input goes to `eob.dead-letter` with its topic, partition, offset and the reason (for an 835,
one dead letter per unusable claim or transaction, naming the segment and its position, while
the good claims go through); valid EOBs and submissions become claim events. The intake agent
re-keys them by claim id onto the claim-events topic (`send_on`): all of `remittance.x12`'s (one
message, many claims), and on the `claim-events` input path the EOB and submission topics' too;
on the `direct` path the claims agent takes those itself (agents/claims.py). Reference changes
need nothing more here, as every worker's `ReferenceReader` applies them. Provider-level
adjustments (835 PLB) are logged, not claim events.
"""

from __future__ import annotations

import logging
from datetime import datetime

from faust.types import StreamT
from faust.types.tuples import Message

from models.cob.claim import EobReceived, SubmissionReceived
from models.contract.outcomes import event_json
from models.contract.topics import DEAD_LETTER, INPUT_TOPICS, REMITTANCE_X12
from models.remittance.decode import Rejected, dead_letter
from models.remittance.intake import Decoded, Report, decode_message, refuse_invalid_coverage
from streams import metrics
from streams.app import Worker
from streams.codec import ClaimEvent, Place, kafka_key_text, record_time

log = logging.getLogger(__name__)


def register(worker: Worker) -> None:
    """The intake agent, on every input topic of the worker's environment that the claims agent
    does not read itself (`Settings.direct_topics`)."""
    names = worker.settings.names
    read_here = [name for name in INPUT_TOPICS if name not in worker.settings.direct_topics]
    inputs = worker.app.topic(*(names.full(name) for name in read_here), key_serializer="raw", value_serializer="raw")

    @worker.app.agent(inputs, name="agents.intake.intake")
    async def intake(stream: StreamT) -> None:
        async for event in stream.events():
            message = event.message
            topic = names.contract(message.topic)
            for claim_event in await take_in(worker, topic, message):
                await send_on(worker, claim_event, topic)


async def take_in(worker: Worker, topic: str, message: Message) -> list[ClaimEvent]:
    """One input message decoded: its unusable parts dead-lettered, provider-level adjustments
    logged, and its EOBs and submissions (valid, their coverage checked against the reference
    data) returned as claim events, in the message's order."""
    received = record_time(message.timestamp)
    metrics.count_message_read(topic)
    taken = []
    for item in _decoded(topic, message):
        decoded = refuse_invalid_coverage(item, worker.reference.reference)
        if isinstance(decoded, Rejected):
            await _dead_letter(worker, decoded, topic, message, received)
        elif isinstance(decoded, EobReceived | SubmissionReceived):
            taken.append(_claim_event(decoded, topic, message, received))
        elif isinstance(decoded, Report):
            _report(decoded, message)
    return taken


async def send_on(worker: Worker, claim_event: ClaimEvent, topic: str) -> None:
    """Re-key a claim event read from an input topic onto the claim-events topic (by claim id)."""
    await worker.topics.claim_events.send(key=claim_event.claim_id, value=claim_event)
    metrics.count_rekeyed(topic)


def _decoded(topic: str, message: Message) -> list[Decoded]:
    try:
        return decode_message(topic, kafka_key_text(message.key), message.value)
    except Exception as exc:
        log.exception("unexpected error decoding %s[%s]@%s", topic, message.partition, message.offset)
        return [
            Rejected(f"internal error while decoding ({type(exc).__name__}); please report", reason="internal_error")
        ]


async def _dead_letter(worker: Worker, rejected: Rejected, topic: str, message: Message, received: datetime) -> None:
    letter = dead_letter(
        rejected,
        source_topic=topic,
        partition=message.partition,
        offset=message.offset,
        key=kafka_key_text(message.key),
        raw=message.value,
        received_at=received,
    )
    # The reason code, not the error's text: that may quote amounts or other values.
    log.info(
        "dead letter from %s[%s]@%s (claim %s): %s",
        topic,
        message.partition,
        message.offset,
        rejected.claim_id,
        rejected.reason,
    )
    await worker.topics.outputs[DEAD_LETTER].send(key=message.key, value=event_json(letter))
    metrics.count_dead_letter(topic, rejected.reason)


def _claim_event(
    decoded: EobReceived | SubmissionReceived, topic: str, message: Message, received: datetime
) -> ClaimEvent:
    if isinstance(decoded, EobReceived):
        metrics.count_eob_received(topic)
    else:
        metrics.count_submission_received(topic)
    return ClaimEvent.of_input(decoded, received, str(Place(topic, message.partition, message.offset)))


def _report(report: Report, message: Message) -> None:
    # Provider-level, not patient data: the provider's and payer's ids and the amount.
    log.info("%s[%s]@%s: %s: %s", REMITTANCE_X12, message.partition, message.offset, report.where, report.describe())
