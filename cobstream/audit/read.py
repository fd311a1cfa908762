"""The audit's reading of Kafka: `read_records(settings)`, every partition of the topics the audit
needs read with aiokafka (no consumer group, read_committed) up to its end offset, from the
beginning or from a time, as `TopicRecord`s; which topics from the beginning depends on the
workers' input path (`Settings.direct_topics`)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from cobstream.audit.model import ms
from models.contract.topics import CLAIM_EVENTS, CLAIM_INPUT_TOPICS, OUTPUT_TOPICS, REFERENCE_TOPICS
from streams.codec import TopicRecord
from streams.kafka_internals import cluster_metadata
from streams.settings import Settings
from streams.topics import MAX_WRITTEN_BYTES


class AuditUnusable(Exception):
    """The audit cannot run: one line saying why (exit status 2)."""


async def read_records(
    settings: Settings, *, since: datetime | None = None, stall_timeout: float = 30.0
) -> list[TopicRecord]:
    """Every record the audit needs, each partition up to its end offset when its reading starts.

    Input topics from `since` (or the beginning); reference and claim-events topics from the
    beginning, and on the direct input path (`settings.direct_topics`) the EOB and submission
    topics too, as the claims agent applies their records where they land (a claim's replay needs
    its whole history); output topics from `since`, read after the others so that the outcomes of
    the newest claim events have had time to arrive.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.broker_list,
        group_id=None,
        enable_auto_commit=False,
        # Also what a reset racing with our own seek_to_beginning lands on (aiokafka applies the
        # answer of a reset already in flight, for the default "latest", after a later seek).
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=MAX_WRITTEN_BYTES,
        **settings.security.aiokafka_options(),
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise AuditUnusable(f"cannot reach the broker at {settings.brokers} ({type(exc).__name__})") from None
    try:
        cluster = await cluster_metadata(consumer)
        whole = (*REFERENCE_TOPICS, CLAIM_EVENTS, *settings.direct_topics)
        inputs = dict.fromkeys(CLAIM_INPUT_TOPICS, since) | dict.fromkeys(whole)
        first = await _read(consumer, cluster, settings, inputs, stall_timeout)
        outputs = await _read(consumer, cluster, settings, dict.fromkeys(OUTPUT_TOPICS, since), stall_timeout)
        return first + outputs
    except KafkaError as exc:
        raise AuditUnusable(f"reading from {settings.brokers} failed ({type(exc).__name__}: {exc})") from None
    finally:
        await consumer.stop()


async def _read(
    consumer: Any, cluster: Any, settings: Settings, starts: dict[str, datetime | None], stall_timeout: float
) -> list[TopicRecord]:
    names = {settings.topic(topic): topic for topic in starts}
    partitions = []
    for name in names:
        found = cluster.partitions_for_topic(name)
        if not found:
            raise AuditUnusable(
                f"topic {name} does not exist; check COBSTREAM_TOPIC_PREFIX or run `cobstream topics create`"
            )
        partitions += [TopicPartition(name, p) for p in sorted(found)]
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        await _seek_to_start(consumer, tp, starts[names[tp.topic]], ends[tp])
    return await _read_to_ends(consumer, ends, names, stall_timeout)


async def _seek_to_start(consumer: Any, tp: Any, since: datetime | None, end: int) -> None:
    if since is None:
        await consumer.seek_to_beginning(tp)
        return
    found = (await consumer.offsets_for_times({tp: ms(since)}))[tp]
    consumer.seek(tp, found.offset if found is not None else end)


async def _read_to_ends(
    consumer: Any, ends: dict[Any, int], names: dict[str, str], stall_timeout: float
) -> list[TopicRecord]:
    records: list[TopicRecord] = []
    remaining = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    progress = time.monotonic()
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=500)
        for tp, got in batch.items():
            records += [
                TopicRecord(names[r.topic], r.partition, r.offset, r.key, r.value, r.timestamp)
                for r in got
                if r.offset < ends[tp]
            ]
        done = {tp for tp in remaining if await consumer.position(tp) >= ends[tp]}
        if batch or done:
            progress = time.monotonic()
        remaining -= done
        consumer.pause(*done)
        if remaining and time.monotonic() - progress > stall_timeout:
            stuck = ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in remaining))
            raise AuditUnusable(f"no progress for {stall_timeout:.0f}s reading {stuck} to its end offset")
    return records
