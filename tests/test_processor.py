"""The claim processor (models/cob/processor.py) driven over a dict, replay's engine over it, and the
worker's write path (streams/claim_writer.py) over a fake claims table: no broker, no Faust app."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import faust
import orjson
import pytest
from builders import eob, profile, secondary_line

import streams.claim_writer
from cobstream.engine import Engine
from models.cob.census import ClaimCensus
from models.cob.claim import ClaimState, EobReceived
from models.cob.processor import DEFAULT_RETENTION, Change, InMemoryClaims, Published
from models.cob.reference import Reference
from models.contract.events import PayerProfile
from models.contract.outcomes import event_json
from models.contract.topics import CLAIM_EVENTS, PRIMARY, SECONDARY
from models.remittance.decode import decode
from streams.app import ClaimTable
from streams.claim_writer import ClaimWriter
from streams.codec import ClaimEvent, ClaimRecord, OutboxEntry, Place, claim_partition, claim_record_codec

PRIMARY_AT = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
SECONDARY_AT = datetime(2026, 3, 24, 15, 0, tzinfo=UTC)
RETENTION = timedelta(days=180)
WAIT = timedelta(days=30)  # a payer's secondary_wait_days without a profile


def received(value: dict, topic: str) -> EobReceived:
    decoded = decode(topic, value["claim_id"], json.dumps(value))
    assert isinstance(decoded, EobReceived), decoded
    return decoded


def primary(event_id: str = "P1", claim_id: str = "CLM-1") -> EobReceived:
    return received(eob(event_id, claim_id=claim_id), "eob.primary")


def secondary(event_id: str = "S1", claim_id: str = "CLM-1") -> EobReceived:
    value = eob(
        event_id,
        claim_id=claim_id,
        payer_id="AETNA",
        at=SECONDARY_AT.isoformat(),
        secondary_payer_id=None,
        lines=[secondary_line()],
    )
    return received(value, "eob.secondary")


class RecordingClaims(InMemoryClaims):
    """The dict driver, remembering every write and delete (`store`: the name these tests use)."""

    def __init__(self, reference: Reference, retention: timedelta = RETENTION) -> None:
        super().__init__(reference, retention)
        self.writes: list[tuple[str, int, list[str]]] = []
        self.deletes: list[str] = []

    @property
    def store(self) -> RecordingClaims:
        return self

    def get(self, claim_id: str) -> ClaimState | None:
        return self.claims.get(claim_id)

    def commit(self, change: Change) -> Change:
        if change.written and change.after is None:
            self.deletes.append(change.claim_id)
        elif change.written and change.after is not None:
            self.writes.append((change.claim_id, change.after.revision, [p.topic for p in change.published]))
        return super().commit(change)


@pytest.fixture
def profiles() -> dict[str, PayerProfile]:
    return {}


@pytest.fixture
def processor(profiles: dict[str, PayerProfile]) -> RecordingClaims:
    return RecordingClaims(Reference(profiles, {}))


def topics(published: list[Published]) -> list[str]:
    return [p.topic for p in published]


def reconciled(processor: RecordingClaims) -> None:
    processor.on_eob(primary(), PRIMARY_AT)
    processor.on_eob(secondary(), SECONDARY_AT)


# ---- the processor with a dict store ----------------------------------------------------------


def test_an_eob_then_its_secondary_publishes_the_estimate_then_billing_ready(processor: RecordingClaims) -> None:
    first = processor.on_eob(primary(), PRIMARY_AT)
    assert (topics(first.published), first.moves_clock) == (["secondary.expected"], True)
    second = processor.on_eob(secondary(), SECONDARY_AT)
    assert topics(second.published) == ["billing.ready"]
    ready = second.published[0]
    assert (ready.key, ready.value.claim_id, ready.value.revision, ready.value.status) == ("CLM-1", "CLM-1", 2, "ready")
    stored = processor.store.get("CLM-1")
    assert stored is not None
    assert stored.standing_ready == ready.value
    assert processor.store.writes == [("CLM-1", 1, ["secondary.expected"]), ("CLM-1", 2, ["billing.ready"])]


def test_a_duplicate_eob_changes_nothing_and_is_not_stored(processor: RecordingClaims) -> None:
    reconciled(processor)
    writes = list(processor.store.writes)
    again = processor.on_eob(primary(), SECONDARY_AT + timedelta(days=1))
    assert (again.published, again.moves_clock) == ([], False)
    assert processor.store.writes == writes


def test_a_tick_fires_the_secondary_overdue_timeout_once_when_it_is_due(processor: RecordingClaims) -> None:
    processor.on_eob(primary(), PRIMARY_AT)
    assert processor.due(PRIMARY_AT + WAIT - timedelta(seconds=1)) == []
    assert processor.due(PRIMARY_AT + WAIT) == ["CLM-1"]
    fired = processor.on_tick("CLM-1", PRIMARY_AT + WAIT)
    assert topics(fired) == ["billing.discrepancy"]
    assert (fired[0].value.kind, fired[0].value.revision) == ("secondary_overdue", 2)
    assert processor.fire_due(PRIMARY_AT + 2 * WAIT) == []  # fired once: nothing is armed any more


def test_fire_due_ticks_claims_in_deadline_order(processor: RecordingClaims) -> None:
    processor.on_eob(primary("P2", claim_id="CLM-2"), PRIMARY_AT)
    processor.on_eob(received(eob("P1", claim_id="CLM-1", at="2026-03-11T15:00:00Z"), "eob.primary"), PRIMARY_AT)
    fired = processor.fire_due(PRIMARY_AT + 2 * WAIT)
    assert [(p.key, p.value.kind) for p in fired] == [("CLM-2", "secondary_overdue"), ("CLM-1", "secondary_overdue")]


def test_a_reconciled_claim_is_forgotten_when_its_retention_ends(processor: RecordingClaims) -> None:
    reconciled(processor)
    assert processor.fire_due(SECONDARY_AT + RETENTION - timedelta(seconds=1)) == []
    assert processor.store.get("CLM-1") is not None
    assert processor.fire_due(SECONDARY_AT + RETENTION) == []
    assert processor.store.get("CLM-1") is None
    assert processor.store.deletes == ["CLM-1"]
    # Forgotten: the same EOB is new to it and starts the claim again at revision 1.
    again = processor.on_eob(primary(), SECONDARY_AT + RETENTION)
    assert [(p.topic, p.value.revision) for p in again.published] == [("secondary.expected", 1)]


def test_retention_waits_for_a_pending_timeout(processor: RecordingClaims) -> None:
    short = RecordingClaims(processor.reference, timedelta(days=1))
    short.on_eob(primary(), PRIMARY_AT)
    assert short.fire_due(PRIMARY_AT + timedelta(days=2)) == []
    assert short.store.get("CLM-1") is not None  # the overdue timeout is still to fire
    assert topics(short.fire_due(PRIMARY_AT + WAIT)) == ["billing.discrepancy"]
    assert short.store.get("CLM-1") is not None  # it published: kept until the next look
    assert short.fire_due(PRIMARY_AT + WAIT + timedelta(seconds=1)) == []
    assert short.store.get("CLM-1") is None


def test_a_tick_for_a_forgotten_or_unknown_claim_does_nothing(processor: RecordingClaims) -> None:
    assert processor.on_tick("CLM-NEVER", PRIMARY_AT) == []
    reconciled(processor)
    processor.fire_due(SECONDARY_AT + RETENTION)
    assert processor.on_tick("CLM-1", SECONDARY_AT + 2 * RETENTION) == []
    assert processor.store.claims == {}
    assert processor.store.deletes == ["CLM-1"]


def test_a_tick_that_finds_nothing_due_keeps_the_timeout_armed(
    processor: RecordingClaims, profiles: dict[str, PayerProfile]
) -> None:
    processor.on_eob(primary(), PRIMARY_AT)
    assert processor.due(PRIMARY_AT + WAIT) == ["CLM-1"]
    # The payer's wait grows between the index naming the claim and the claim's tick.
    profiles["AETNA"] = PayerProfile.model_validate(profile("AETNA", secondary_wait_days=60))
    assert processor.on_tick("CLM-1", PRIMARY_AT + WAIT) == []
    assert processor.due(PRIMARY_AT + 2 * WAIT) == ["CLM-1"]


def test_rebuild_indexes_the_deadlines_from_the_claims(processor: RecordingClaims) -> None:
    for n in range(1, 1202):
        processor.on_eob(primary(f"P{n}", claim_id=f"CLM-{n}"), PRIMARY_AT)
    restarted = RecordingClaims(processor.reference)  # a new owner of the same claims
    restarted.claims = processor.claims
    assert restarted.due(PRIMARY_AT + WAIT) == []
    assert list(restarted.rebuild()) == [500, 1000]  # a chance for others every 500 claims
    assert len(restarted.due(PRIMARY_AT + WAIT)) == 1201


def test_apply_routes_an_eob_and_a_tick(processor: RecordingClaims) -> None:
    assert topics(processor.apply("CLM-1", primary(), PRIMARY_AT)) == ["secondary.expected"]
    tick = ClaimEvent(kind="tick", claim_id="CLM-1", at=PRIMARY_AT + WAIT)
    assert topics(processor.apply("CLM-1", tick.for_the_core(), tick.at)) == ["billing.discrepancy"]


# ---- replay's engine --------------------------------------------------------------------------


def test_replay_forgets_a_claim_after_the_workers_default_retention() -> None:
    assert timedelta(days=180) == DEFAULT_RETENTION
    engine = Engine()
    for topic, value in [("eob.primary", eob("P1")), ("eob.secondary", secondary_value())]:
        engine.receive(topic, value["claim_id"], json.dumps(value))
    assert engine.advance(SECONDARY_AT + DEFAULT_RETENTION - timedelta(seconds=1)) == []
    assert "CLM-1" in engine.claims
    assert engine.advance(SECONDARY_AT + DEFAULT_RETENTION) == []
    assert engine.claims == {}


def secondary_value() -> dict:
    return eob("S1", payer_id="AETNA", at=SECONDARY_AT.isoformat(), secondary_payer_id=None, lines=[secondary_line()])


# ---- the worker's shell over a fake claims table ----------------------------------------------


class FakeTable:
    """The claims table as `streams.app.ClaimTable` behaves, in a dict of records."""

    def __init__(self) -> None:
        self.records: dict[str, ClaimRecord] = {}
        self.puts = 0

    def get(self, claim_id: str) -> ClaimRecord | None:
        return self.records.get(claim_id)

    def put(self, record: ClaimRecord) -> None:
        self.puts += 1
        self.records[record.state.claim_id] = record

    def delete(self, claim_id: str) -> None:
        del self.records[claim_id]

    def states(self):  # type: ignore[no-untyped-def]
        return (record.state for record in list(self.records.values()))


def test_a_claim_read_from_the_table_is_looked_up_once_in_its_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ClaimTable.get` on a claim not in its cache reads the store once: Faust's table would ask
    the store whether it holds the key before reading it (two RocksDB reads a claim)."""
    store_table = faust.App("claims-table-test", store="memory://").Table("claims", key_type=bytes, value_type=bytes)
    record = ClaimRecord(state=ClaimState(claim_id="CLM-1", revision=3), applied_offsets={PRIMARY: 7})
    store_table.data[b"CLM-1"] = claim_record_codec.dumps(record)
    store = type(store_table.data)
    reads: list[object] = []
    monkeypatch.setattr(store, "__contains__", lambda self, key: pytest.fail("the store was asked for the key twice"))
    monkeypatch.setattr(store, "__getitem__", lambda self, key: reads.append(key) or self.data[key])
    table = ClaimTable(store_table)
    assert table.get("CLM-1") == record
    assert table.get("CLM-2") is None
    assert reads == [b"CLM-1", b"CLM-2"]


class Worker:
    """The write path wired as agents/__init__.py wires it, with a settable commit."""

    def __init__(self, retention: timedelta = RETENTION) -> None:
        self.table = FakeTable()
        self.committed: dict[str, int] = {}  # by topic; -1 when none
        self.writer = ClaimWriter(
            self.table,
            Reference({}, {}),
            retention,
            lambda topic, partition: self.committed.get(topic, -1),
            ClaimCensus(),
        )

    def eob(
        self, event: EobReceived, offset: int, at: datetime, topic: str = CLAIM_EVENTS
    ) -> tuple[tuple[str, str], ...]:
        claim_event = ClaimEvent(kind="eob", claim_id=event.eob.claim_id, at=at, role=event.role, eob=event.eob)
        return self.writer.write(claim_event, Place(topic, 0, offset))

    def tick(self, claim_id: str, offset: int, at: datetime) -> tuple[tuple[str, str], ...]:
        return self.writer.write(ClaimEvent(kind="tick", claim_id=claim_id, at=at), Place(CLAIM_EVENTS, 0, offset))


def test_the_worker_publishes_what_replay_publishes_and_keeps_it_in_the_outbox() -> None:
    worker = Worker()
    events = worker.eob(primary(), 0, PRIMARY_AT)
    replayed = InMemoryClaims(Reference({}, {}), RETENTION).on_eob(primary(), PRIMARY_AT).published
    assert events == tuple((p.topic, p.kind, event_json(p.value).decode()) for p in replayed)
    assert [topic for topic, _, _ in events] == ["secondary.expected"]
    record = worker.table.get("CLM-1")
    assert record is not None
    assert (record.applied_offsets, record.outbox) == ({CLAIM_EVENTS: 0}, (OutboxEntry(offset=0, events=events),))


def test_a_redelivered_claim_event_publishes_exactly_the_same_without_deciding_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = Worker()
    first = worker.eob(primary(), 3, PRIMARY_AT)
    decided: list[str] = []
    process = streams.claim_writer.process
    monkeypatch.setattr(
        streams.claim_writer,
        "process",
        lambda state, claim_id, *rest: decided.append(claim_id) or process(state, claim_id, *rest),
    )
    puts, record = worker.table.puts, worker.table.records["CLM-1"]
    assert worker.eob(primary(), 3, PRIMARY_AT + timedelta(hours=1)) == first
    assert worker.eob(primary(), 2, PRIMARY_AT) == ()  # an older offset: it published nothing
    assert decided == []
    # Each redelivery writes the same record again, so that the changelog has what the local
    # state has (docs/RELIABILITY.md, hazard 4).
    assert worker.table.puts == puts + 2
    assert worker.table.records["CLM-1"] == record
    worker.eob(primary(), 4, PRIMARY_AT)  # a new offset is decided
    assert decided == ["CLM-1"]


def test_an_upstream_duplicate_at_a_new_offset_publishes_nothing_and_writes_nothing() -> None:
    worker = Worker()
    worker.eob(primary(), 0, PRIMARY_AT)
    puts = worker.table.puts
    assert worker.eob(primary(), 1, PRIMARY_AT) == ()
    assert worker.table.puts == puts
    assert worker.table.records["CLM-1"].applied_offsets == {CLAIM_EVENTS: 0}


def test_the_outbox_is_pruned_below_the_committed_offset() -> None:
    worker = Worker()
    worker.eob(primary(), 0, PRIMARY_AT)
    worker.committed[CLAIM_EVENTS] = 1
    worker.eob(secondary(), 1, SECONDARY_AT)
    assert [entry.offset for entry in worker.table.records["CLM-1"].outbox] == [1]
    worker.committed[CLAIM_EVENTS] = 2
    worker.tick("CLM-1", 2, SECONDARY_AT + timedelta(days=1))  # nothing due: nothing written
    assert [entry.offset for entry in worker.table.records["CLM-1"].outbox] == [1]


def test_the_worker_forgets_a_claim_on_the_tick_after_its_retention() -> None:
    worker = Worker()
    worker.eob(primary(), 0, PRIMARY_AT)
    worker.eob(secondary(), 1, SECONDARY_AT)
    assert worker.writer.due(SECONDARY_AT + RETENTION) == ["CLM-1"]
    assert worker.tick("CLM-1", 2, SECONDARY_AT + RETENTION) == ()
    assert worker.table.records == {}
    assert worker.tick("CLM-1", 3, SECONDARY_AT + RETENTION) == ()  # a second tick: nothing to do
    assert worker.table.records == {}


# ---- the direct input path: claim events read from several topics ------------------------------


def test_offsets_of_different_topics_are_told_apart() -> None:
    """On the direct path a claim's events come from several topics, whose offsets are unrelated:
    an EOB at offset 0 of eob.secondary is new after eob.primary's offset 7 was applied."""
    worker = Worker()
    estimate = worker.eob(primary(), 7, PRIMARY_AT, topic=PRIMARY)
    ready = worker.eob(secondary(), 0, SECONDARY_AT, topic=SECONDARY)
    assert [topic for topic, _, _ in ready] == ["billing.ready"]
    record = worker.table.records["CLM-1"]
    assert record.applied_offsets == {PRIMARY: 7, SECONDARY: 0}
    # Each topic's redelivery publishes exactly what that place published.
    assert worker.eob(primary(), 7, PRIMARY_AT, topic=PRIMARY) == estimate
    assert worker.eob(secondary(), 0, SECONDARY_AT, topic=SECONDARY) == ready
    assert worker.table.records["CLM-1"] == record


def test_the_outbox_is_pruned_per_topic() -> None:
    worker = Worker()
    worker.eob(primary(), 4, PRIMARY_AT, topic=PRIMARY)
    worker.committed[PRIMARY] = 5  # the primary's place will never be delivered again
    worker.eob(secondary(), 9, SECONDARY_AT, topic=SECONDARY)
    outbox = worker.table.records["CLM-1"].outbox
    assert [(entry.topic, entry.offset) for entry in outbox] == [(SECONDARY, 9)]


def test_a_record_written_before_the_direct_path_reads_as_claim_events() -> None:
    worker = Worker()
    published = worker.eob(primary(), 3, PRIMARY_AT)
    now = worker.table.records["CLM-1"]
    older = orjson.loads(now.model_dump_json())
    del older["applied_offsets"]
    older["applied_offset"] = 3
    for entry in older["outbox"]:
        del entry["topic"]
    record = claim_record_codec.loads(orjson.dumps(older))
    assert record == now
    assert record.published_at(CLAIM_EVENTS, 3) == published
    assert record.published_at(PRIMARY, 3) == ()


def test_a_claims_partition_is_the_java_clients_for_its_id() -> None:
    """Upstream producers keying by claim id with Kafka's default partitioner (the Java client's
    murmur2) put a record where the claims agent takes it directly (Kafka's UtilsTest values)."""
    for claim_id, java in (("21", -973932308), ("foobar", -790332482), ("a-little-bit-long-string", -985981536)):
        assert claim_partition(claim_id, 7) == (java & 0x7FFFFFFF) % 7
