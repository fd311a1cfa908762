"""The work queue's store (`cobstream ui`), filled from what `cobstream replay` publishes for the
example day, the example 835 and hand-made claim histories: which discrepancies are open, in
what order, through which filters, a claim's history, and reading the same records again."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from builders import adj, eob, line, secondary_line, submission, submitted_line, unstated
from ui_support import add_users, browser

from cobstream.engine import Engine
from cobstream.shared.kafka_io import remittance_lines
from cobstream.shared.replay_format import line_key_text, replay_lines, value_text
from cobstream.ui import pages, queue, work
from cobstream.ui.queue import QueueFilter
from cobstream.ui.reader import ReaderStatus
from cobstream.ui.store import Store, StoreError, connect
from models.contract.types import parse_timestamp
from models.remittance import ConvertedSubmission, convert_x12
from models.remittance.decode import load_json
from models.remittance.x12_837_secondary import secondary_837_of
from streams.codec import TopicRecord

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "day-2026-03-24.jsonl"
EXAMPLE_NOW = parse_timestamp("2026-05-15T00:00:00Z")  # examples/day-2026-03-24.args
SIGNED_OUT: dict[str, Any] = {"user": None, "csrf": ""}  # a page rendered with no one signed in


# ---- filling the store from a replay, as the reader would from the topics ---------------------


class Topics:
    """Replay lines run through the engine, kept as the records the worker's topics would hold:
    each input record, then its outcomes, each topic with its own offsets."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.records: list[TopicRecord] = []
        self._offsets: Counter[str] = Counter()
        self._clock_ms = 0

    def add(self, topic: str, key: str | None, value: bytes | None, timestamp_ms: int) -> TopicRecord:
        record = TopicRecord(topic, 0, self._offsets[topic], key.encode() if key else None, value, timestamp_ms)
        self._offsets[topic] += 1
        self.records.append(record)
        return record

    def send(self, topic: str, value: Any, key: str | None = None) -> list[TopicRecord]:
        """One input message; returns the records it and its outcomes became."""
        line = json.dumps({"topic": topic, "key": key, "value": value}).encode()
        return self.send_line(line)

    def send_line(self, line: bytes) -> list[TopicRecord]:
        start = len(self.records)
        emitted = list(replay_lines([line], self.engine))
        if self.engine.clock is not None:  # the worker stamps outcomes with their input's time
            self._clock_ms = int(self.engine.clock.timestamp() * 1000)
        record = load_json(line)
        text = value_text(record.get("value"))
        raw = text.encode("utf-8", "surrogatepass") if text is not None else None
        self.add(record["topic"], line_key_text(record.get("key")), raw, self._clock_ms)
        self._outputs(emitted)
        return self.records[start:]

    def advance(self, now: datetime) -> list[TopicRecord]:
        start = len(self.records)
        self._outputs(self.engine.advance(now))
        return self.records[start:]

    def _outputs(self, emitted: list[Any]) -> None:
        for event in emitted:
            value = event.value.model_dump(mode="json")
            moment = value.get("produced_at") or value.get("received_at")
            at = int(parse_timestamp(moment).timestamp() * 1000) if moment else self._clock_ms
            self.add(event.topic, event.key, orjson.dumps(value), at)


def example_day() -> Topics:
    topics = Topics()
    for line_bytes in EXAMPLE.read_bytes().splitlines():
        if line_bytes.strip():
            topics.send_line(line_bytes)
    topics.advance(EXAMPLE_NOW)
    return topics


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "ui.sqlite3", "")
    yield opened
    opened.close()


@pytest.fixture
def db(store: Store) -> Iterator[sqlite3.Connection]:
    reading = connect(store.path)
    yield reading
    reading.close()


def open_claims(db: sqlite3.Connection, wanted: QueueFilter | None = None) -> list[str]:
    return [item.claim_id for item in queue.open_discrepancies(db, wanted or QueueFilter())]


def open_kinds(db: sqlite3.Connection, claim_id: str) -> list[str]:
    return sorted(item.kind for item in queue.claim_discrepancies(db, claim_id))


# ---- the example day ----------------------------------------------------------------------------

# examples/README.md: the claims whose last outcome is a discrepancy. 0012 (missing primary EOB
# denial, then reprocessed), 0020 (primary reversed, then corrected) and 0021 (secondary
# reversed, then ready) were superseded by a later ready event, 0040's coverage_unknown by the
# estimate its submission brought.
EXAMPLE_BLOCKING = ["0026", "0010", "0011", "0013", "0014", "0015", "0016", "0036", "0039"]  # in the order raised
EXAMPLE_FOLLOW_UP = ["0017", "0019", "0038"]  # secondary_overdue, orphan_secondary, primary_overdue at --now


def test_the_example_day_queue_is_its_open_discrepancies_blocking_first_then_oldest(
    store: Store, db: sqlite3.Connection
) -> None:
    store.ingest(example_day().records)
    assert open_claims(db) == [f"CLM-2026-{n}" for n in EXAMPLE_BLOCKING + EXAMPLE_FOLLOW_UP]
    items = queue.open_discrepancies(db)
    assert [item.blocking for item in items] == [True] * 9 + [False] * 3
    underpaid = next(item for item in items if item.claim_id == "CLM-2026-0013")
    assert (underpaid.kind, underpaid.expected_cents, underpaid.actual_cents, underpaid.difference_cents) == (
        "secondary_underpaid",
        1400,
        900,
        -500,
    )
    assert underpaid.line_ids == ("1",)
    assert underpaid.action.startswith("Appeal")


def test_superseded_discrepancies_of_the_example_day_are_not_open(store: Store, db: sqlite3.Connection) -> None:
    store.ingest(example_day().records)
    for claim in ("CLM-2026-0012", "CLM-2026-0020", "CLM-2026-0021"):
        raised = db.execute(
            "SELECT count(*) FROM outcomes WHERE claim_id = ? AND topic = 'billing.discrepancy'", [claim]
        ).fetchone()[0]
        assert raised == 1, claim  # it was raised, and a later ready event closed it
        assert open_kinds(db, claim) == []


def test_payers_come_from_the_discrepancys_eobs(store: Store, db: sqlite3.Connection) -> None:
    store.ingest(example_day().records)
    items = {item.claim_id: item for item in queue.open_discrepancies(db)}
    # 0011: the primary names AETNA, HUMANA sent the secondary EOB (cob_order_dispute).
    assert (items["CLM-2026-0011"].primary_payer_id, items["CLM-2026-0011"].secondary_payer_id) == ("BCBS-TX", "AETNA")
    assert items["CLM-2026-0011"].paying_payer_id == "HUMANA"
    # 0019: a secondary EOB and no primary at all.
    assert (items["CLM-2026-0019"].primary_payer_id, items["CLM-2026-0019"].secondary_payer_id) == (None, "AETNA")
    assert items["CLM-2026-0019"].coverage_source == "secondary_eob"
    # 0036: the primary says there is no secondary; AETNA paid anyway.
    assert (items["CLM-2026-0036"].secondary_payer, items["CLM-2026-0036"].coverage_source) == ("none", "primary_eob")
    assert items["CLM-2026-0036"].paying_payer_id == "AETNA"
    # 0038: submitted, no primary EOB yet: the submission says AETNA. 0039: nothing says.
    assert (items["CLM-2026-0038"].secondary_payer, items["CLM-2026-0038"].coverage_source) == ("AETNA", "submission")
    assert (items["CLM-2026-0039"].secondary_payer, items["CLM-2026-0039"].coverage_source) == ("unknown", "unknown")


def test_filters_by_secondary_payer_primary_payer_and_kind(store: Store, db: sqlite3.Connection) -> None:
    store.ingest(example_day().records)
    everything = queue.open_discrepancies(db)
    for wanted in (
        QueueFilter(secondary_payer="AETNA"),
        QueueFilter(primary_payer="UHC"),
        QueueFilter(kind="cob_order_dispute"),
        QueueFilter(secondary_payer="AETNA", kind="cob_order_dispute"),
        QueueFilter(primary_payer="BCBS-TX", secondary_payer="CIGNA"),
    ):
        expected = [
            item.claim_id
            for item in everything
            if wanted.secondary_payer in (None, item.secondary_payer_id)
            and wanted.primary_payer in (None, item.primary_payer_id)
            and wanted.kind in (None, item.kind)
        ]
        assert expected, wanted  # each filter keeps some rows and drops others
        assert len(expected) < len(everything), wanted
        assert open_claims(db, wanted) == expected, wanted
    assert open_claims(db, QueueFilter(kind="secondary_overpaid", secondary_payer="AETNA")) == []


def test_counts_for_the_filter_controls(store: Store, db: sqlite3.Connection) -> None:
    store.ingest(example_day().records)
    counts = queue.queue_counts(db)
    assert (counts.total, counts.blocking) == (12, 9)
    assert counts.by_kind == {
        "cob_order_dispute": 4,
        "coverage_unknown": 1,
        "line_mismatch": 2,
        "orphan_secondary": 1,
        "primary_overdue": 1,
        "secondary_overdue": 1,
        "secondary_overpaid": 1,
        "secondary_underpaid": 1,
    }
    assert counts.by_secondary_payer == {"AETNA": 7, "CIGNA": 1, "HUMANA": 1, "UMR": 1}
    for payer, n in counts.by_primary_payer.items():
        assert len(open_claims(db, QueueFilter(primary_payer=payer))) == n


def test_a_claims_history_is_its_inputs_and_outcomes_in_order(store: Store, db: sqlite3.Connection) -> None:
    store.ingest(example_day().records)
    # 0020: primary, secondary and ready; the primary reversed (void, primary_reversed); corrected.
    history = [(entry.source, entry.topic, entry.revision) for entry in queue.claim_history(db, "CLM-2026-0020")]
    assert history == [
        ("input", "eob.primary", None),
        ("outcome", "secondary.expected", 1),
        ("input", "eob.secondary", None),
        ("outcome", "billing.ready", 2),
        ("input", "eob.primary", None),
        ("outcome", "billing.ready", 3),
        ("outcome", "billing.discrepancy", 4),
        ("input", "eob.primary", None),
        ("outcome", "secondary.expected", 5),
        ("outcome", "billing.ready", 6),
    ]
    assert [entry.fields.get("status") for entry in queue.claim_history(db, "CLM-2026-0020")][4:6] == [
        "reversed",
        "voided",
    ]
    assert queue.latest_revision(db, "CLM-2026-0020") == 6


def test_a_refused_eob_and_its_dead_letter_are_in_the_claims_history(store: Store, db: sqlite3.Connection) -> None:
    store.ingest(example_day().records)
    # 0035: a line that does not balance, dead-lettered, then sent again fixed.
    history = queue.claim_history(db, "CLM-2026-0035")
    refused = [entry for entry in history if entry.source == "input" and entry.fields["problem"]]
    letters = [entry for entry in history if entry.source == "dead letter"]
    assert len(refused) == len(letters) == 1
    assert "does not balance" in letters[0].fields["error"]
    assert history.index(refused[0]) < history.index(letters[0])


def test_the_messages_that_explain_a_claim_are_its_inputs_and_the_reference_data(
    store: Store, db: sqlite3.Connection
) -> None:
    store.ingest(example_day().records)
    messages = queue.claim_messages(db, "CLM-2026-0013")
    topics = Counter(topic for topic, _, _, _ in messages)
    assert topics["eob.primary"] == topics["eob.secondary"] == 1
    assert topics["reference.payers"] >= 7
    assert topics["reference.fee-schedule"] >= 6
    engine = Engine()
    for topic, key, value, received_at in messages:
        engine.receive(topic, key, value, received_at=received_at)
    assert engine.claims["CLM-2026-0013"].revision == 2  # the same history the worker published


# ---- hand-made histories -------------------------------------------------------------------------

T0, T1 = "2026-03-10T15:00:00Z", "2026-03-12T09:00:00Z"


def claim_with_secondary(
    topics: Topics, claim: str, paid: str, *, primary_payer: str = "BCBS-TX", secondary: str = "AETNA"
) -> None:
    """The article's claim (S expected 10.00), its secondary paying `paid` on the same day as the others."""
    topics.send("eob.primary", eob(f"P-{claim}", claim_id=claim, payer_id=primary_payer, secondary_payer_id=secondary))
    topics.send(
        "eob.secondary", eob(f"S-{claim}", claim_id=claim, payer_id=secondary, at=T1, lines=[secondary_line(paid=paid)])
    )


def test_ties_on_age_go_to_the_largest_difference_and_blocking_beats_older(
    store: Store, db: sqlite3.Connection
) -> None:
    topics = Topics()
    # An orphan secondary 60 days earlier: its timeout fires (non-blocking) before everything below.
    topics.send(
        "eob.secondary",
        eob("S-F", claim_id="CLM-F", payer_id="AETNA", at="2026-01-05T09:00:00Z", lines=[secondary_line()]),
    )
    claim_with_secondary(topics, "CLM-A", "5.00")  # underpaid, -5.00
    claim_with_secondary(topics, "CLM-B", "2.00")  # underpaid, -8.00
    claim_with_secondary(topics, "CLM-C", "19.00", primary_payer="UHC", secondary="CIGNA")  # overpaid, +9.00
    topics.send("eob.primary", eob("P-D", claim_id="CLM-D", secondary_payer_id=None))
    topics.send(
        "eob.secondary", eob("S-D", claim_id="CLM-D", payer_id="AETNA", at=T1, lines=[secondary_line()])
    )  # dispute, no difference
    store.ingest(topics.records)
    items = queue.open_discrepancies(db)
    assert [(i.claim_id, i.kind, i.difference_cents) for i in items] == [
        ("CLM-C", "secondary_overpaid", 900),
        ("CLM-B", "secondary_underpaid", -800),
        ("CLM-A", "secondary_underpaid", -500),
        ("CLM-D", "cob_order_dispute", None),
        ("CLM-F", "orphan_secondary", None),
    ]
    assert len({i.raised_at for i in items[:4]}) == 1  # the same age: the difference decides
    assert items[-1].raised_at < items[0].raised_at  # older, yet after every blocking one
    assert open_claims(db, QueueFilter(secondary_payer="CIGNA")) == ["CLM-C"]
    assert open_claims(db, QueueFilter(primary_payer="BCBS-TX", kind="secondary_underpaid")) == ["CLM-B", "CLM-A"]
    assert open_claims(db, QueueFilter(primary_payer="BCBS-TX", kind="cob_order_dispute")) == ["CLM-D"]


def test_a_corrected_secondary_that_pays_right_closes_the_discrepancy(store: Store, db: sqlite3.Connection) -> None:
    topics = Topics()
    claim_with_secondary(topics, "CLM-1", "5.00")
    store.ingest(topics.records)
    assert open_kinds(db, "CLM-1") == ["secondary_underpaid"]
    store.ingest(
        topics.send("eob.secondary", eob("S-CLM-1-fix", payer_id="AETNA", at=T1, lines=[secondary_line(paid="10.00")]))
    )
    assert open_kinds(db, "CLM-1") == []
    assert queue.latest_revision(db, "CLM-1") == 3  # expected, the discrepancy, the ready event


def test_a_newer_version_with_a_discrepancy_replaces_the_older_one(store: Store, db: sqlite3.Connection) -> None:
    topics = Topics()
    claim_with_secondary(topics, "CLM-1", "5.00")
    topics.send("eob.secondary", eob("S-CLM-1-fix", payer_id="AETNA", at=T1, lines=[secondary_line(paid="4.00")]))
    store.ingest(topics.records)
    [item] = queue.open_discrepancies(db)
    assert (item.claim_id, item.revision, item.difference_cents) == ("CLM-1", 3, -600)


def test_two_discrepancies_of_one_version_both_stay_open(store: Store, db: sqlite3.Connection) -> None:
    topics = Topics()
    topics.send("eob.primary", eob("P-1"))
    # Line 1 underpaid, and a line 2 the primary never had.
    extra = line("2", charge="40.00", paid="0.00", allowed=None, adjustments=[adj("CO", "45", "40.00")])
    topics.send("eob.secondary", eob("S-1", payer_id="AETNA", at=T1, lines=[secondary_line(paid="5.00"), extra]))
    store.ingest(topics.records)
    assert open_kinds(db, "CLM-1") == ["line_mismatch", "secondary_underpaid"]


def test_a_reversal_after_ready_opens_a_follow_up_until_the_corrected_eob(store: Store, db: sqlite3.Connection) -> None:
    topics = Topics()
    claim_with_secondary(topics, "CLM-1", "10.00")
    reversal = secondary_line(
        paid="-10.00", charge="-150.00", allowed="-90.00", adjustments=[adj("OA", "23", "-140.00")]
    )
    topics.send(
        "eob.secondary",
        eob("S-1-rev", payer_id="AETNA", status="reversed", at="2026-03-13T09:00:00Z", lines=[reversal]),
    )
    store.ingest(topics.records)
    assert [(i.kind, i.blocking) for i in queue.claim_discrepancies(db, "CLM-1")] == [("secondary_reversed", False)]
    store.ingest(
        topics.send(
            "eob.secondary", eob("S-1-new", payer_id="AETNA", at="2026-03-14T09:00:00Z", lines=[secondary_line()])
        )
    )
    assert open_kinds(db, "CLM-1") == []


def test_an_overdue_secondary_is_closed_when_the_secondary_arrives(store: Store, db: sqlite3.Connection) -> None:
    topics = Topics()
    topics.send("eob.primary", eob("P-1"))
    topics.advance(parse_timestamp("2026-04-20T00:00:00Z"))  # AETNA's 30 days have passed
    store.ingest(topics.records)
    assert open_kinds(db, "CLM-1") == ["secondary_overdue"]
    store.ingest(
        topics.send(
            "eob.secondary",
            eob("S-1", payer_id="AETNA", at="2026-04-21T00:00:00Z", lines=[secondary_line(paid="5.00")]),
        )
    )
    assert open_kinds(db, "CLM-1") == ["secondary_underpaid"]


# ---- reading records again, in any order ---------------------------------------------------------


def test_reading_the_same_records_again_changes_nothing(store: Store, db: sqlite3.Connection) -> None:
    records = example_day().records
    assert store.ingest(records) == len(records)
    before = (open_claims(db), queue.queue_counts(db), queue.store_counts(db))
    assert store.ingest(records) == 0
    assert (open_claims(db), queue.queue_counts(db), queue.store_counts(db)) == before


def test_an_outcome_or_dead_letter_delivered_twice_is_kept_once(store: Store, db: sqlite3.Connection) -> None:
    records = example_day().records
    store.ingest(records)
    before = (open_claims(db), queue.store_counts(db)["outcomes"], queue.store_counts(db)["dead_letters"])
    # After a worker crash the same events come again, at new offsets.
    again = [
        TopicRecord(r.topic, 1, r.offset, r.key, r.value, r.timestamp_ms)
        for r in records
        if r.topic in ("billing.discrepancy", "billing.ready", "eob.dead-letter")
    ]
    assert store.ingest(again) == len(again)
    assert (open_claims(db), queue.store_counts(db)["outcomes"], queue.store_counts(db)["dead_letters"]) == before


def test_the_order_records_arrive_in_does_not_change_the_queue(store: Store, db: sqlite3.Connection) -> None:
    # The reader takes each topic's partitions as they come: outcomes before their inputs,
    # a ready event before the discrepancy it supersedes.
    records = example_day().records
    store.ingest(reversed(records))
    assert open_claims(db) == [f"CLM-2026-{n}" for n in EXAMPLE_BLOCKING + EXAMPLE_FOLLOW_UP]


def test_positions_are_kept_with_the_records_so_a_restart_continues(tmp_path: Path) -> None:
    records = example_day().records
    path = tmp_path / "ui.sqlite3"
    first = Store(path, "env.")
    first.ingest(records[:50])
    first.close()
    reopened = Store(path, "env.")
    positions = reopened.positions()
    reopened.close()
    for topic in {r.topic for r in records[:50]}:
        assert positions[(topic, 0)] == max(r.offset for r in records[:50] if r.topic == topic) + 1


def test_a_store_of_another_environment_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "ui.sqlite3", "prod.").close()
    with pytest.raises(StoreError, match=r"COBSTREAM_TOPIC_PREFIX='prod\.', not 'test\.'"):
        Store(tmp_path / "ui.sqlite3", "test.")


def test_unreadable_output_records_are_recorded_and_the_rest_is_read(store: Store, db: sqlite3.Connection) -> None:
    topics = Topics()
    claim_with_secondary(topics, "CLM-1", "5.00")
    bad = [
        TopicRecord("billing.discrepancy", 2, 0, b"CLM-9", b'{"event_id": "x", "claim_id": ', 0),
        TopicRecord("billing.ready", 2, 0, b"CLM-9", b'{"event_id": "x", "claim_id": "CLM-9"}', 0),
        TopicRecord("eob.dead-letter", 2, 0, None, b"\xff\xfe", 0),
    ]
    assert store.ingest([*bad, *topics.records]) == len(bad) + len(topics.records)
    problems = dict(
        db.execute("SELECT topic, problem FROM messages WHERE problem IS NOT NULL ORDER BY topic").fetchall()
    )
    assert "not valid JSON" in problems["billing.discrepancy"]
    assert "revision" in problems["billing.ready"]
    assert "not valid JSON" in problems["eob.dead-letter"]
    assert queue.store_counts(db)["unreadable"] == 3
    assert open_claims(db) == ["CLM-1"]


def test_claims_paid_by_an_835_remittance_have_their_payers_and_history(store: Store, db: sqlite3.Connection) -> None:
    topics = Topics()
    for message in remittance_lines((ROOT / "examples" / "remittance-2026-03-24.835").read_bytes()):
        topics.send_line(message.strip())
    store.ingest(topics.records)
    items = {item.claim_id: item for item in queue.open_discrepancies(db)}
    assert {claim: item.kind for claim, item in items.items()} == {
        "CLM-2026-0102": "coverage_unknown",  # an 835 without NM1*TT, and no submission
        "CLM-2026-0103": "secondary_underpaid",
        "CLM-2026-0104": "cob_order_dispute",
        "CLM-2026-0106": "coverage_unknown",
        "CLM-2026-0108": "missing_primary_eob_denial",
    }
    assert items["CLM-2026-0102"].secondary_payer == "unknown"
    underpaid = items["CLM-2026-0103"]
    assert underpaid.primary_payer_id
    assert underpaid.secondary_payer_id
    history = queue.claim_history(db, "CLM-2026-0103")
    inputs = [entry for entry in history if entry.source == "input"]
    assert [(entry.topic, entry.fields["role"]) for entry in inputs] == [
        ("remittance.x12", "primary"),
        ("remittance.x12", "secondary"),
    ]
    assert [entry.fields["event_id"] for entry in inputs] == [underpaid.primary_event_id, underpaid.secondary_event_id]


# ---- claim submissions and the claim's coverage (COVERAGE.md) -------------------------------------


def test_a_submission_is_read_into_the_store_as_a_claim_input(store: Store, db: sqlite3.Connection) -> None:
    topics = Topics()
    lines = [submitted_line("1"), submitted_line("2", charge="60.00")]
    topics.send("claims.submitted", submission("SUB-1", tertiary="TRICARE", lines=lines), key="CLM-1")
    store.ingest(topics.records)
    [entry] = queue.claim_history(db, "CLM-1")
    assert (entry.source, entry.topic) == ("input", "claims.submitted")
    fields = entry.fields
    assert (fields["role"], fields["event_id"], fields["frequency"]) == ("submission", "SUB-1", "original")
    assert parse_timestamp(fields["submitted_at"]) == parse_timestamp("2026-03-03T09:00:00Z")
    assert (fields["payer_id"], fields["secondary_payer_id"], fields["tertiary_payer_id"]) == (
        "BCBS-TX",
        "AETNA",
        "TRICARE",
    )
    assert (fields["line_count"], fields["total_charge"], fields["problem"]) == (2, "210.00", None)
    assert pages.summary(entry) == (
        "claim submission SUB-1 (original), submitted 2026-03-03 09:00:00 UTC to BCBS-TX, then AETNA, then "
        "TRICARE: 210.00 charged (2 lines)"
    )
    assert json.loads(entry.document)["coverage"][2] == {"payer_id": "TRICARE", "role": "tertiary"}
    assert [topic for topic, _, _, _ in queue.claim_messages(db, "CLM-1")] == ["claims.submitted"]
    assert open_claims(db) == []  # a submission alone raises nothing


def test_a_refused_submission_is_in_the_claims_history_with_its_dead_letter(
    store: Store, db: sqlite3.Connection
) -> None:
    topics = Topics()
    topics.send("claims.submitted", submission("SUB-1", lines=[submitted_line(), submitted_line()]), key="CLM-1")
    store.ingest(topics.records)
    sources = [entry.source for entry in queue.claim_history(db, "CLM-1")]
    assert sources == ["input", "dead letter"]
    assert "line id appears twice" in queue.claim_history(db, "CLM-1")[0].fields["problem"]
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0


def unknown_coverage_day() -> Topics:
    """Two claims whose primary's 835 says nothing of a secondary (coverage_unknown), one raised
    before and one with an underpaid claim; and a claim submitted to UHC that no primary answers."""
    topics = Topics()
    topics.send("claims.submitted", submission("SUB-O", claim_id="CLM-O", primary="UHC", at="2026-01-05T09:00:00Z"))
    topics.send("eob.primary", unstated(eob("P-U1", claim_id="CLM-U1")))  # 2026-03-10: UHC's 30 days have passed
    claim_with_secondary(topics, "CLM-A", "5.00")  # underpaid, at T1
    topics.send("eob.primary", unstated(eob("P-U2", claim_id="CLM-U2", at=T1)))
    return topics


def test_coverage_unknown_is_blocking_and_takes_its_place_by_the_queues_rules(
    store: Store, db: sqlite3.Connection
) -> None:
    store.ingest(unknown_coverage_day().records)
    items = queue.open_discrepancies(db)
    assert [(i.claim_id, i.kind, i.blocking) for i in items] == [
        ("CLM-U1", "coverage_unknown", True),  # the oldest blocking one
        ("CLM-A", "secondary_underpaid", True),  # raised with CLM-U2: it has a difference, so first
        ("CLM-U2", "coverage_unknown", True),
        ("CLM-O", "primary_overdue", False),  # raised with CLM-U1, but it holds no bill
    ]
    assert items[0].raised_at == items[3].raised_at < items[1].raised_at == items[2].raised_at
    unknown = items[0]
    assert (unknown.primary_payer_id, unknown.secondary_payer, unknown.coverage_source) == (
        "BCBS-TX",
        "unknown",
        "unknown",
    )
    assert (unknown.expected_cents, unknown.actual_cents, unknown.difference_cents) == (None, None, None)
    assert unknown.action.startswith("Verify the patient's coverage")
    overdue = items[3]
    assert (overdue.primary_payer_id, overdue.secondary_payer, overdue.coverage_source) == (
        None,
        "AETNA",
        "submission",
    )
    assert open_claims(db, QueueFilter(kind="coverage_unknown")) == ["CLM-U1", "CLM-U2"]
    assert open_claims(db, QueueFilter(kind="primary_overdue")) == ["CLM-O"]
    assert open_claims(db, QueueFilter(kind="coverage_unknown", primary_payer="UHC")) == []
    counts = queue.queue_counts(db)
    assert (counts.total, counts.blocking) == (4, 3)
    assert counts.by_kind == {"coverage_unknown": 2, "primary_overdue": 1, "secondary_underpaid": 1}
    assert counts.by_secondary_payer == {"AETNA": 2}  # CLM-A's crossover, CLM-O's submission


def test_the_new_kinds_are_in_the_kind_filter_and_the_queue_page(store: Store, db: sqlite3.Connection) -> None:
    store.ingest(unknown_coverage_day().records)
    assert {"coverage_unknown", "primary_overdue"} <= set(pages.KINDS)
    html = (
        pages.templates()
        .get_template("queue.html")
        .render(
            reader=ReaderStatus(),
            now=parse_timestamp("2026-03-13T00:00:00Z"),
            items=queue.open_discrepancies(db),
            more=False,
            counts=queue.queue_counts(db),
            wanted=QueueFilter(kind="coverage_unknown"),
            kinds=pages.KINDS,
            unreadable=0,
            **SIGNED_OUT,
            statuses=work.WORK_STATUSES,
            people=[],
            query="",
        )
    )
    assert '<option value="coverage_unknown" selected>coverage_unknown (2)</option>' in html
    assert '<option value="primary_overdue">primary_overdue (1)</option>' in html
    assert 'data-coverage="unknown" title="secondary payer: unknown">unknown</span>' in html
    assert 'data-coverage="submission" title="secondary payer: submission">AETNA</span>' in html


def test_the_secondary_payer_is_the_submissions_when_the_primary_eob_does_not_state_it(
    store: Store, db: sqlite3.Connection
) -> None:
    topics = Topics()
    topics.send("claims.submitted", submission("SUB-1", secondary="CIGNA", tertiary="TRICARE"))
    topics.send("eob.primary", unstated(eob("P-1")))  # BCBS-TX's 835: no crossover
    topics.send("eob.secondary", eob("S-1", payer_id="CIGNA", at=T1, lines=[secondary_line(paid="5.00")]))
    # Beside it, a crossover: the primary's own word wins over the secondary EOB's payer.
    claim_with_secondary(topics, "CLM-X", "5.00", secondary="AETNA")
    store.ingest(topics.records)
    items = {item.claim_id: item for item in queue.open_discrepancies(db)}
    assert items["CLM-1"].kind == "secondary_underpaid"
    assert (items["CLM-1"].secondary_payer_id, items["CLM-1"].coverage_source) == ("CIGNA", "submission")
    assert items["CLM-1"].tertiary_payer_id == "TRICARE"
    assert (items["CLM-X"].secondary_payer_id, items["CLM-X"].coverage_source) == ("AETNA", "primary_eob")
    assert open_claims(db, QueueFilter(secondary_payer="CIGNA")) == ["CLM-1"]
    assert queue.queue_counts(db).by_secondary_payer == {"AETNA": 1, "CIGNA": 1}
    primary = next(e for e in queue.claim_history(db, "CLM-1") if e.topic == "eob.primary")
    assert pages.summary(primary).endswith("; secondary payer not stated")
    crossed = next(e for e in queue.claim_history(db, "CLM-X") if e.topic == "eob.primary")
    assert pages.summary(crossed).endswith("; secondary payer AETNA")


def test_a_submission_received_after_a_discrepancy_makes_a_new_version(store: Store, db: sqlite3.Connection) -> None:
    topics = Topics()
    topics.send("eob.primary", unstated(eob("P-1")))
    store.ingest(topics.records)
    assert open_kinds(db, "CLM-1") == ["coverage_unknown"]
    # A void of nothing changes nothing: the discrepancy stands.
    store.ingest(topics.send("claims.submitted", submission("SUB-V", frequency="void", at="2026-03-11T09:00:00Z")))
    assert open_kinds(db, "CLM-1") == ["coverage_unknown"]
    # The billing team publishes the claim's coverage: UHC first, no secondary. The new version is
    # a COB-order dispute naming the same primary EOB; the coverage is known, so coverage_unknown closes.
    store.ingest(
        topics.send("claims.submitted", submission("SUB-1", primary="UHC", secondary=None, at="2026-03-12T09:00:00Z"))
    )
    [item] = queue.claim_discrepancies(db, "CLM-1")
    assert (item.kind, item.secondary_payer, item.coverage_source) == ("cob_order_dispute", "none", "submission")
    # The same submission again is no new version.
    again = topics.send(
        "claims.submitted", submission("SUB-1", primary="UHC", secondary=None, at="2026-03-13T09:00:00Z")
    )
    store.ingest(again)
    assert open_kinds(db, "CLM-1") == ["cob_order_dispute"]


def test_the_claim_page_shows_the_coverage_and_where_it_comes_from(store: Store, db: sqlite3.Connection) -> None:
    topics = Topics()
    lines = [submitted_line("1"), submitted_line("2", charge="60.00")]
    topics.send("claims.submitted", submission("SUB-1", secondary="CIGNA", tertiary="TRICARE", lines=lines))
    topics.send("eob.primary", unstated(eob("P-1")))
    store.ingest(topics.records)
    explanation = pages.explain(queue.claim_messages(db, "CLM-1"), "CLM-1", queue.store_clock(db))
    coverage = explanation.coverage
    assert coverage is not None
    assert (coverage.secondary_payer, coverage.source, coverage.source_label) == ("CIGNA", "submission", "submission")
    assert coverage.source_words == "from the claim as submitted"
    assert coverage.tertiary_payer == "TRICARE"
    submitted = coverage.submission
    assert submitted is not None
    assert (submitted.event_id, submitted.frequency) == ("SUB-1", "original")
    assert submitted.payers == (("primary", "BCBS-TX"), ("secondary", "CIGNA"), ("tertiary", "TRICARE"))
    assert [(line.line_id, line.primary_charge, line.flag) for line in submitted.lines] == [
        ("1", Decimal("150.00"), ""),
        ("2", None, "not on the primary's EOB"),
    ]
    html = (
        pages.templates()
        .get_template("claim.html")
        .render(
            reader=ReaderStatus(),
            now=parse_timestamp("2026-03-13T00:00:00Z"),
            claim_id="CLM-1",
            history=queue.claim_history(db, "CLM-1"),
            discrepancies=[],
            **SIGNED_OUT,
            latest_revision=queue.latest_revision(db, "CLM-1"),
            explanation=explanation,
        )
    )
    assert '<dd data-source="submission"><strong>CIGNA</strong> · submission: from the claim as submitted</dd>' in html
    assert "BCBS-TX (primary) → CIGNA (secondary) → TRICARE (tertiary)" in html
    assert '<tr data-line="2" data-flag="not on the primary&#39;s EOB">' in html
    # COVERAGE.md section 5: the secondary claim to CIGNA with BCBS-TX's figures, not yet answered.
    assert explanation.secondary_claim is not None
    assert "<p>To <strong>CIGNA</strong> with BCBS-TX's adjudication of" in html
    assert "waiting for CIGNA's EOB" in html
    assert '<dt>Patient liability left (AMT*EAF)</dt><dd class="money">20.00</dd>' in html


def test_the_claim_page_says_when_the_coverage_is_unknown(store: Store, db: sqlite3.Connection) -> None:
    store.ingest(unknown_coverage_day().records)
    explanation = pages.explain(queue.claim_messages(db, "CLM-U1"), "CLM-U1", queue.store_clock(db))
    coverage = explanation.coverage
    assert coverage is not None
    assert (coverage.secondary_payer, coverage.source, coverage.submission) == ("unknown", "unknown", None)
    assert coverage.source_words.startswith("nothing says whether the patient has a secondary payer")


# ---- upgrading a store of an older schema ----------------------------------------------------------

SCHEMA_1_INPUTS = """
DROP TABLE claim_inputs; DROP TABLE eobs; DROP TABLE submissions;
CREATE TABLE claim_inputs (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL, seq INTEGER NOT NULL,
    claim_id TEXT NOT NULL, role TEXT, event_id TEXT, payer_id TEXT, secondary_payer_id TEXT,
    status TEXT, adjudicated_at TEXT, total_charge TEXT, total_paid TEXT, line_count INTEGER, problem TEXT,
    PRIMARY KEY (topic, partition, offset, seq));
CREATE TABLE eobs (
    claim_id TEXT NOT NULL, role TEXT NOT NULL, event_id TEXT NOT NULL,
    payer_id TEXT NOT NULL, secondary_payer_id TEXT,
    PRIMARY KEY (claim_id, role, event_id));
UPDATE meta SET value = '1' WHERE name = 'schema_version';
"""


def test_a_store_of_schema_1_is_upgraded_from_its_stored_messages(tmp_path: Path) -> None:
    topics = Topics()
    topics.send("eob.primary", unstated(eob("P-U1", claim_id="CLM-U1")))
    claim_with_secondary(topics, "CLM-A", "5.00")
    path = tmp_path / "ui.sqlite3"
    first = Store(path, "env.")
    first.ingest(topics.records)
    positions = first.positions()
    first.close()
    old = sqlite3.connect(path)
    old.executescript(SCHEMA_1_INPUTS)  # as cobstream ui of schema 1 left it, its input tables empty
    old.close()
    upgraded = Store(path, "env.")
    assert upgraded.positions() == positions  # nothing is read again
    upgraded.close()
    db = connect(path)
    assert db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0] == "2"
    assert [(i.claim_id, i.secondary_payer, i.coverage_source) for i in queue.open_discrepancies(db)] == [
        ("CLM-U1", "unknown", "unknown"),
        ("CLM-A", "AETNA", "primary_eob"),
    ]
    assert len(queue.claim_history(db, "CLM-A")) == 4  # its two EOBs, the estimate and the discrepancy
    db.close()


def test_a_store_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "ui.sqlite3", "").close()
    newer = sqlite3.connect(tmp_path / "ui.sqlite3")
    with newer:
        newer.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    newer.close()
    with pytest.raises(StoreError, match=r"another version of cobstream ui \(schema 99\)"):
        Store(tmp_path / "ui.sqlite3", "")


def test_an_837_and_a_lone_835_denial_on_the_x12_topic(store: Store, db: sqlite3.Connection) -> None:
    """The 837 is the claims' submissions; AETNA's 835 denial (CLP02 4) does not tell AETNA's role,
    the claim's submission does (it is the secondary). No primary EOB ever comes: the primary is
    overdue and the secondary EOB orphaned, both open (a primary_overdue names no EOB)."""
    topics = Topics()
    x12 = ROOT / "tests" / "data" / "x12_837"
    topics.send("remittance.x12", (x12 / "837p_two_payers.837").read_text())
    topics.send("remittance.x12", (x12 / "aetna_denial.835").read_text())
    topics.advance(parse_timestamp("2026-06-01T00:00:00Z"))
    store.ingest(topics.records)
    items = queue.claim_discrepancies(db, "CLM-2026-0101")
    assert [(i.kind, i.secondary_payer, i.coverage_source, i.paying_payer_id) for i in items] == [
        ("primary_overdue", "AETNA", "submission", None),
        ("orphan_secondary", "AETNA", "submission", "AETNA"),
    ]
    inputs = [entry for entry in queue.claim_history(db, "CLM-2026-0101") if entry.source == "input"]
    assert [entry.fields["role"] for entry in inputs] == ["submission", None]
    assert pages.summary(inputs[0]).endswith("to BCBS-TX, then AETNA: 150.00 charged (1 line)")
    assert "from AETNA (its role from the claim's submission): denied" in pages.summary(inputs[1])
    assert json.loads(inputs[0].document)["from"] == "X12 837 claim"


def test_a_submission_leaves_the_follow_ups_that_fire_once_standing(store: Store, db: sqlite3.Connection) -> None:
    topics = Topics()
    topics.send("eob.secondary", eob("S-1", payer_id="AETNA", at="2026-01-05T09:00:00Z", lines=[secondary_line()]))
    topics.advance(parse_timestamp("2026-02-05T00:00:00Z"))  # 30 days without a primary: orphan_secondary
    topics.send("claims.submitted", submission("SUB-1", at="2026-02-10T09:00:00Z"))  # publishes nothing
    topics.advance(parse_timestamp("2026-03-20T00:00:00Z"))  # 30 days after the submission: primary_overdue
    store.ingest(topics.records)
    assert [i.kind for i in queue.claim_discrepancies(db, "CLM-1")] == ["orphan_secondary", "primary_overdue"]
    # The primary EOB comes, AETNA paid what it should: the claim is ready, nothing stays open.
    store.ingest(topics.send("eob.primary", unstated(eob("P-1", at="2026-03-21T09:00:00Z"))))
    assert open_kinds(db, "CLM-1") == []
    assert queue.claim_history(db, "CLM-1")[-1].fields["status"] == "ready"


COVERAGE_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "coverage"


async def test_the_claim_page_offers_the_secondary_837_and_its_route_gives_it(store: Store, tmp_path: Path) -> None:
    """COVERAGE.md section 5 on the work queue: a claim billed by 837 whose primary did not cross
    it over has a secondary claim; the page links its 837, the route answers it as a download."""
    topics = Topics()
    for name in ("claims-2026-03-03.837", "remittance-2026-03-12-bcbstx.835"):
        topics.send("remittance.x12", (COVERAGE_EXAMPLE / name).read_text())
    store.ingest(topics.records)
    add_users(tmp_path / "work.sqlite3", ("ana", "viewer"))
    async with browser(store.path, tmp_path / "work.sqlite3", "ana") as client:
        page = await (await client.get("/claims/CLM-2026-0201")).text()
        assert '<a id="secondary-837" href="/claims/CLM-2026-0201/secondary-claim.837" download>' in page
        answer = await client.get("/claims/CLM-2026-0201/secondary-claim.837")
        assert answer.status == 200
        assert answer.headers["Content-Disposition"] == 'attachment; filename="CLM-2026-0201.837"'
        exported = await answer.text()
        assert exported == secondary_837_of(topics.engine.claims["CLM-2026-0201"])
        [again] = [i for i in convert_x12(exported) if isinstance(i, ConvertedSubmission)]
        assert [(c.payer_id, c.role) for c in again.submission.coverage] == [
            ("BCBS-TX", "primary"),
            ("AETNA", "secondary"),
        ]
        missing = await client.get("/claims/CLM-NOPE/secondary-claim.837")
        assert missing.status == 404


def test_a_claim_received_long_after_its_eobs_dates_is_explained_as_the_worker_holds_it(store: Store) -> None:
    """Issue 20's defect: the EOBs were adjudicated in March and read from Kafka in December. The
    worker keeps the claim 180 days after it *received* it; the page replayed on event time and
    forgot the claim ("replaying the stored messages leaves no state"). It runs on the records'
    times now, as the worker does."""
    topics = Topics()
    december = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
    primary = eob("P-1", at="2026-03-10T15:00:00Z")
    secondary = eob("S-1", payer_id="AETNA", at="2026-03-20T10:00:00Z", lines=[secondary_line()])
    topics.add("eob.primary", "CLM-1", json.dumps(primary).encode(), december)
    topics.add("eob.secondary", "CLM-1", json.dumps(secondary).encode(), december + 1000)
    store.ingest(topics.records)
    with connect(store.path) as db:
        messages, clock = queue.claim_messages(db, "CLM-1"), queue.store_clock(db)
    explanation = pages.explain(messages, "CLM-1", clock)
    assert explanation.unavailable is None
    assert explanation.headline is not None
    assert explanation.headline.startswith("Ready for patient billing")
