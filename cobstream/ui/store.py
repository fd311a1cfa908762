"""The work queue's local store: one SQLite file (WAL) holding every record `cobstream ui` read,
what each means for the queue, and how far the reader got in each partition.

Records are stored once per (topic, partition, offset), so reading a record again (a restart, a
re-assignment) changes nothing; an outcome delivered twice by the worker (after a crash, as an
exact repeat) is kept once by its `event_id`, a dead letter once by its bytes. The reader's
positions are written in the same transaction as the records, so a restart continues exactly
where the last batch ended. Reads (the pages) live in `cobstream.ui.queue`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from cobstream.ui.records import Meaning, OutcomeRow, read_record
from streams.codec import TopicRecord

DEFAULT_PATH = Path(".cobstream-ui.sqlite3")
SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition));
-- Every record as it was read (topics without the environment's prefix); `problem` says why
-- an output record could not be read.
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL, key BLOB, value BLOB, problem TEXT,
    PRIMARY KEY (topic, partition, offset));
CREATE INDEX IF NOT EXISTS messages_by_topic ON messages (topic, timestamp_ms);
-- The claim payments an input record carries (an 835 message carries many).
CREATE TABLE IF NOT EXISTS claim_inputs (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL, seq INTEGER NOT NULL,
    claim_id TEXT NOT NULL, role TEXT, event_id TEXT, payer_id TEXT, secondary_payer_id TEXT,
    status TEXT, adjudicated_at TEXT, total_charge TEXT, total_paid TEXT, line_count INTEGER, problem TEXT,
    PRIMARY KEY (topic, partition, offset, seq));
CREATE INDEX IF NOT EXISTS claim_inputs_by_claim ON claim_inputs (claim_id);
-- The first accepted EOB of each id in a claim: where a discrepancy's payers come from.
CREATE TABLE IF NOT EXISTS eobs (
    claim_id TEXT NOT NULL, role TEXT NOT NULL, event_id TEXT NOT NULL,
    payer_id TEXT NOT NULL, secondary_payer_id TEXT,
    PRIMARY KEY (claim_id, role, event_id));
CREATE TABLE IF NOT EXISTS outcomes (
    event_id TEXT PRIMARY KEY, topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    claim_id TEXT NOT NULL, revision INTEGER NOT NULL, produced_us INTEGER NOT NULL, kind TEXT NOT NULL,
    blocking INTEGER, expected_cents INTEGER, actual_cents INTEGER, difference_cents INTEGER,
    primary_event_id TEXT, secondary_event_id TEXT);
CREATE INDEX IF NOT EXISTS outcomes_by_claim ON outcomes (claim_id, revision);
CREATE INDEX IF NOT EXISTS outcomes_by_topic ON outcomes (topic);
CREATE TABLE IF NOT EXISTS dead_letters (
    digest TEXT PRIMARY KEY, topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    claim_id TEXT, source_topic TEXT, error TEXT NOT NULL, received_us INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dead_letters_by_claim ON dead_letters (claim_id);
-- Each claim's latest revision, whichever outcome topic it came on.
CREATE TABLE IF NOT EXISTS claims (
    claim_id TEXT PRIMARY KEY, latest_revision INTEGER NOT NULL, latest_event_id TEXT NOT NULL,
    latest_topic TEXT NOT NULL);
"""


class StoreError(RuntimeError):
    """A store file that cannot serve this environment; the message says what to do."""


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection to the store file (created with its schema when new), in WAL mode so that
    the pages read while the reader writes."""
    try:
        connection = sqlite3.connect(path, timeout=30, check_same_thread=check_same_thread)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a usable cobstream ui store ({exc}); pass another --db") from None
    connection.row_factory = sqlite3.Row
    return connection


class Store:
    """The store as the reader writes it."""

    def __init__(self, path: Path, topic_prefix: str) -> None:
        self.path = path
        # The reader writes from a worker thread, one batch at a time.
        self.connection = connect(path, check_same_thread=False)
        self._claim_prefix(topic_prefix)

    def _claim_prefix(self, topic_prefix: str) -> None:
        """One store per environment: positions of one prefix's topics mean nothing for another's."""
        with self.connection:
            self.connection.execute(
                "INSERT OR IGNORE INTO meta VALUES ('topic_prefix', ?), ('schema_version', ?)",
                (topic_prefix, SCHEMA_VERSION),
            )
        stored = dict(self.connection.execute("SELECT name, value FROM meta").fetchall())
        if stored["topic_prefix"] != topic_prefix:
            raise StoreError(
                f"{self.path} holds the topics of COBSTREAM_TOPIC_PREFIX={stored['topic_prefix']!r}, not "
                f"{topic_prefix!r}: pass another --db for this environment"
            )
        if stored["schema_version"] != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by another version of cobstream ui (schema {stored['schema_version']}); "
                "delete it or pass another --db: it is rebuilt from the topics"
            )

    def close(self) -> None:
        self.connection.close()

    def positions(self) -> dict[tuple[str, int], int]:
        """The next offset to read, per (unprefixed topic, partition) read so far."""
        rows = self.connection.execute("SELECT topic, partition, next_offset FROM positions").fetchall()
        return {(row["topic"], row["partition"]): row["next_offset"] for row in rows}

    def ingest(self, records: Iterable[TopicRecord]) -> int:
        """Store a batch in one transaction, with the positions after it; returns how many records
        were new (a record read again is skipped)."""
        added = 0
        with self.connection:
            for record in records:
                added += self._ingest_one(record)
                self.connection.execute(
                    "INSERT INTO positions VALUES (?, ?, ?) ON CONFLICT (topic, partition) DO UPDATE "
                    "SET next_offset = max(next_offset, excluded.next_offset)",
                    (record.topic, record.partition, record.offset + 1),
                )
        return added

    def _ingest_one(self, record: TopicRecord) -> int:
        inserted = self.connection.execute(
            "INSERT OR IGNORE INTO messages (topic, partition, offset, timestamp_ms, key, value) VALUES (?,?,?,?,?,?)",
            (record.topic, record.partition, record.offset, record.timestamp_ms, record.key, record.value),
        ).rowcount
        if not inserted:
            return 0
        self._write_meaning(record, read_record(record))
        return 1

    def _write_meaning(self, record: TopicRecord, meaning: Meaning) -> None:
        place = (record.topic, record.partition, record.offset)
        execute = self.connection.execute
        if meaning.problem is not None:
            execute(
                "UPDATE messages SET problem = ? WHERE topic = ? AND partition = ? AND offset = ?",
                (meaning.problem, *place),
            )
        for item in meaning.inputs:
            execute(
                "INSERT OR IGNORE INTO claim_inputs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*place, item.seq, item.claim_id, item.role, item.event_id, item.payer_id, item.secondary_payer_id,
                 item.status, item.adjudicated_at, item.total_charge, item.total_paid, item.line_count, item.problem),
            )  # fmt: skip
            if item.role and item.event_id and item.payer_id:
                execute(
                    "INSERT OR IGNORE INTO eobs VALUES (?,?,?,?,?)",
                    (item.claim_id, item.role, item.event_id, item.payer_id, item.secondary_payer_id),
                )
        if (letter := meaning.dead_letter) is not None:
            execute(
                "INSERT OR IGNORE INTO dead_letters VALUES (?,?,?,?,?,?,?,?)",
                (letter.digest, *place, letter.claim_id, letter.source_topic, letter.error, letter.received_us),
            )
        if (outcome := meaning.outcome) is not None:
            self._write_outcome(place, outcome)

    def _write_outcome(self, place: tuple[str, int, int], outcome: OutcomeRow) -> None:
        added = self.connection.execute(
            "INSERT OR IGNORE INTO outcomes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (outcome.event_id, *place, outcome.claim_id, outcome.revision, outcome.produced_us, outcome.kind,
             outcome.blocking, outcome.expected_cents, outcome.actual_cents, outcome.difference_cents,
             outcome.primary_event_id, outcome.secondary_event_id),
        ).rowcount  # fmt: skip
        if added:
            self.connection.execute(
                "INSERT INTO claims VALUES (?,?,?,?) ON CONFLICT (claim_id) DO UPDATE SET "
                "latest_revision = excluded.latest_revision, latest_event_id = excluded.latest_event_id, "
                "latest_topic = excluded.latest_topic WHERE excluded.latest_revision > claims.latest_revision",
                (outcome.claim_id, outcome.revision, outcome.event_id, place[0]),
            )
