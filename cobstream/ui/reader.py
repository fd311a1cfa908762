"""The work queue's reader: every partition of the input, reference and output topics, from the
beginning, into the store, in the same process as the pages.

No consumer group: the reader assigns itself every partition and keeps its positions in the
store (written with each batch), so a restart continues where it stopped and re-reads nothing
it kept. It reads `read_committed`, as a downstream reader should. Topics or partitions that
appear later are picked up on the next rescan; a broker that cannot be reached is retried,
and the pages keep serving what the store holds meanwhile. Logs name topics and counts only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from cobstream.ui.store import Store
from models.contract.topics import CLAIM_INPUT_TOPICS, OUTPUT_TOPICS, REFERENCE_TOPICS
from streams.codec import TopicRecord
from streams.settings import Settings
from streams.topics import existing_partitions

# The claim inputs (EOBs, submissions, raw X12), the reference data and the outputs.
READ_TOPICS = (*CLAIM_INPUT_TOPICS, *REFERENCE_TOPICS, *OUTPUT_TOPICS)
BATCH_RECORDS = 2000

log = logging.getLogger("cobstream.ui")


@dataclass
class ReaderStatus:
    """What /healthz says about the reader."""

    state: str = "starting"  # connecting, reading, waiting for topics, stopped
    problem: str | None = None
    partitions: int = 0
    records_read: int = 0
    behind: int | None = None  # records on the broker not read yet, as of the last fetch


class TopicReader:
    """Reads the environment's topics into the store until cancelled."""

    def __init__(
        self, settings: Settings, store: Store, *, retry_seconds: float = 5.0, rescan_seconds: float = 30.0
    ) -> None:
        self.settings = settings
        self.store = store
        self.status = ReaderStatus()
        self.retry_seconds = retry_seconds
        self.rescan_seconds = rescan_seconds
        self._unprefixed = {settings.topic(name): name for name in READ_TOPICS}
        self._next_offsets: dict[TopicPartition, int] = {}

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._read()
                except KafkaError as exc:
                    self._trouble(f"cannot read from {self.settings.brokers}: {exc}")
                await asyncio.sleep(self.retry_seconds)
        finally:
            self.status.state = "stopped"

    def _trouble(self, problem: str) -> None:
        if problem != self.status.problem:
            log.warning("%s; retrying every %ss", problem, self.retry_seconds)
        self.status.problem = problem
        self.status.state = "connecting"

    async def _read(self) -> None:
        self.status.state = "connecting"
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.broker_list,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            **self.settings.security.aiokafka_options(),
        )
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.settings.broker_list, **self.settings.security.aiokafka_options()
        )
        try:
            await consumer.start()
            await admin.start()
            assigned: set[TopicPartition] | None = None
            rescan_at = 0.0
            while True:
                if time.monotonic() >= rescan_at:
                    assigned = await self._assign(consumer, admin, assigned)
                    rescan_at = time.monotonic() + self.rescan_seconds
                if not assigned:
                    await asyncio.sleep(1.0)
                    continue
                await self._read_batch(consumer)
        finally:
            await consumer.stop()
            await admin.close()

    async def _assign(
        self, consumer: AIOKafkaConsumer, admin: AIOKafkaAdminClient, assigned: set[TopicPartition] | None
    ) -> set[TopicPartition]:
        """Assign every partition of the topics that exist now; seek each to the store's position."""
        existing = await existing_partitions(admin, list(self._unprefixed))
        wanted = {TopicPartition(name, partition) for name, count in existing.items() for partition in range(count)}
        if wanted == assigned:
            return assigned
        if wanted:
            consumer.assign(sorted(wanted))
        stored = self.store.positions()
        for tp in wanted:
            position = stored.get((self._unprefixed[tp.topic], tp.partition))
            if position is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, position)
            self._next_offsets[tp] = position or 0
        missing = sorted(set(self._unprefixed) - set(existing))
        log.info(
            "reading %d partitions of %d topics%s",
            len(wanted),
            len(self._unprefixed) - len(missing),
            f"; not there yet: {', '.join(missing)}" if missing else "",
        )
        self.status.partitions = len(wanted)
        self.status.state = "reading" if wanted else "waiting for topics"
        self.status.problem = None
        return wanted

    async def _read_batch(self, consumer: AIOKafkaConsumer) -> None:
        batch = await consumer.getmany(timeout_ms=500, max_records=BATCH_RECORDS)
        records = [
            TopicRecord(self._unprefixed[tp.topic], tp.partition, r.offset, r.key, r.value, r.timestamp)
            for tp, found in batch.items()
            for r in found
        ]
        if records:
            await self._ingest(records)
            for tp, found in batch.items():
                self._next_offsets[tp] = found[-1].offset + 1
            self.status.records_read += len(records)
        self.status.behind = sum(
            max(0, highwater - self._next_offsets.get(tp, 0))
            for tp in consumer.assignment()
            if (highwater := consumer.highwater(tp)) is not None
        )

    async def _ingest(self, records: list[TopicRecord]) -> None:
        """Store a batch on a worker thread; a batch begun is finished (with its positions) even
        when the reader is being stopped."""
        ingest = asyncio.ensure_future(asyncio.to_thread(self.store.ingest, records))
        try:
            await asyncio.shield(ingest)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await ingest
            raise
