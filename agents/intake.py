"""Intake: input messages to validated EOBs, dead letters, and the claim-events topic.

Each message is decoded with the contract (`models.decode.decode`). Invalid bytes go to
`eob.dead-letter` with their topic, partition, offset and the reason; reference changes need
nothing more here, as every worker's `ReferenceReader` applies them. A valid EOB must reach the
partition that owns its claim: by default (`COBSTREAM_EOB_KEYS=any`, upstream keys are not
relied on) every EOB is re-keyed by claim id onto the claim-events topic. With
`COBSTREAM_EOB_KEYS=claim_id` the claims agent reads the EOB topics itself and joins each EOB
where it landed (`joined_here`), forwarding only those that landed elsewhere.

The intake agent reads every input topic the claims agent does not, in one stream, so messages
are taken in the order they are consumed.
"""

from __future__ import annotations

import logging

from faust.types import EventT, StreamT

from models.claim import EobReceived
from models.decode import Rejected, dead_letter, decode
from streams.app import app, settings, topics
from streams.codec import ClaimEvent, encode, kafka_key_text, record_time
from streams.topics import DEAD_LETTER, EOB_TOPICS, REFERENCE_TOPICS, owning_partition

log = logging.getLogger(__name__)

JOIN_WHERE_LANDED = settings.eob_keys == "claim_id"
UNPREFIXED = {settings.topic(name): name for name in (*EOB_TOPICS, *REFERENCE_TOPICS)}
_READ_HERE = REFERENCE_TOPICS if JOIN_WHERE_LANDED else (*EOB_TOPICS, *REFERENCE_TOPICS)
inputs = app.topic(*(settings.topic(name) for name in _READ_HERE), key_serializer="raw", value_serializer="raw")


async def receive(event: EventT) -> EobReceived | None:
    """One input message: its valid EOB, or None (a dead letter sent, or reference data)."""
    message = event.message
    topic = UNPREFIXED[message.topic]
    key = kafka_key_text(message.key)
    try:
        decoded = decode(topic, key, message.value)
    except Exception as exc:
        log.exception("unexpected error decoding %s[%s]@%s", topic, message.partition, message.offset)
        decoded = Rejected(f"internal error while decoding ({type(exc).__name__}); please report")
    if isinstance(decoded, Rejected):
        letter = dead_letter(
            decoded,
            source_topic=topic,
            partition=message.partition,
            offset=message.offset,
            key=key,
            raw=message.value,
            received_at=record_time(message.timestamp),
        )
        # The field, not the error's text: that may quote amounts or other values.
        log.info(
            "dead letter from %s[%s]@%s (claim %s): %s",
            topic,
            message.partition,
            message.offset,
            decoded.claim_id,
            decoded.error.split(":", 1)[0],
        )
        await topics.outputs[DEAD_LETTER].send(key=message.key, value=encode(letter))
        return None
    return decoded if isinstance(decoded, EobReceived) else None


def claim_event(event: EventT, received: EobReceived) -> ClaimEvent:
    """The claim event for a valid EOB (built from validated parts: not validated again)."""
    message = event.message
    return ClaimEvent.model_construct(
        kind="eob",
        claim_id=received.eob.claim_id,
        at=record_time(message.timestamp),
        role=received.role,
        eob=received.eob,
        source=f"{UNPREFIXED[message.topic]}[{message.partition}]@{message.offset}",
    )


async def forward(event: EventT, received: EobReceived) -> None:
    """Re-key an EOB by its claim id onto the claim-events topic."""
    await topics.claim_events.send(key=received.eob.claim_id, value=claim_event(event, received))


def joined_here(event: EventT, received: EobReceived) -> bool:
    """Whether an EOB can be joined on the partition it was read from: keyed by its claim id and
    on that key's partition (a producer with another partitioner, librdkafka's crc32 for one,
    puts it elsewhere)."""
    message = event.message
    claim_id = received.eob.claim_id
    return message.key == claim_id.encode() and message.partition == owning_partition(claim_id, settings.partitions)


@app.agent(inputs)
async def intake(stream: StreamT) -> None:
    async for event in stream.events():
        received = await receive(event)
        if received is not None:
            await forward(event, received)
