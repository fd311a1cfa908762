"""The work queue's reads of the store: open discrepancies in the order a billing team works
them, the counts behind the filters, a claim's discrepancies (open and superseded), its history,
and the messages that explain a claim. With `worked=True` each discrepancy comes with the team's
work on it (`cobstream.ui.work`'s `work_current`, the work file attached as `work`), which the
assignee and status filters read; resolved work is off the default view.

**Open.** A discrepancy is open while no later revision of its claim supersedes it. Every
outcome of a claim carries the next revision (CONTRACT.md), and a claim version is identified
by the submission and the EOBs current in it (COVERAGE.md section 1); a discrepancy names its
EOBs (`primary_event_id`, `secondary_event_id`). A later outcome supersedes it when it is a
`billing.ready` event (ready, or voided, which only a version change emits), a
`secondary.expected` event (emitted only when a new primary becomes current, or when a
submission makes the secondary payer known), or a discrepancy naming other current EOBs (a newer
version). A later discrepancy of the same version (`line_mismatch` beside a money kind) does
not: both stand until the version changes (COB_RULES.md section 6). A `primary_overdue` names no
EOB (CONTRACT.md: both ids null, even when a secondary EOB is current), so it is taken as of
every version without a primary EOB: it supersedes nothing, and only an outcome of a version with
a primary EOB (or a later submission, below) supersedes it.

A submission of the claim received after a blocking discrepancy was raised (its record's time
later than the discrepancy's `produced_at`, the time of the input that raised it) also
supersedes it: it makes a new version, evaluated from scratch, whose blocking discrepancies the
worker publishes with it (a void does so only when a submission was current: a void of nothing
changes nothing; a repeated submission id is no new submission). It supersedes a
`primary_overdue` too, which fired for the submission then current; the other follow-ups fire
once and a new version does not raise them again, so a submission leaves them standing.

**Order.** Blocking first (they hold patient billing), then oldest first (`produced_at`: the
time the input that raised it was received), then the largest |difference| first (no
difference last), then claim id.

**Payers.** The primary payer is the payer of the discrepancy's primary EOB. The secondary
payer is the claim's, by COVERAGE.md section 1: the one that primary EOB names when it states
one (a crossover) or states that there is none; else the secondary of the submission current
when the discrepancy was raised (the latest received by then, unless a void), or none when it
lists no secondary; else the payer of its secondary EOB; else unknown (`coverage_source`
says which).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cobstream.ui.records import EPOCH
from models.contract.topics import DISCREPANCY, REFERENCE_TOPICS, REMITTANCE_X12
from streams.codec import kafka_key_text

# The submission current when a discrepancy was raised: the latest received by then, unless a void.
CURRENT_SUBMISSION = """
SELECT x.rowid FROM submissions x WHERE x.claim_id = d.claim_id AND x.received_us <= d.produced_us
ORDER BY x.received_us DESC, x.topic DESC, x.partition DESC, x.offset DESC, x.seq DESC LIMIT 1
"""
DISCREPANCY_ROWS = f"""
SELECT d.*, m.value AS value, p.payer_id AS primary_payer_id,
       CASE WHEN p.states_secondary THEN p.secondary_payer_id WHEN c.event_id IS NOT NULL THEN c.secondary_payer_id
            ELSE s.payer_id END AS secondary_payer_id,
       CASE WHEN p.states_secondary THEN 'primary_eob' WHEN c.event_id IS NOT NULL THEN 'submission'
            WHEN s.payer_id IS NOT NULL THEN 'secondary_eob' ELSE 'unknown' END AS coverage_source,
       c.tertiary_payer_id AS tertiary_payer_id, s.payer_id AS paying_payer_id,
       {{is_open}} AS is_open
FROM outcomes d
JOIN messages m ON m.topic = d.topic AND m.partition = d.partition AND m.offset = d.offset
LEFT JOIN eobs p ON p.claim_id = d.claim_id AND p.event_id = d.primary_event_id
LEFT JOIN eobs s ON s.claim_id = d.claim_id AND s.event_id = d.secondary_event_id
LEFT JOIN submissions c ON c.rowid = ({CURRENT_SUBMISSION}) AND c.frequency <> 'void'
WHERE d.topic = '{DISCREPANCY}'
"""
# Not superseded (the module docstring): no later outcome of another version, no later submission.
STILL_OPEN = f"""
NOT EXISTS (
    SELECT 1 FROM outcomes later
    WHERE later.claim_id = d.claim_id AND later.revision > d.revision
      AND NOT (later.topic = '{DISCREPANCY}'
               AND (later.primary_event_id IS d.primary_event_id AND later.secondary_event_id IS d.secondary_event_id
                    OR later.kind = 'primary_overdue'
                    OR d.kind = 'primary_overdue' AND later.primary_event_id IS NULL)))
  AND NOT (
    (d.blocking OR d.kind = 'primary_overdue') AND EXISTS (
      SELECT 1 FROM submissions later
      WHERE later.claim_id = d.claim_id AND later.received_us > d.produced_us
        AND (later.frequency <> 'void' OR c.event_id IS NOT NULL)))
"""
OPEN_DISCREPANCIES = DISCREPANCY_ROWS.replace("{is_open}", "1") + f" AND {STILL_OPEN}"
ALL_DISCREPANCIES = DISCREPANCY_ROWS.replace("{is_open}", f"({STILL_OPEN})")
# The team's work beside each discrepancy (`cobstream.ui.work`, attached as `work`), or none.
WORKED = """
SELECT q.*, w.assignee AS assignee, coalesce(w.status, 'new') AS work_status, w.resolution AS resolution,
       w.recovered_cents AS recovered_cents
FROM ({rows}) q LEFT JOIN work.work_current w ON w.discrepancy_id = q.event_id
"""
UNWORKED = """
SELECT q.*, NULL AS assignee, 'new' AS work_status, NULL AS resolution, NULL AS recovered_cents FROM ({rows}) q
"""
# What an 837 claim's history entry shows (the claim_inputs column of each).
SUBMISSION_FIELDS = {
    "event_id": "event_id",
    "frequency": "frequency",
    "submitted_at": "submitted_at",
    "primary_payer_id": "payer_id",
    "secondary_payer_id": "secondary_payer_id",
    "tertiary_payer_id": "tertiary_payer_id",
    "total_charge": "total_charge",
    "line_count": "line_count",
}
QUEUE_ORDER = (
    "blocking DESC, produced_us, abs(difference_cents) IS NULL, abs(difference_cents) DESC, claim_id, revision"
)


# The work status filter: None is every discrepancy not yet resolved (the default view); ANY_STATUS
# is every one, resolved too.
ANY_STATUS = "any"
UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class QueueFilter:
    """What the billing team narrowed the queue to; None is everything (but resolved work)."""

    secondary_payer: str | None = None
    primary_payer: str | None = None
    kind: str | None = None
    assignee: str | None = None  # a user's name, or UNASSIGNED
    status: str | None = None  # a work status, ANY_STATUS, or None: not resolved

    def where(self) -> tuple[str, list[str]]:
        clauses, values = [], []
        for column, wanted in (
            ("secondary_payer_id", self.secondary_payer),
            ("primary_payer_id", self.primary_payer),
            ("kind", self.kind),
        ):
            if wanted:
                clauses.append(f"{column} = ?")
                values.append(wanted)
        if self.assignee == UNASSIGNED:
            clauses.append("assignee IS NULL")
        elif self.assignee:
            clauses.append("assignee = ?")
            values.append(self.assignee)
        if self.status is None:
            clauses.append("work_status <> 'resolved'")
        elif self.status != ANY_STATUS:
            clauses.append("work_status = ?")
            values.append(self.status)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", values

    @property
    def narrowed(self) -> bool:
        return any((self.secondary_payer, self.primary_payer, self.kind, self.assignee, self.status))


@dataclass(frozen=True)
class QueueItem:
    """One open discrepancy, as a row of the queue."""

    claim_id: str
    revision: int
    event_id: str
    kind: str
    blocking: bool
    raised_at: datetime
    expected_cents: int | None
    actual_cents: int | None
    difference_cents: int | None
    action: str
    line_ids: tuple[str, ...]
    primary_payer_id: str | None
    secondary_payer_id: str | None  # the claim's (COVERAGE.md section 1); None: none or unknown
    paying_payer_id: str | None  # the payer that sent the secondary EOB, when there is one
    primary_event_id: str | None
    secondary_event_id: str | None
    coverage_source: str = "unknown"  # primary_eob, submission, secondary_eob or unknown
    tertiary_payer_id: str | None = None  # the current submission's tertiary
    is_open: bool = True  # False: superseded by a newer claim version (the module docstring)
    assignee: str | None = None  # the team's work on it (cobstream.ui.work)
    work_status: str = "new"
    resolution: str | None = None
    recovered_cents: int | None = None

    @property
    def secondary_payer(self) -> str:
        """The secondary payer as the queue shows it: its id, "none" or "unknown"."""
        if self.secondary_payer_id:
            return self.secondary_payer_id
        return "unknown" if self.coverage_source == "unknown" else "none"


@dataclass(frozen=True)
class QueueCounts:
    """Open discrepancies counted for the filter controls (over the whole queue)."""

    total: int = 0
    blocking: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    by_secondary_payer: dict[str, int] = field(default_factory=dict)
    by_primary_payer: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryEntry:
    """One input, outcome or dead letter of a claim, in the order things happened."""

    moment: datetime
    source: str  # "input", "outcome" or "dead letter"
    topic: str
    place: str  # topic[partition]@offset
    revision: int | None
    fields: dict[str, Any]
    document: str  # the event as pretty JSON (an 835 message: its claim payment only)


def _rows(sql: str, worked: bool) -> str:
    return (WORKED if worked else UNWORKED).format(rows=sql)


def open_discrepancies(
    db: sqlite3.Connection, wanted: QueueFilter = QueueFilter(), limit: int = 500, *, worked: bool = False
) -> list[QueueItem]:
    """Open discrepancies matching `wanted`, in queue order; `worked`: with the team's work (the
    work file attached as `work`)."""
    where, values = wanted.where()
    rows = db.execute(
        f"SELECT * FROM ({_rows(OPEN_DISCREPANCIES, worked)}){where} ORDER BY {QUEUE_ORDER} LIMIT ?",
        [*values, limit],
    ).fetchall()
    return [_item(row) for row in rows]


def claim_discrepancies(db: sqlite3.Connection, claim_id: str) -> list[QueueItem]:
    """The claim's open discrepancies, in queue order."""
    rows = db.execute(
        f"SELECT * FROM ({_rows(OPEN_DISCREPANCIES, False)}) WHERE claim_id = ? ORDER BY {QUEUE_ORDER}", [claim_id]
    ).fetchall()
    return [_item(row) for row in rows]


def every_discrepancy(db: sqlite3.Connection, claim_id: str, *, worked: bool = False) -> list[QueueItem]:
    """Every discrepancy the claim was ever given, open or superseded, newest revision first."""
    rows = db.execute(
        f"SELECT * FROM ({_rows(ALL_DISCREPANCIES, worked)}) WHERE claim_id = ? ORDER BY revision DESC", [claim_id]
    ).fetchall()
    return [_item(row) for row in rows]


def discrepancy(db: sqlite3.Connection, event_id: str, *, worked: bool = False) -> QueueItem | None:
    """One discrepancy by its event id, open or superseded; None when the store has no such one."""
    row = db.execute(f"SELECT * FROM ({_rows(ALL_DISCREPANCIES, worked)}) WHERE event_id = ?", [event_id]).fetchone()
    return _item(row) if row is not None else None


def _item(row: sqlite3.Row) -> QueueItem:
    value = json.loads(row["value"])
    return QueueItem(
        claim_id=row["claim_id"],
        revision=row["revision"],
        event_id=row["event_id"],
        kind=row["kind"],
        blocking=bool(row["blocking"]),
        raised_at=moment_of(row["produced_us"]),
        expected_cents=row["expected_cents"],
        actual_cents=row["actual_cents"],
        difference_cents=row["difference_cents"],
        action=str(value.get("action") or ""),
        line_ids=tuple(str(line) for line in value.get("line_ids") or ()),
        primary_payer_id=row["primary_payer_id"],
        secondary_payer_id=row["secondary_payer_id"],
        paying_payer_id=row["paying_payer_id"],
        primary_event_id=row["primary_event_id"],
        secondary_event_id=row["secondary_event_id"],
        coverage_source=row["coverage_source"],
        tertiary_payer_id=row["tertiary_payer_id"],
        is_open=bool(row["is_open"]),
        assignee=row["assignee"],
        work_status=row["work_status"],
        resolution=row["resolution"],
        recovered_cents=row["recovered_cents"],
    )


def queue_counts(db: sqlite3.Connection, *, worked: bool = False) -> QueueCounts:
    """Counts over the open discrepancies not yet resolved by the team."""
    rows = db.execute(
        "SELECT kind, blocking, secondary_payer_id, primary_payer_id, count(*) AS n "
        f"FROM ({_rows(OPEN_DISCREPANCIES, worked)}) WHERE work_status <> 'resolved' "
        "GROUP BY kind, blocking, secondary_payer_id, primary_payer_id"
    ).fetchall()
    kinds: Counter[str] = Counter()
    secondaries: Counter[str] = Counter()
    primaries: Counter[str] = Counter()
    for row in rows:
        kinds[row["kind"]] += row["n"]
        if row["secondary_payer_id"]:
            secondaries[row["secondary_payer_id"]] += row["n"]
        if row["primary_payer_id"]:
            primaries[row["primary_payer_id"]] += row["n"]
    return QueueCounts(
        total=sum(row["n"] for row in rows),
        blocking=sum(row["n"] for row in rows if row["blocking"]),
        by_kind=dict(sorted(kinds.items())),
        by_secondary_payer=dict(sorted(secondaries.items())),
        by_primary_payer=dict(sorted(primaries.items())),
    )


def latest_revision(db: sqlite3.Connection, claim_id: str) -> int | None:
    row = db.execute("SELECT latest_revision FROM claims WHERE claim_id = ?", [claim_id]).fetchone()
    return row["latest_revision"] if row else None


def claim_history(db: sqlite3.Connection, claim_id: str) -> list[HistoryEntry]:
    """Inputs, outcomes and dead letters of the claim. An outcome's `produced_at` is the time its
    input was received (a timer's: when it fired), so it sorts right after that input; outcomes of
    one input follow in revision order."""
    entries = [*_input_entries(db, claim_id), *_outcome_entries(db, claim_id), *_dead_letter_entries(db, claim_id)]
    entries.sort(key=lambda entry: entry[0])
    return [entry for _, entry in entries]


def _input_entries(db: sqlite3.Connection, claim_id: str) -> list[tuple[tuple, HistoryEntry]]:
    rows = db.execute(
        "SELECT c.*, m.timestamp_ms, m.value FROM claim_inputs c JOIN messages m "
        "ON m.topic = c.topic AND m.partition = c.partition AND m.offset = c.offset WHERE c.claim_id = ?",
        [claim_id],
    ).fetchall()
    entries = []
    for row in rows:
        fields = {name: row[name] for name in row.keys() if name not in ("value", "timestamp_ms")}  # noqa: SIM118
        moment = moment_of(row["timestamp_ms"] * 1000)
        entry = HistoryEntry(moment, "input", row["topic"], _place(row), None, fields, _input_document(row))
        entries.append(((row["timestamp_ms"], 0, 0, row["topic"], row["partition"], row["offset"], row["seq"]), entry))
    return entries


def _outcome_entries(db: sqlite3.Connection, claim_id: str) -> list[tuple[tuple, HistoryEntry]]:
    return _published_entries(db, claim_id, "outcomes", "produced_us", "outcome")


def _dead_letter_entries(db: sqlite3.Connection, claim_id: str) -> list[tuple[tuple, HistoryEntry]]:
    return _published_entries(db, claim_id, "dead_letters", "received_us", "dead letter")


def _published_entries(
    db: sqlite3.Connection, claim_id: str, table: str, moment_column: str, what: str
) -> list[tuple[tuple, HistoryEntry]]:
    """The claim's records of one output table (`outcomes` or `dead_letters`, fixed names, never
    input), each sorted after the input it came from (by `moment_column`), then by revision."""
    rows = db.execute(
        f"SELECT t.*, m.value FROM {table} t JOIN messages m "  # table: one of two literals
        "ON m.topic = t.topic AND m.partition = t.partition AND m.offset = t.offset WHERE t.claim_id = ?",
        [claim_id],
    ).fetchall()
    entries = []
    for row in rows:
        value = json.loads(row["value"])
        revision = row["revision"] if "revision" in row.keys() else None  # noqa: SIM118
        entry = HistoryEntry(
            moment_of(row[moment_column]), what, row["topic"], _place(row), revision, value, _pretty(value)
        )
        sort_key = (_millis(row[moment_column]), 1, revision or 0, row["topic"], row["partition"], row["offset"], 0)
        entries.append((sort_key, entry))
    return entries


def _input_document(row: sqlite3.Row) -> str:
    """A JSON message (an EOB, a submission) as pretty JSON; of an X12 message, only what the claim
    payment (835) or the claim (837) said."""
    if row["topic"] != REMITTANCE_X12:
        try:
            return _pretty(json.loads(row["value"]))
        except (TypeError, ValueError, UnicodeDecodeError):
            return bytes(row["value"] or b"")[:4096].decode("utf-8", "replace")
    if row["role"] == "submission":
        shown = {"from": "X12 837 claim", **{name: row[column] for name, column in SUBMISSION_FIELDS.items()}}
    else:
        keep = ("role", "event_id", "payer_id", "secondary_payer_id", "status", "adjudicated_at", "line_count")
        shown = {"from": "X12 835 claim payment", **{name: row[name] for name in keep}}
        if row["role"] == "primary" and not row["states_secondary"]:
            shown["secondary_payer_id"] = "not stated (no NM1*TT)"
    return _pretty({**shown, "problem": row["problem"]})


def claim_messages(db: sqlite3.Connection, claim_id: str) -> list[tuple[str, str | None, bytes | None, datetime]]:
    """What replays the claim: the reference data and the claim's input messages, in the order
    they were received, as (topic, key, value, the record's time) for `Engine.receive`."""
    references = ",".join("?" * len(REFERENCE_TOPICS))
    rows = db.execute(
        f"SELECT topic, partition, offset, timestamp_ms, key, value FROM messages WHERE topic IN ({references}) "
        "UNION ALL SELECT topic, partition, offset, timestamp_ms, key, value FROM messages "
        "WHERE (topic, partition, offset) IN (SELECT topic, partition, offset FROM claim_inputs WHERE claim_id = ?) "
        "ORDER BY timestamp_ms, topic, partition, offset",
        [*REFERENCE_TOPICS, claim_id],
    ).fetchall()
    return [
        (row["topic"], kafka_key_text(row["key"]), row["value"], moment_of(row["timestamp_ms"] * 1000)) for row in rows
    ]


def store_clock(db: sqlite3.Connection) -> datetime | None:
    """The time of the latest record the store read: an input's or an outcome's."""
    row = db.execute(
        "SELECT (SELECT max(timestamp_ms) FROM messages) AS ms, (SELECT max(produced_us) FROM outcomes) AS us"
    ).fetchone()
    found = [micros for micros in (row["ms"] and row["ms"] * 1000, row["us"]) if micros is not None]
    return moment_of(max(found)) if found else None


def store_counts(db: sqlite3.Connection) -> dict[str, int]:
    """How much the store holds, for /healthz."""
    row = db.execute(
        "SELECT (SELECT count(*) FROM messages) AS records, (SELECT count(*) FROM outcomes) AS outcomes, "
        "(SELECT count(*) FROM dead_letters) AS dead_letters, "
        "(SELECT count(*) FROM messages WHERE problem IS NOT NULL) AS unreadable, "
        "(SELECT count(*) FROM claims) AS claims"
    ).fetchone()
    return dict(row)


def moment_of(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def _millis(micros: int) -> int:
    return (micros + 500) // 1000


def _place(row: sqlite3.Row) -> str:
    return f"{row['topic']}[{row['partition']}]@{row['offset']}"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
