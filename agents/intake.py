"""Intake: every input topic in one agent, so messages are taken in the order they are consumed.

Each message is decoded with the contract (`models.decode.decode`). Invalid bytes go to
`eob.dead-letter` with their topic, partition, offset and the reason; valid EOBs are re-keyed by
claim id onto the claim-events topic (upstream keys are not to be relied on); reference changes
need nothing more here, as every worker's `ReferenceReader` applies them.
"""

from __future__ import annotations

import logging

from faust.types import StreamT

from models.claim import EobReceived
from models.decode import Rejected, dead_letter, decode
from streams.app import app, settings, topics
from streams.codec import ClaimEvent, encode, kafka_key_text, record_time
from streams.topics import DEAD_LETTER, EOB_TOPICS, REFERENCE_TOPICS

log = logging.getLogger(__name__)

_UNPREFIXED = {settings.topic(name): name for name in (*EOB_TOPICS, *REFERENCE_TOPICS)}
inputs = app.topic(*_UNPREFIXED, key_serializer="raw", value_serializer="raw")


@app.agent(inputs)
async def intake(stream: StreamT) -> None:
    async for event in stream.events():
        message = event.message
        topic = _UNPREFIXED[message.topic]
        key = kafka_key_text(message.key)
        received = record_time(message.timestamp)
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
                received_at=received,
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
        elif isinstance(decoded, EobReceived):
            claim_id = decoded.eob.claim_id
            await topics.claim_events.send(
                key=claim_id,
                # From parts the contract just validated: not validated again.
                value=ClaimEvent.model_construct(
                    kind="eob",
                    claim_id=claim_id,
                    at=received,
                    role=decoded.role,
                    eob=decoded.eob,
                    source=f"{topic}[{message.partition}]@{message.offset}",
                ),
            )
