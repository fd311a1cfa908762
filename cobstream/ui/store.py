"""The work queue's local store: one SQLite file (WAL) holding every record `cobstream ui` read,
what each means for the queue, and how far the reader got in each partition.

Records are stored once per (topic, partition, offset), so reading a record again (a restart, a
re-assignment) changes nothing; an outcome delivered twice by the worker (after a crash, as an
exact repeat) is kept once by its `event_id`, a dead letter once by its bytes. The reader's
positions are written in the same transaction as the records, so a restart continues exactly
where the last batch ended. Reads (the pages) live in `cobstream.ui.queue`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from cobstream.ui.records import ClaimInput, Meaning, OutcomeRow, read_record
from models.contract.topics import CLAIM_INPUT_TOPICS
from streams.codec import TopicRecord

log = logging.getLogger("cobstream.ui")

DEFAULT_PATH = Path(".cobstream-ui.sqlite3")
# 1: EOBs only. 2: claim submissions (`claims.submitted`, 837s), whether a primary EOB states its
# secondary (CONTRACT.md's three states). `Store` upgrades an older store (`_upgrade`).
SCHEMA_VERSION = "2"

# What the store derives from the input records (`records.read_record`): rebuilt from the stored
# messages when the schema changes, so an upgrade needs no broker and loses nothing.
INPUT_TABLES = """
-- The EOBs and submissions an input record carries (an 835 or 837 message carries many).
CREATE TABLE IF NOT EXISTS claim_inputs (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL, seq INTEGER NOT NULL,
    claim_id TEXT NOT NULL, role TEXT, event_id TEXT, payer_id TEXT, secondary_payer_id TEXT,
    status TEXT, adjudicated_at TEXT, total_charge TEXT, total_paid TEXT, line_count INTEGER, problem TEXT,
    states_secondary INTEGER, tertiary_payer_id TEXT, submitted_at TEXT, frequency TEXT,
    PRIMARY KEY (topic, partition, offset, seq));
CREATE INDEX IF NOT EXISTS claim_inputs_by_claim ON claim_inputs (claim_id);
-- The first accepted EOB of each id in a claim (ids are unique across both EOB topics): where a
-- discrepancy's payers come from. `role` is null for an 835 denial or reversal whose file does
-- not tell it (the claim's submission does, in the worker).
CREATE TABLE IF NOT EXISTS eobs (
    claim_id TEXT NOT NULL, role TEXT, event_id TEXT NOT NULL,
    payer_id TEXT NOT NULL, secondary_payer_id TEXT, states_secondary INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (claim_id, event_id));
-- The earliest received accepted submission of each id in a claim (a repeat of an id changes
-- nothing), with when it was received (its record's time): which submission was current when a
-- discrepancy was raised, and which later one made a new claim version.
CREATE TABLE IF NOT EXISTS submissions (
    claim_id TEXT NOT NULL, event_id TEXT NOT NULL, received_us INTEGER NOT NULL,
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL, seq INTEGER NOT NULL,
    frequency TEXT NOT NULL, primary_payer_id TEXT, secondary_payer_id TEXT, tertiary_payer_id TEXT,
    PRIMARY KEY (claim_id, event_id));
CREATE INDEX IF NOT EXISTS submissions_by_claim ON submissions (claim_id, received_us);
"""

SCHEMA = (
    """
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
"""
    + INPUT_TABLES
    + """
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
)
INPUT_COLUMNS = (
    "topic, partition, offset, seq, claim_id, role, event_id, payer_id, secondary_payer_id, status, adjudicated_at, "
    "total_charge, total_paid, line_count, problem, states_secondary, tertiary_payer_id, submitted_at, frequency"
)
# Older schemas this one upgrades from: their input tables are rebuilt from the stored messages.
UPGRADABLE = ("1",)
REBUILT_TABLES = ("claim_inputs", "eobs", "submissions")


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
        if stored["schema_version"] in UPGRADABLE:
            self._upgrade(stored["schema_version"])
        elif stored["schema_version"] != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by another version of cobstream ui (schema {stored['schema_version']}); "
                "delete it or pass another --db: it is rebuilt from the topics"
            )

    def _upgrade(self, version: str) -> None:
        """Bring a store of an older schema to this one, in one transaction: the tables derived
        from the input records are dropped, created anew and filled again from the stored
        messages (decoded as this version decodes them). The messages, outcomes, dead letters
        and positions stay, so the reader goes on where it was; a topic the older version did
        not read (`claims.submitted`) has no position yet and is read from its beginning."""
        log.info("upgrading the store from schema %s to %s", version, SCHEMA_VERSION)
        dropped = " ".join(f"DROP TABLE IF EXISTS {table};" for table in REBUILT_TABLES)
        try:
            # executescript commits first and adds no transaction control: the BEGIN stays open.
            self.connection.executescript(f"BEGIN; {dropped} {INPUT_TABLES}")
            topics = ",".join("?" * len(CLAIM_INPUT_TOPICS))
            rows = self.connection.execute(
                f"SELECT topic, partition, offset, key, value, timestamp_ms FROM messages WHERE topic IN ({topics})",
                CLAIM_INPUT_TOPICS,
            )
            decoded = 0
            for row in rows:  # a cursor: the messages are not all held at once
                record = TopicRecord(*row)
                self._write_inputs(record, read_record(record).inputs)
                decoded += 1
            self.connection.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (SCHEMA_VERSION,))
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        log.info("store upgraded: %d input records decoded again", decoded)

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
        self._write_inputs(record, meaning.inputs)
        if (letter := meaning.dead_letter) is not None:
            execute(
                "INSERT OR IGNORE INTO dead_letters VALUES (?,?,?,?,?,?,?,?)",
                (letter.digest, *place, letter.claim_id, letter.source_topic, letter.error, letter.received_us),
            )
        if (outcome := meaning.outcome) is not None:
            self._write_outcome(place, outcome)

    def _write_inputs(self, record: TopicRecord, inputs: Iterable[ClaimInput]) -> None:
        place = (record.topic, record.partition, record.offset)
        execute = self.connection.execute
        for item in inputs:
            execute(
                f"INSERT OR IGNORE INTO claim_inputs ({INPUT_COLUMNS}) VALUES ({','.join('?' * 19)})",
                (*place, item.seq, item.claim_id, item.role, item.event_id, item.payer_id, item.secondary_payer_id,
                 item.status, item.adjudicated_at, item.total_charge, item.total_paid, item.line_count, item.problem,
                 item.states_secondary, item.tertiary_payer_id, item.submitted_at, item.frequency),
            )  # fmt: skip
            if item.is_eob:
                execute(
                    "INSERT OR IGNORE INTO eobs VALUES (?,?,?,?,?,?)",
                    (item.claim_id, item.role, item.event_id, item.payer_id, item.secondary_payer_id,
                     item.states_secondary is not False),
                )  # fmt: skip
            elif item.is_submission:
                self._write_submission(record, item)

    def _write_submission(self, record: TopicRecord, item: ClaimInput) -> None:
        """Keep the earliest received submission of each id (records may be read in any order)."""
        self.connection.execute(
            "INSERT INTO submissions VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (claim_id, event_id) DO UPDATE SET "
            "received_us = excluded.received_us, topic = excluded.topic, partition = excluded.partition, "
            "offset = excluded.offset, seq = excluded.seq, frequency = excluded.frequency, "
            "primary_payer_id = excluded.primary_payer_id, secondary_payer_id = excluded.secondary_payer_id, "
            "tertiary_payer_id = excluded.tertiary_payer_id "
            "WHERE (excluded.received_us, excluded.topic, excluded.partition, excluded.offset, excluded.seq) < "
            "(received_us, topic, partition, offset, seq)",
            (item.claim_id, item.event_id, record.timestamp_ms * 1000, record.topic, record.partition, record.offset,
             item.seq, item.frequency, item.payer_id, item.secondary_payer_id, item.tertiary_payer_id),
        )  # fmt: skip

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
