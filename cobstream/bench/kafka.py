"""Kafka helpers: producing, reading offsets and record times, creating and deleting the bench's topics."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cobstream.bench.options import BenchError
from cobstream.bench.workload import Message
from cobstream.shared.kafka_io import producer
from streams.kafka_internals import refresh_metadata


async def produce(settings: Any, messages: Iterable[Message], *, linger_ms: int = 5) -> int:
    """Publish as fast as the producer goes (acks=all, idempotent, as `cobstream produce`)."""

    client = producer(settings, linger_ms=linger_ms, max_batch_size=256 * 1024)
    await client.start()
    sent = 0
    pending: list[asyncio.Future] = []
    try:
        for topic, key, value in messages:
            pending.append(
                await client.send(settings.topic(topic), key=key.encode() if key is not None else None, value=value)
            )
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await client.flush()
    finally:
        await client.stop()
    return sent


def consumer(settings: Any, *topics: str, **options: Any) -> Any:
    options.setdefault("group_id", None)
    options.setdefault("enable_auto_commit", False)
    return AIOKafkaConsumer(
        *topics, bootstrap_servers=settings.broker_list, **settings.security.aiokafka_options(), **options
    )


async def partitions_of(client: Any, topic: str) -> list[Any]:
    for _ in range(100):
        found = client.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        await refresh_metadata(client)
        await asyncio.sleep(0.1)
    raise BenchError(f"topic {topic} not found")


class Offsets:
    """End offsets of whole topics: how many records they hold, without reading any."""

    def __init__(self, settings: Any) -> None:
        self.client = consumer(settings)
        self.tps: dict[str, list[Any]] = {}

    async def __aenter__(self) -> Offsets:
        await self.client.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.client.stop()

    async def total(self, topics: Iterable[str]) -> int:
        tps = []
        for topic in topics:
            if topic not in self.tps:
                self.tps[topic] = await partitions_of(self.client, topic)
            tps += self.tps[topic]
        ends = await self.client.end_offsets(tps)
        return sum(ends.values())


async def edge_time(settings: Any, topics: list[str], *, first: bool) -> float | None:
    """The CreateTime (epoch seconds) of the earliest first record, or of the latest last
    record, over every partition of `topics`. The producer that wrote the record stamped it."""
    client = consumer(settings)
    await client.start()
    try:
        tps = [tp for topic in topics for tp in await partitions_of(client, topic)]
        begins, ends = await client.beginning_offsets(tps), await client.end_offsets(tps)
        tps = [tp for tp in tps if ends[tp] > begins[tp]]
        if not tps:
            return None
        client.assign(tps)
        for tp in tps:
            client.seek(tp, begins[tp] if first else max(begins[tp], ends[tp] - 3))
        found: dict[Any, float] = {}
        pending, deadline = set(tps), time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            batch = await client.getmany(*pending, timeout_ms=1500)
            if not batch:
                break
            for tp, records in batch.items():
                stamps = [r.timestamp / 1000 for r in records]
                if first:
                    found[tp] = stamps[0]
                    pending.discard(tp)
                else:
                    found[tp] = max(found.get(tp, 0.0), *stamps)
                    if records[-1].offset >= ends[tp] - 1:
                        pending.discard(tp)
        if not found:
            return None
        return min(found.values()) if first else max(found.values())
    finally:
        await client.stop()


async def delete_topics(settings: Any, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker_list, **settings.security.aiokafka_options())
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def wait_for_leaders(settings: Any, names: list[str], timeout: float = 30.0) -> None:
    """Until every partition of the new topics has a leader (producing earlier only retries)."""

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker_list, **settings.security.aiokafka_options())
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = await admin.describe_topics(names)
            if len(described) == len(names) and all(
                t.get("error_code", 0) == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
                for t in described
            ):
                return
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    raise BenchError(f"topics {names[0]}... have no leader after {timeout:.0f}s")


async def broker_answers(settings: Any, timeout: float = 10.0) -> str | None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.broker_list,
        request_timeout_ms=int(timeout * 1000),
        **settings.security.aiokafka_options(),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.list_topics(), timeout)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return None
