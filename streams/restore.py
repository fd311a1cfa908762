"""Bulk restore of the claims table from its changelog, before Faust starts.

A worker on a fresh machine (or a new state folder) must read the claims table's whole
changelog before it can reconcile anything. Faust's recovery reads it one record at a time
through its stream machinery, about 2,800 records a second here, so a million open claims took six
minutes (docs/PERFORMANCE.md). This module reads the same records with a plain aiokafka
consumer in large batches, as bytes, and writes them with Faust's own store method
(`apply_changelog_batch`, a RocksDB write batch per partition, then the partition's persisted
offset). Faust's recovery then starts from that offset and finds little or nothing left to read.

It owns nothing Faust does not already trust: the bytes written are the changelog's, exactly as
Faust's recovery would write them, and the persisted offset is the last one written, so a
record read twice is written twice with the same value and a record not read is read by Faust.
Every partition of the changelog is restored, since the assignment is not known before the
worker joins its group: a partition that goes to another worker is a warm copy for later, like a
standby replica. Such a copy ages like any worker's own state folder: if it is assigned again
after the changelog has compacted away a claim's deletion (a tombstone lives
`delete.retention.ms`, a day by default), the deleted claim comes back from the copy, as it
would for a worker restarted on a day-old state folder; it is forgotten again when its
retention is found over. It runs only with the RocksDB store (the memory store keeps nothing to start
from) and not under exactly_once (whose read_committed changelog Faust reads itself).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP

from streams import kafka_internals
from streams.settings import MIB, Settings
from streams.topics import partition_counts

BATCH_RECORDS = 20_000  # records per getmany: large enough that Python's per-batch cost vanishes
STALL_SECONDS = 30.0  # nothing read for this long: leave the rest to Faust's recovery


@dataclass
class Restored:
    """What a bulk restore did, for the worker's log and the tests."""

    topic: str
    records: int = 0
    partitions: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition: (from, to)
    seconds: float = 0.0
    complete: bool = True

    def describe(self) -> str:
        rate = self.records / self.seconds if self.seconds else 0.0
        state = "complete" if self.complete else "incomplete, Faust's recovery reads the rest"
        return (
            f"restored {self.records:,} changelog records of {self.topic} into {len(self.partitions)} "
            f"partition(s) in {self.seconds:.1f}s ({rate:,.0f} records/s), {state}"
        )


def wanted(settings: Settings) -> bool:
    """Whether the worker restores in bulk before Faust starts (RocksDB, not exactly_once, not
    turned off with COBSTREAM_BULK_RESTORE=0)."""
    return settings.bulk_restore and settings.store == "rocksdb://" and settings.processing_guarantee != "exactly_once"


async def restore(settings: Settings, table: faust.Table) -> Restored:
    """Read the changelog of `table` (a Faust table of this process, before the app starts) from
    each partition's persisted offset to its end, into the table's store."""
    topic = table.changelog_topic.get_topic_name()
    found = Restored(topic)
    started = time.monotonic()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.broker_list,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * MIB,
        fetch_max_bytes=64 * MIB,
        **settings.security.aiokafka_options(),
    )
    await consumer.start()
    try:
        ends = await _starting_points(settings, consumer, table, topic, found)
        if ends:
            found.complete = await _read_to_the_ends(consumer, table, ends, found)
    finally:
        await consumer.stop()
        kafka_internals.close_table_partitions(table)  # Faust reopens those it is assigned
    found.seconds = time.monotonic() - started
    return found


async def _starting_points(
    settings: Settings, consumer: AIOKafkaConsumer, table: faust.Table, topic: str, found: Restored
) -> dict[TopicPartition, int]:
    """Seek each partition past its persisted offset; the ends of those with records to read."""
    counts = await partition_counts(settings, [topic])  # none on a first start: Faust creates it
    tps = [TopicPartition(topic, p) for p in range(counts.get(topic, 0))]
    if not tps:
        return {}
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    todo: dict[TopicPartition, int] = {}
    for tp in tps:
        persisted = table.data.persisted_offset(TP(topic, tp.partition))
        start = 0 if persisted is None else persisted + 1
        if start < ends[tp]:
            consumer.seek(tp, start)
            todo[tp] = ends[tp]
            found.partitions[tp.partition] = (start, ends[tp])
        else:
            consumer.pause(tp)
    return todo


async def _read_to_the_ends(
    consumer: AIOKafkaConsumer, table: faust.Table, ends: dict[TopicPartition, int], found: Restored
) -> bool:
    """Write batches until every partition's position reaches the end it had at the start."""
    left = dict(ends)
    last_read = time.monotonic()
    while left:
        batches = await consumer.getmany(*left, timeout_ms=1000, max_records=BATCH_RECORDS)
        for tp, records in batches.items():
            kafka_internals.apply_changelog_records(table, tp, records)
            found.records += len(records)
        if batches:
            last_read = time.monotonic()
        for tp in list(left):
            if await consumer.position(tp) >= left[tp]:
                consumer.pause(tp)
                del left[tp]
        if left and time.monotonic() - last_read > STALL_SECONDS:
            return False  # nothing read for a while: Faust's recovery reads the rest
        await asyncio.sleep(0)
    return True


def restore_before_start(settings: Settings, table: faust.Table) -> str | None:
    """The worker's entry: restore in bulk when `wanted`; returns the line for the worker's log
    (logging is set up only when Faust starts), None when not wanted. A failure is left to
    Faust's recovery, which reads from whatever offset was persisted.

    It runs on the event loop Faust's worker will use (set as the thread's loop and left open):
    the table's store, created here, belongs to that loop."""
    if not wanted(settings):
        return None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        found = loop.run_until_complete(restore(settings, table))
    except Exception as exc:  # an optimisation: Faust's recovery remains the source of truth
        return f"bulk restore failed ({type(exc).__name__}: {exc}); Faust's recovery reads the changelog"
    return found.describe()
