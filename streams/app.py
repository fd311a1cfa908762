"""The Faust app, its topics and its claims table, and the `Worker` that holds them: built by
`agents.build_worker(settings)`, never at import time. It knows Kafka and nothing about COB.
"""

from __future__ import annotations

import ssl
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import faust
from faust.types import TopicT

from models.cob.claim import ClaimState
from models.contract import topics as names
from streams.claim_writer import ClaimWriter
from streams.codec import ClaimRecord, Utf8, claim_event_codec, claim_record_codec
from streams.kafka_internals import install
from streams.reference import ReferenceReader
from streams.settings import Settings
from streams.topics import LARGE_MESSAGES, MAX_WRITTEN_BYTES

RAW = "raw"


def broker_credentials(settings: Settings) -> object | None:
    security = settings.security
    context: ssl.SSLContext | None = None
    if "SSL" in security.protocol:
        context = security.aiokafka_options()["ssl_context"]  # type: ignore[assignment]
    if "SASL" in security.protocol:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            mechanism=security.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.group_id,
        broker=[f"kafka://{b}" for b in settings.broker_list],
        broker_credentials=broker_credentials(settings),
        store=settings.store,
        datadir=str(settings.state_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        processing_guarantee=settings.processing_guarantee,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=max(0.3, settings.session_timeout / 10),
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_enabled=True,
        # Only the health index at "/": no table views (they would serve claim state), no
        # key routing, no graph or statistics pages.
        web_tables_enabled=False,
        web_router_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        table_cleanup_interval=settings.timer_interval,
        key_serializer=RAW,
        value_serializer=RAW,
        producer_max_request_size=MAX_WRITTEN_BYTES,
        # Batch what one burst of claim events writes (changelog, outcomes) into fewer requests.
        producer_linger=0.005,
        # How far the consumer reads ahead: throughput against memory (docs/PERFORMANCE.md).
        consumer_max_fetch_size=settings.consumer_max_fetch_bytes,
        broker_max_poll_records=settings.max_poll_records or None,
        stream_buffer_maxsize=settings.stream_buffer_maxsize,
    )
    # Commits only what is durable and was processed (streams/kafka_internals.py): the claim
    # events and every claim input (EOBs, submissions, X12) are read in unbroken offset order.
    # Not under exactly_once, where read_committed makes offset jumps normal and the rewinds were
    # seen to mis-confirm a gap over a real record (docs/RELIABILITY.md).
    verified = (
        () if settings.processing_guarantee == "exactly_once" else (names.CLAIM_EVENTS, *names.CLAIM_INPUT_TOPICS)
    )
    install(app, [settings.topic(name) for name in verified], settings.fetch_max_wait_ms)
    return app


RECENT_RECORDS = 1_000  # decoded claim records the claims table keeps in memory (ClaimTable)


class ClaimTable:
    """The claims table with `ClaimRecord` values (stored as their JSON, through the codec).

    The records of recently touched claims stay decoded in memory (a bounded LRU), so that a
    claim's next event, a duplicate or a timer tick skips the RocksDB read and the JSON
    validation. Only the claims agent writes a claim, on the partition it owns, so the cache is
    exact; it is dropped whenever partitions are reassigned.

    It holds RECENT_RECORDS records: every one is about 90 objects the garbage collector walks in
    each full collection. At 10,000 a full collection paused the worker for about a second (the
    latency p99 went to 1.9-2.2 s); at 1,000 it takes about 0.12 s, for about 13 % less throughput
    in the bench's backlog, whose claims' two EOBs are read close together (docs/PERFORMANCE.md).
    A live secondary EOB comes days after its primary, long after any cache has let it go.
    """

    def __init__(self, table: faust.Table, cached: int = RECENT_RECORDS) -> None:
        self.table = table
        self.cached = cached
        self._recent: OrderedDict[str, ClaimRecord] = OrderedDict()

    def get(self, claim_id: str) -> ClaimRecord | None:
        record = self._recent.get(claim_id)
        if record is not None:
            self._recent.move_to_end(claim_id)
            return record
        # From the table's store: the table's own get looks the key up in RocksDB twice (Faust's
        # Table has a __missing__, so its __getitem__ asks `key in store` before `store[key]`).
        raw = self.table.data.get(claim_id.encode())
        return claim_record_codec.loads(raw) if raw is not None else None

    def put(self, record: ClaimRecord) -> None:
        # Assignment, not mutation: only a reassigned value reaches the changelog.
        claim_id = record.state.claim_id
        self.table[claim_id.encode()] = claim_record_codec.dumps(record)
        self._recent[claim_id] = record
        self._recent.move_to_end(claim_id)
        if len(self._recent) > self.cached:
            self._recent.popitem(last=False)

    def delete(self, claim_id: str) -> None:
        self._recent.pop(claim_id, None)
        del self.table[claim_id.encode()]

    def forget_cached(self) -> None:
        self._recent.clear()

    def states(self) -> Iterator[ClaimState]:
        for raw in self.table.values():
            yield claim_record_codec.loads(raw).state

    def __len__(self) -> int:
        return len(self.table)


@dataclass(frozen=True)
class Topics:
    """The topics the worker writes: the claim-events topic (which its claims agent also reads)
    and the outputs by contract name."""

    claim_events: TopicT
    outputs: dict[str, TopicT]


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    return Topics(
        claim_events=app.topic(
            settings.topic(names.CLAIM_EVENTS),
            key_serializer=Utf8(),
            value_serializer=claim_event_codec,
            partitions=settings.partitions,
            internal=True,
            config=LARGE_MESSAGES,
        ),
        outputs={
            name: app.topic(settings.topic(name), key_serializer=Utf8(), value_serializer=RAW)
            for name in names.OUTPUT_TOPICS
        },
    )


def declare_claims_table(app: faust.App, settings: Settings) -> ClaimTable:
    """The claims table: claim records by claim id, co-partitioned with the claim-events topic."""
    return ClaimTable(
        app.Table(
            "claims",
            partitions=settings.partitions,
            key_type=bytes,
            value_type=bytes,
            extra_topic_configs=LARGE_MESSAGES,
            # RocksDB per partition. Faust's defaults (a 2 GiB block cache, 3 x 64 MiB write
            # buffers) let a full scan of the table (the deadline index's rebuild) grow the
            # worker by GBs.
            options={
                "block_cache_size": 32 * 1024**2,
                "block_cache_compressed_size": 8 * 1024**2,
                "write_buffer_size": 16 * 1024**2,
                "max_write_buffer_number": 2,
            },
            help="Claim state by claim id: current EOBs, outcomes so far, timers fired.",
        )
    )


@dataclass
class Worker:
    """One worker process: its settings, the Faust app with its topics and claims table, the
    reference data it reads, and the claims' one write path. `agents.build_worker` builds it and
    registers the agents on it."""

    settings: Settings
    app: faust.App
    topics: Topics
    claims: ClaimTable
    reference: ReferenceReader
    writer: ClaimWriter

    def serving(self) -> bool:
        """Claims can be looked at: not rebalancing, the claims table recovered, the reference
        data read (the timer, the deadline index's rebuild and the explanation page ask this)."""
        app = self.app
        return not app.rebalancing and app.tables.recovery.completed.is_set() and self.reference.caught_up.is_set()
