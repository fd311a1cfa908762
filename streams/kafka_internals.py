"""Every crossing into Faust's or aiokafka's private API, in one module, each one marked.

Checked against faust-streaming 0.15.x and aiokafka 0.14.x (pyproject.toml pins both minors, so
an upgrade is a deliberate change: rerun tests/test_kafka_internals.py and read the diff of
faust/transport/{consumer,producer}.py first).

It owns the worker's commit safety. Faust commits a partition's offset once the agent has
acknowledged the messages below it; two of its mechanisms can commit work whose effects are not
yet durable, or were never done (docs/RELIABILITY.md has the evidence):

1. **The flush before a commit returns early.** Table writes go through Faust's `ProducerBuffer`
   (`send_soon`); before committing, `Consumer._commit_offsets` calls `producer.flush()`, whose
   buffer flush gives up after 0.1 s without a send and does not wait for the record its drain
   task holds but has not yet handed to aiokafka. The offset is then committed ahead of the
   claims table's changelog, and after a SIGKILL the partition's next owner lacks a state change
   whose input is marked done. `DurableProducerBuffer` counts what it was given and what it has
   handed to aiokafka, and its flush waits for every one; `DurableProducer` also refuses to flush
   (so the commit does not happen) once any record failed delivery.
2. **Gap filling.** Faust records any jump in delivered offsets as a "gap" (meant for compaction
   and transaction markers) and treats the gap as acknowledged; a stale fetch delivered after a
   rebalance's seek makes such a jump over records that were never processed, and the head check
   of `_new_offset` lets a commit pass one missing offset and is skipped when the committed
   offset is None or 0 (faust-streaming #606, #216, #221, #223). `SafeConsumer` never
   lets a record past a hole on the topics it verifies: it rewinds to the first missing offset
   and trusts a gap only when a fetch from that very offset comes back past it (the broker then
   has nothing there to read: a transaction marker, an aborted or a compacted record). It commits
   a partition only from its exact committed (or starting) offset onwards.

3. **Reads before the seek.** On an assignment Faust's recovery resumes the stream partitions
   and only then seeks them to their committed offsets (`tables/recovery.py`), so records
   prefetched meanwhile reach the agents, are cleared from their queues when the flow resumes,
   and leave Faust's read offset past records never processed. `SafeConsumer` keeps the
   stream partitions paused from the assignment until the seek is done.

`install` puts them on a Faust app; under `exactly_once` the transactional commit also flushes
the (non-transactional) producer of the outputs first. The same transport gives the consumer a
shorter fetch long-poll than Faust's hard-coded 1500 ms (`ShortWaitConsumerThread`, for latency).
The accessors at the end are the project's other private reads: the last committed offset, a
metadata refresh, a bare connection for the preflight, consumer lag and recovery progress for
`/metrics`, and the claims table's store for the bulk restore (`streams/restore.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka.conn import create_conn  # PRIVATE API: used by open_connection only
from faust.exceptions import ConsumerNotStarted, ProducerSendError
from faust.transport.consumer import TransactionManager
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from faust.types import TP
from faust.types.tuples import FutureMessage
from faust.utils.functional import consecutive_numbers

log = logging.getLogger(__name__)

FLUSH_PATIENCE = 10.0  # seconds between "still waiting" warnings while a flush waits for the buffer


class DurableProducerBuffer(ProducerBuffer):
    """Faust's buffer of table changelog writes, whose flush waits until every record put in it
    has been handed to aiokafka (whose own flush then waits for the broker's acknowledgement)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.unsent = 0
        self.all_sent = asyncio.Event()
        self.all_sent.set()

    def put(self, fut: FutureMessage) -> None:
        self.unsent += 1
        self.all_sent.clear()
        super().put(fut)

    # PRIVATE API: ProducerBuffer._send_pending (the drain task's per-record hand-over to aiokafka).
    async def _send_pending(self, fut: FutureMessage) -> None:
        try:
            await super()._send_pending(fut)
        finally:
            self.unsent -= 1
            if not self.unsent:
                self.all_sent.set()

    async def flush(self) -> None:
        while self.unsent:
            if self.state != "running":
                raise RuntimeError(f"cannot flush: the producer buffer stopped with {self.unsent} table writes unsent")
            try:
                await asyncio.wait_for(self.all_sent.wait(), FLUSH_PATIENCE)
            except TimeoutError:
                log.warning("commit waiting for %d table writes to reach the producer", self.unsent)


class DurableProducer(faust_aiokafka.Producer):
    """Faust's aiokafka producer with a `DurableProducerBuffer`, and a flush that fails (so no
    offset is committed) once any record it sent was not delivered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.app.conf.producer_threaded:
            raise RuntimeError("producer_threaded is not supported: its buffer bypasses the durable flush")
        # PRIVATE API: Producer.__init__ builds a plain ProducerBuffer; replaced before it starts.
        self.buffer = DurableProducerBuffer(loop=self.loop, beacon=self.beacon)
        self.buffer.app = self.app
        self.undelivered = 0

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        delivery = await super().send(*args, **kwargs)
        delivery.add_done_callback(self._count_undelivered)
        return delivery

    def _count_undelivered(self, delivery: asyncio.Future) -> None:
        if delivery.cancelled() or delivery.exception() is not None:
            self.undelivered += 1

    async def flush(self) -> None:
        await super().flush()
        if self.undelivered:
            # Faust only logs a failed delivery; committing after one would mark lost work done.
            raise ProducerSendError(f"{self.undelivered} records were not delivered; offsets are not committed")


class SafeConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer that resumes stream partitions only once they are sought to
    their committed offsets, delivers the verified topics' records in unbroken offset order and
    commits them only from their exact committed offset onwards."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seek_pending = False  # from an assignment until its stream partitions are sought
        self.held: set[TP] = set()  # stream partitions Faust resumed before that seek
        self.verified_topics: frozenset[str] = getattr(self.transport, "verified_topics", frozenset())
        self.next_offset: dict[TP, int] = {}  # the next offset to deliver, per verified partition
        self.start_offset: dict[TP, int] = {}  # where this assignment started, when nothing is committed
        self.rewound: set[TP] = set()  # partitions sent back to their first missing offset
        self.last_committed: dict[TP, int | None] = {}

    def _verifies(self, tp: TP) -> bool:
        return tp.topic in self.verified_topics

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        # PRIVATE API: ThreadDelegateConsumer._new_consumer_thread.
        return ShortWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:  # type: ignore[override]
        self._resume_forgotten_partitions()
        confirming = set(self.rewound)  # rewound before this fetch: its first record confirms a gap
        async for tp, message in super().getmany(timeout):
            if self._verifies(tp) and not await self._in_sequence(tp, message.offset, tp in confirming):
                continue
            yield tp, message

    def _resume_forgotten_partitions(self) -> None:
        """Resume a stream partition still paused once the rebalance is over.

        Faust pauses stream partitions only for a rebalance, and its recovery resumes all of them
        (through `resume_partitions`, held here until the seek) before it ends the rebalance. A
        CI run once ended with one EOB partition paused for good after a worker took over from
        a killed one: nothing lost (its offset was not committed past), but nothing read either.
        Once the rebalance has ended and this consumer has sought, such a partition is resumed.
        PRIVATE API: Consumer._get_active_partitions (the partitions it fetches),
        Consumer._is_changelog_tp, App.rebalancing."""
        if self.seek_pending or not self.flow_active or self.app.rebalancing:
            return
        try:
            assigned = self.assignment()
        except ConsumerNotStarted:
            return
        active = self._get_active_partitions()
        stuck = {tp for tp in assigned if tp not in active and not self._is_changelog_tp(tp)}
        if stuck:
            log.warning("%d stream partition(s) still paused after the rebalance; resuming them", len(stuck))
            super().resume_partitions(stuck)

    async def _in_sequence(self, tp: TP, offset: int, confirming: bool) -> bool:
        """Whether the record at `offset` may be delivered now; rewinds the partition when not."""
        expected = self.next_offset.get(tp)
        if expected is None:
            # A partition no longer ours (Faust seeks every assigned one before resuming the flow).
            log.debug("%s: record at offset %d from outside the assignment not delivered", tp, offset)
            return False
        if offset < expected:
            return True  # read again: Faust's own read-offset check drops or redelivers it
        if offset > expected:
            if not (confirming and tp in self.rewound):
                await self._rewind(tp, expected, offset)
                return False
            # Fetched from the first missing offset itself, and the broker skipped past it.
            log.info("%s: no records at offsets %d-%d (transaction markers or compaction)", tp, expected, offset - 1)
            # PRIVATE API: Consumer._gap, the intervals Faust counts as acknowledged.
            self._gap[tp].addi(expected, offset)
        self.rewound.discard(tp)
        self.next_offset[tp] = offset + 1
        return True

    async def _rewind(self, tp: TP, expected: int, offset: int) -> None:
        if tp not in self.rewound:
            log.warning("%s: offset %d delivered before %d; reading again from %d", tp, offset, expected, expected)
            self.rewound.add(tp)
            await self.seek_wait({tp: expected})

    async def seek_to_committed(self) -> Mapping[TP, int]:
        found = await super().seek_to_committed()
        self.last_committed = dict(found)
        return found

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        self.seek_pending, self.held = True, set()
        await super().on_partitions_assigned(assigned, generation_id)

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        tps = set(tps)
        if self.seek_pending:
            # PRIVATE API: Consumer._is_changelog_tp (the changelogs are read to recover, unsought).
            streams = {tp for tp in tps if not self._is_changelog_tp(tp)}
            self.held |= streams
            tps -= streams
        if tps:
            super().resume_partitions(tps)

    async def perform_seek(self) -> None:
        await self._seek_to_start()
        self.seek_pending = False
        held, self.held = self.held & set(self.assignment()), set()
        if held:
            super().resume_partitions(held)

    async def _seek_to_start(self) -> None:
        self.last_committed = {}
        await super().perform_seek()
        verified = [tp for tp in self.assignment() if self._verifies(tp)]
        earliest = await self.earliest_offsets(*verified) if verified else {}
        for tp in verified:
            committed = self.last_committed.get(tp)
            start = committed if committed is not None and committed >= 0 else earliest[tp]
            if not committed and await self.position(tp) != start:
                # aiokafka seeks only to a committed offset above 0; anything else starts here.
                await self.seek_wait({tp: start})
            self.next_offset[tp] = self.start_offset[tp] = start
            self.rewound.discard(tp)

    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)
        if self._verifies(partition):
            self.next_offset[partition] = offset

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self.next_offset.pop(tp, None)
            self.start_offset.pop(tp, None)
            self.rewound.discard(tp)
        await super().on_partitions_revoked(revoked)

    # PRIVATE API: Consumer._add_gap, Faust's guess of a gap from its read offset.
    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        if not self._verifies(tp):  # verified partitions record only the gaps the broker confirmed
            await super()._add_gap(tp, offset_from, offset_to)

    # PRIVATE API: Consumer._new_offset, the offset a commit may move a partition to.
    def _new_offset(self, tp: TP) -> int | None:
        if not self._verifies(tp):
            return super()._new_offset(tp)
        acked = self._acked[tp]
        if not acked:
            return None
        acked.extend(self._confirmed_gaps_below(tp, max(acked)))
        acked.sort()
        floor = self._committed_offset[tp]
        if floor is None:
            floor = self.start_offset.get(tp)
        if floor is None or acked[0] != floor:
            return None  # the next offset to commit has not been processed
        done = next(consecutive_numbers(acked))
        acked[: len(done)] = []
        self._acked_index[tp].difference_update(done)
        return done[-1] + 1

    def _confirmed_gaps_below(self, tp: TP, highest: int) -> list[int]:
        gaps = self._gap[tp]
        if not gaps:
            return []
        below = sorted(gaps.overlap(0, highest), key=lambda gap: gap.begin)
        offsets = [offset for gap in below for offset in range(gap.begin, gap.end)]
        if offsets:
            gaps.chop(0, offsets[-1] + 1)
        return offsets


class FlushingTransactionManager(TransactionManager):
    """exactly_once: the outputs go out through the non-transactional producer; flush it before
    the transactional commit of the offsets, as the at-least-once commit does."""

    async def commit(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        await self.producer.flush()
        return await super().commit(offsets, start_new_transaction=start_new_transaction)


class ShortWaitConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread with a shorter fetch long-poll than Faust's hard-coded 1500 ms.

    aiokafka keeps one fetch in flight per broker, and a partition whose records are still
    buffered is left out of the next fetch. So while the busy partitions' records are being
    processed, the fetch in flight asks only for idle ones (reference data, `remittance.x12`)
    and waits its whole `fetch_max_wait_ms` for them; the busy partitions' new records wait
    behind it. With one broker that made each hop wait up to 1.5 s under load (the latency
    plateau in docs/PERFORMANCE.md). A short wait costs only more empty fetches while idle."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(self.transport, "fetch_max_wait_ms", None)
        if wait_ms is not None:
            # PRIVATE API: AIOKafkaConsumer._fetch_max_wait_ms, read when its Fetcher is made at
            # start(); Faust passes a literal 1500 to the constructor.
            consumer._fetch_max_wait_ms = wait_ms
        return consumer


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with the safeguards above."""

    Consumer = SafeConsumer
    Producer = DurableProducer
    TransactionManager = FlushingTransactionManager

    def __init__(
        self, url: Any, app: faust.App, verified_topics: Iterable[str] = (), fetch_max_wait_ms: int | None = None
    ) -> None:
        super().__init__(url, app)
        self.verified_topics = frozenset(verified_topics)
        self.fetch_max_wait_ms = fetch_max_wait_ms


def install(app: faust.App, verified_topics: Iterable[str], fetch_max_wait_ms: int | None = None) -> None:
    """Give `app` the safe transport; `verified_topics` (full names) are the ones read in unbroken
    offset order; `fetch_max_wait_ms` replaces Faust's 1500 ms fetch long-poll. Call before
    anything touches `app.transport`, `app.consumer` or `app.producer`."""
    topics = frozenset(verified_topics)
    app.transport = Transport(app.conf.broker_consumer, app, topics, fetch_max_wait_ms)
    app.producer_transport = Transport(app.conf.broker_producer, app, topics, fetch_max_wait_ms)


def committed_offset(app: faust.App, topic: str, partition: int) -> int | None:
    """The offset this worker last committed for a partition of `topic` (None when none)."""
    # PRIVATE API: Consumer._committed_offset.
    return app.consumer._committed_offset.get(TP(topic, partition))


async def refresh_metadata(consumer: Any) -> None:
    """Ask the cluster again which topics and partitions exist (aiokafka caches it)."""
    # PRIVATE API: AIOKafkaConsumer/AIOKafkaProducer._client.
    await consumer._client.force_metadata_update()


async def cluster_metadata(consumer: Any) -> Any:
    """The cluster's current metadata (every topic and its partitions), fetched now."""
    # PRIVATE API: AIOKafkaConsumer._client.
    return await consumer._client.fetch_all_metadata()


async def open_connection(host: str, port: int, **options: Any) -> Any:
    """One bare Kafka connection with these options (bootstrapping would swallow its error)."""
    # PRIVATE API: aiokafka.conn.create_conn.
    return await create_conn(host, port, **options)


# ---- Reads for the worker's /metrics page (streams/metrics.py) -----------------------------------
# Read when Prometheus scrapes, on the event loop of the web server and the agents. The consumer's
# fetch state belongs to Faust's consumer thread: these are plain reads of values it keeps, taken
# as they stand (a partition taken away meanwhile is left out).


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """Records of one assigned stream partition not yet processed (and committed)."""

    topic: str  # the full name, with the environment's prefix
    partition: int
    lag: int


@dataclass(frozen=True, slots=True)
class ChangelogRecovery:
    """How far one active partition of a table has been recovered from its changelog."""

    table: str
    partition: int
    recovered_offset: int  # the last changelog offset applied to the local store (-1: none)
    end_offset: int  # the last changelog offset to apply (-1: an empty changelog)

    @property
    def remaining(self) -> int:
        return max(0, self.end_offset - self.recovered_offset)


@dataclass(frozen=True, slots=True)
class TableRecovery:
    in_progress: bool
    partitions: tuple[ChangelogRecovery, ...]


def consumer_lag(app: faust.App) -> list[PartitionLag]:
    """Each stream partition assigned to this worker: its highwater (as of the consumer's last
    fetch) minus the offset this worker committed, or minus the consumer's fetch position while
    nothing is committed for it yet. Changelog partitions (table recovery) and partitions whose
    highwater the consumer has not fetched yet are left out."""
    consumer = app.consumer
    changelogs = app.tables.changelog_topics
    found = []
    for tp in consumer.assignment():
        if tp.topic in changelogs:
            continue
        try:
            highwater = consumer.highwater(tp)
            done = committed_offset(app, tp.topic, tp.partition)
            if done is None:
                done = _fetch_position(consumer, tp)
        except (AssertionError, AttributeError):  # unassigned while we looked
            continue
        if highwater is not None and done is not None:
            found.append(PartitionLag(tp.topic, tp.partition, max(0, highwater - done)))
    return found


def _fetch_position(consumer: Any, tp: TP) -> int | None:
    """The next offset the consumer will fetch from a partition (None when it has none yet)."""
    # PRIVATE API: Faust's consumer thread (_thread) and aiokafka's subscription state (the
    # synchronous read behind AIOKafkaConsumer.position(), which may wait for a reset).
    state = consumer._thread._ensure_consumer()._subscription.subscription.assignment.state_value(tp)
    return state.position if state is not None and state.has_valid_position else None


def table_recovery(app: faust.App) -> TableRecovery:
    """Whether the worker is recovering its tables from their changelogs, and how far each
    active changelog partition has come."""
    recovery = app.tables.recovery
    # PRIVATE API: Recovery.in_recovery, active_tps, tp_to_table, active_offsets, active_highwaters.
    offsets, highwaters, tables = recovery.active_offsets, recovery.active_highwaters, recovery.tp_to_table
    partitions = []
    for tp in list(recovery.active_tps):
        table, offset, highwater = tables.get(tp), offsets.get(tp), highwaters.get(tp)
        if table is not None and offset is not None and highwater is not None:
            partitions.append(ChangelogRecovery(table.name, tp.partition, offset, highwater))
    return TableRecovery(bool(recovery.in_recovery), tuple(sorted(partitions, key=lambda p: (p.table, p.partition))))


# ---- The bulk restore of the claims table before Faust starts (streams/restore.py) ------------


class _ChangelogMessage:
    """The part of a Faust Message that `Store.apply_changelog_batch` reads."""

    __slots__ = ("key", "offset", "partition", "tp", "value")

    def __init__(self, tp: TP, record: Any) -> None:
        self.tp, self.partition, self.offset = tp, tp.partition, record.offset
        self.key, self.value = record.key, record.value


class _ChangelogEvent:
    __slots__ = ("message",)

    def __init__(self, message: _ChangelogMessage) -> None:
        self.message = message


def apply_changelog_records(table: Any, tp: Any, records: list[Any]) -> None:
    """Write aiokafka records of the changelog into the table's store exactly as Faust's recovery
    does, and persist the partition's last offset.
    PRIVATE API: `apply_changelog_batch` is the store's public method, but it is given stand-ins
    for Faust's events, carrying only the attributes the RocksDB store reads (tp, partition,
    offset, key, value); a store that read more would fail loudly, not write wrong data."""
    faust_tp = TP(tp.topic, tp.partition)
    table.data.apply_changelog_batch(
        [_ChangelogEvent(_ChangelogMessage(faust_tp, r)) for r in records], to_key=None, to_value=None
    )


def close_table_partitions(table: Any) -> None:
    """Close every partition database the bulk restore opened, so that Faust opens only those it
    is assigned, in its own way.
    PRIVATE API: faust/stores/rocksdb.py `Store._dbs` (partition -> open database)."""
    dbs = getattr(table.data, "_dbs", None)
    if dbs is None:
        return
    for partition in list(dbs):
        db = dbs.pop(partition)
        close = getattr(db, "close", None)
        if close is not None:
            close()
