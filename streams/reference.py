"""Reference data on every worker: each worker reads the compacted reference topics in full.

A Faust global table would do the same through a second changelog; reading the two compacted
topics directly is simpler and has no moving parts. Invalid messages are skipped here (the intake
agent, which sees each message once per group, dead-letters them), so the entry in force stays.
Every change goes through `Reference.apply`, as in replay and the audit.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from models.cob.reference import Reference, ReferenceChange
from models.contract.topics import REFERENCE_TOPICS
from models.remittance.decode import decode_reference
from streams.codec import kafka_key_text
from streams.kafka_internals import refresh_metadata
from streams.settings import Settings

log = logging.getLogger(__name__)


class ReferenceReader:
    """This worker's copy of the reference data, read from the beginning of both topics and kept
    up to date; `caught_up` is set once it has read what the topics held when it started."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reference = Reference()
        self.caught_up = asyncio.Event()
        self._names = {settings.topic(t): t for t in REFERENCE_TOPICS}

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.broker_list,
            enable_auto_commit=False,
            group_id=None,
            **self.settings.security.aiokafka_options(),
        )
        await consumer.start()
        try:
            partitions = []
            for name in self._names:
                found = await _partitions_of(consumer, name)
                partitions += [TopicPartition(name, p) for p in found]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        self.apply(record.topic, record.key, record.value)
                if not self.caught_up.is_set() and all(await _positions(consumer, ends)):
                    log.info(
                        "reference data loaded: %d payer profiles, %d fee schedule entries",
                        len(self.reference.profiles),
                        len(self.reference.fee_schedule),
                    )
                    self.caught_up.set()
        finally:
            await consumer.stop()

    def apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        change = decode_reference(self._names[topic], kafka_key_text(key), value)
        if isinstance(change, ReferenceChange):
            self.reference.apply(change)


async def _partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return found
        await refresh_metadata(consumer)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} does not exist; run `cobstream topics create`")


async def _positions(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> list[bool]:
    return [await consumer.position(tp) >= end for tp, end in ends.items()]
