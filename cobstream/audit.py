"""`cobstream audit`: after an incident, account for every EOB and every outcome on the topics.

This module owns the audit's judgement and its reading of Kafka, in three parts:

- `audit(records)`, pure (no Kafka, no clock): from the records of the EOB and reference input
  topics, of the internal claim-events topic and of the output topics, it checks that every
  EOB was taken in (a claim event or a dead letter), replays each claim's claim events through
  the core in the order the claims agent applied them, and compares what the core publishes
  with what is on the output topics. The result is an `AuditReport` of `Finding`s: EOBs not
  taken in, missing outcomes, outcomes that differ from the core, unexpected outcomes,
  conflicting duplicates and revision gaps; with harmless repeats and dead letters counted.
- `read_records(settings)`: every partition of those topics read with aiokafka (no consumer
  group, read_committed) up to its end offset, from the beginning or from a time.
- `run_audit(...)`: the command's body: read, judge, print, and the exit status (0 all accounted
  for, 1 anything missing, unexpected or conflicting, 2 unusable arguments or broker).

Findings name claim ids, event ids, revisions and topic[partition]@offset places, never amounts
or patient data.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

import orjson
from pydantic import ValidationError

from models.cob.claim import EobReceived
from models.cob.processor import DEFAULT_RETENTION, ClaimProcessor, DictStore
from models.cob.reference import Reference, ReferenceChange
from models.contract.outcomes import Outcome
from models.contract.topics import (
    CLAIM_EVENTS,
    DEAD_LETTER,
    DISCREPANCY,
    EOB_TOPICS,
    EXPECTED,
    OUTPUT_TOPICS,
    READY,
    REFERENCE_TOPICS,
    REMITTANCE_X12,
)
from models.contract.types import format_timestamp
from models.remittance.decode import Rejected, decode_reference
from models.remittance.intake import decode_remittance
from streams.codec import ClaimEvent, kafka_key_text
from streams.kafka_internals import cluster_metadata
from streams.settings import Settings, SettingsError
from streams.topics import MAX_WRITTEN_BYTES

OUTCOME_TOPICS = (EXPECTED, READY, DISCREPANCY)

# What a finding can say. All but NOT_RECONCILED are problems (exit status 1).
NOT_TAKEN_IN = "not taken in"  # an EOB with neither a claim event nor a dead letter
NO_SUCH_INPUT = "no such input"  # a claim event naming an input record that is not on its topic
MISSING = "missing outcome"  # the core publishes it for an accepted EOB; the topics do not have it
DIFFERS = "differs from the core"  # same event id, other content
UNEXPECTED = "unexpected outcome"  # on the topics, but the core never publishes it
CONFLICTING = "conflicting duplicate"  # the same event id (or dead letter) twice with other bytes
REVISION_GAP = "revision gap"  # a claim's published revisions skip a number
UNREADABLE = "unreadable record"  # a claim event or output that is not what its topic carries
CORE_FAILED = "core failed"  # the core raised on a claim event the claims agent applied
NOT_RECONCILED = "not reconciled"  # a claim event the claims agent dead-lettered (accounted for)
PROBLEMS = frozenset(
    {NOT_TAKEN_IN, NO_SUCH_INPUT, MISSING, DIFFERS, UNEXPECTED, CONFLICTING, REVISION_GAP, UNREADABLE, CORE_FAILED}
)
_PLACE = re.compile(r"(?P<topic>.+)\[(?P<partition>\d+)\]@(?P<offset>\d+)")


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as the audit sees it: unprefixed topic, place, bytes, time (ms)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int

    @property
    def place(self) -> str:
        """`topic[partition]@offset`, as claim events name their source."""
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    claim_id: str | None = None
    revision: int | None = None
    event_ids: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    note: str = ""

    @property
    def is_problem(self) -> bool:
        return self.kind in PROBLEMS


@dataclass
class AuditReport:
    """What the audit found, with the counts an operator checks first."""

    since: datetime | None = None
    until: datetime | None = None
    inputs: int = 0  # EOB records audited (in the time range)
    taken_in: int = 0  # of those, with a claim event
    dead_lettered: int = 0  # of those, with a dead letter
    claims: int = 0  # claims audited
    expected: int = 0  # outcomes the core publishes for them (that the audit requires)
    published: int = 0  # distinct outcomes on the output topics
    repeats: int = 0  # identical redeliveries of an outcome or a dead letter (harmless)
    dead_letters: Counter[str] = field(default_factory=Counter)  # by reason
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.is_problem]

    @property
    def exit_status(self) -> int:
        return 1 if self.problems else 0

    def add(self, kind: str, claim_id: str | None = None, **details: Any) -> None:
        self.findings.append(Finding(kind, claim_id, **details))


@dataclass(frozen=True, slots=True)
class ExpectedOutcome:
    """An outcome the core publishes when it replays a claim event."""

    claim_id: str
    event_id: str
    revision: int
    topic: str
    value: dict[str, Any]
    cause: str  # the claim event's place
    required: bool  # its claim and time are audited: it must be on the topics


@dataclass(slots=True)
class Published:
    """The first delivery of an outcome on the output topics."""

    record: Record
    value: dict[str, Any]


# ---- the pure part --------------------------------------------------------------------------


def audit(
    records: Iterable[Record],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    retention: timedelta = DEFAULT_RETENTION,
) -> AuditReport:
    """Judge the records of the input, claim-events and output topics (any order).

    With `since`/`until`, only EOB inputs whose record time is in the range are audited, and an
    outcome is required only when the claim event that causes it is from `since` on; the
    claim-events topic is needed from its beginning (a claim's replay needs its whole history).
    `retention` is the workers' COBSTREAM_CLAIM_RETENTION_DAYS: a claim forgotten after it
    starts again at revision 1.
    """
    report = AuditReport(since=since, until=until)
    topics = _by_topic(records)
    letters = _dead_letters(topics[DEAD_LETTER], report)
    events = _claim_events(topics[CLAIM_EVENTS], report)
    inputs = [r for topic in (*EOB_TOPICS, REMITTANCE_X12) for r in topics[topic]]
    audited = _account_for_inputs(inputs, events, letters, report)
    _find_claim_events_without_input(inputs, events, report)
    reference = [r for topic in REFERENCE_TOPICS for r in topics[topic]]
    expected, replayed = _replay(events, ReferenceAsOf(reference), letters, audited, since, retention, report)
    report.claims = len(replayed if audited is None else audited)
    report.expected = sum(1 for e in expected.values() if e.required)
    published = _published([r for topic in OUTCOME_TOPICS for r in topics[topic]], report)
    _compare(expected, published, replayed, report)
    _check_revisions(published, first_is_one=since is None, report=report)
    return report


def _by_topic(records: Iterable[Record]) -> defaultdict[str, list[Record]]:
    topics: defaultdict[str, list[Record]] = defaultdict(list)
    for record in records:
        topics[record.topic].append(record)
    for found in topics.values():
        found.sort(key=lambda r: (r.partition, r.offset))
    return topics


def _in_range(timestamp: int, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or timestamp >= _ms(since)) and (until is None or timestamp <= _ms(until))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _dead_letters(records: list[Record], report: AuditReport) -> set[tuple[Any, Any, Any]]:
    """Where each dead letter's input was (topic, partition, offset); reasons counted once each.

    An 835 message may hold several unusable claims: its dead letters differ by their error."""
    first: dict[tuple[Any, ...], Record] = {}
    for record in records:
        try:
            value = orjson.loads(record.value or b"")
            source = (value["source_topic"], value["partition"], value["offset"])
            reason = str(value["error"]).split(":", 1)[0].strip()
            hash(source)
            letter = (*source, value["error"] if source[0] == REMITTANCE_X12 else None)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            report.add(UNREADABLE, places=(record.place,), note="not a dead letter")
            continue
        earlier = first.setdefault(letter, record)
        if earlier is record:
            report.dead_letters[reason] += 1
        elif earlier.value == record.value:
            report.repeats += 1
        else:
            report.add(
                CONFLICTING,
                value.get("claim_id") if isinstance(value.get("claim_id"), str) else None,
                places=(earlier.place, record.place),
                note=f"two dead letters for {_place_text(source)} with different bytes",
            )
    return {letter[:3] for letter in first}


def _place_text(source: tuple[Any, Any, Any]) -> str:
    return f"{source[0]}[{source[1]}]@{source[2]}"


def _claim_events(records: list[Record], report: AuditReport) -> list[tuple[Record, ClaimEvent]]:
    events = []
    for record in records:
        try:
            event = ClaimEvent.model_validate_json(record.value or b"")
        except ValidationError:
            report.add(UNREADABLE, places=(record.place,), note="not a claim event")
            continue
        if event.kind == "eob" and (event.eob is None or event.role is None):
            report.add(UNREADABLE, event.claim_id, places=(record.place,), note="an eob claim event without its EOB")
            continue
        events.append((record, event))
    return events


def _account_for_inputs(
    inputs: list[Record],
    events: list[tuple[Record, ClaimEvent]],
    letters: set[tuple[Any, Any, Any]],
    report: AuditReport,
) -> set[str] | None:
    """Each EOB in the range: taken in (a claim event names it) or dead-lettered, else a finding.

    Returns the claims audited: those of the EOBs in the range, or None (all) without a range.
    """
    taken = {event.source: event.claim_id for _, event in events if event.kind == "eob" and event.source}
    audited: set[str] = set()
    for record in inputs:
        if not _in_range(record.timestamp, report.since, report.until):
            continue
        report.inputs += 1
        claim_id = taken.get(record.place)
        if record.topic == REMITTANCE_X12:
            audited |= _account_for_remittance(record, claim_id, letters, report)
        elif claim_id is not None:
            report.taken_in += 1
            audited.add(claim_id)
        elif (record.topic, record.partition, record.offset) in letters:
            report.dead_lettered += 1
        else:
            report.add(NOT_TAKEN_IN, _claim_id_in(record.value), places=(record.place,))
    return None if report.since is None and report.until is None else audited


def _account_for_remittance(
    record: Record, claim_id: str | None, letters: set[tuple[Any, Any, Any]], report: AuditReport
) -> set[str]:
    """An 835 message is taken in when its claim payments have claim events and its unusable
    parts a dead letter (one holding only provider adjustments needs neither); returns the
    claims it pays."""
    found = decode_remittance(record.value)
    dead_lettered = (record.topic, record.partition, record.offset) in letters
    taken_in = claim_id is not None
    if any(isinstance(f, EobReceived) for f in found) and not taken_in:
        report.add(NOT_TAKEN_IN, places=(record.place,), note="claim payments without claim events")
    elif any(isinstance(f, Rejected) for f in found) and not dead_lettered:
        report.add(NOT_TAKEN_IN, claim_id, places=(record.place,), note="an unusable part without a dead letter")
    elif taken_in:
        report.taken_in += 1
    else:
        report.dead_lettered += int(dead_lettered)
    return {f.eob.claim_id for f in found if isinstance(f, EobReceived)}


def _claim_id_in(value: bytes | None) -> str | None:
    try:
        claim_id = orjson.loads(value or b"").get("claim_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return claim_id if isinstance(claim_id, str) and len(claim_id) <= 128 else None


def _find_claim_events_without_input(
    inputs: list[Record], events: list[tuple[Record, ClaimEvent]], report: AuditReport
) -> None:
    """A claim event naming an offset inside the span read of its input partition that holds no
    record: an input that is not there (an aborted transaction read uncommitted, say)."""
    offsets: defaultdict[tuple[str, int], set[int]] = defaultdict(set)
    for record in inputs:
        offsets[(record.topic, record.partition)].add(record.offset)
    for record, event in events:
        found = _PLACE.fullmatch(event.source or "") if event.kind == "eob" else None
        if found is None:
            continue
        read = offsets.get((found["topic"], int(found["partition"])))
        offset = int(found["offset"])
        if read and min(read) <= offset <= max(read) and offset not in read:
            report.add(NO_SUCH_INPUT, event.claim_id, places=(record.place, event.source or ""))


class ReferenceAsOf:
    """The reference data in force at a moment: reference records applied in record-time order
    up to it, as each worker's reference reader applies them while it runs."""

    def __init__(self, records: list[Record]) -> None:
        self.reference = Reference()
        self._pending = list(_in_record_time_order(records))
        self._pending.reverse()

    def at(self, timestamp: int) -> Reference:
        while self._pending and self._pending[-1].timestamp <= timestamp:
            record = self._pending.pop()
            change = decode_reference(record.topic, kafka_key_text(record.key), record.value)
            if isinstance(change, ReferenceChange):
                self.reference.apply(change)
        return self.reference


def _in_record_time_order(records: list[Record]) -> Iterator[Record]:
    """Partitions interleaved by record time, each partition kept in offset order."""
    partitions: defaultdict[tuple[str, int], list[Record]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        partitions[(record.topic, record.partition)].append(record)
    return heapq.merge(*partitions.values(), key=lambda r: r.timestamp)


def _replay(
    events: list[tuple[Record, ClaimEvent]],
    reference: ReferenceAsOf,
    letters: set[tuple[Any, Any, Any]],
    audited: set[str] | None,
    since: datetime | None,
    retention: timedelta,
    report: AuditReport,
) -> tuple[dict[str, ExpectedOutcome], set[str]]:
    """Every claim event through the core, each claim-events partition in offset order; returns
    the outcomes by event id and the claims replayed."""
    by_partition: defaultdict[int, list[tuple[Record, ClaimEvent]]] = defaultdict(list)
    for record, event in events:
        by_partition[record.partition].append((record, event))
    # The claims agent's own processor (models.cob.processor), over a dict: the judge cannot drift
    # from the worker. Its reference is the one `reference.at` brings up to each record's time.
    processor = ClaimProcessor(DictStore(), reference.reference, retention)
    replayed: set[str] = set()
    expected: dict[str, ExpectedOutcome] = {}
    for record, event in heapq.merge(*by_partition.values(), key=lambda pair: pair[0].timestamp):
        if (CLAIM_EVENTS, record.partition, record.offset) in letters:
            report.add(NOT_RECONCILED, event.claim_id, places=(record.place,), note="dead-lettered by the claims agent")
            replayed.add(event.claim_id)
            continue
        reference.at(record.timestamp)
        try:
            published = processor.apply(event.claim_id, event.for_the_core(), event.at)
        except Exception as exc:  # the worker would have dead-lettered it; this one it did not
            report.add(CORE_FAILED, event.claim_id, places=(record.place,), note=type(exc).__name__)
            continue
        replayed.add(event.claim_id)
        required = (audited is None or event.claim_id in audited) and (since is None or record.timestamp >= _ms(since))
        for item in published:
            outcome = item.value
            assert isinstance(outcome, Outcome)
            expected[outcome.event_id] = ExpectedOutcome(
                event.claim_id,
                outcome.event_id,
                outcome.revision,
                item.topic,
                outcome.model_dump(mode="json"),
                record.place,
                required,
            )
    return expected, replayed


def _published(records: list[Record], report: AuditReport) -> dict[str, Published]:
    """The first delivery of each outcome by event id; repeats counted or found conflicting."""
    found: dict[str, Published] = {}
    for record in records:
        try:
            value = orjson.loads(record.value or b"")
            event_id = value["event_id"]
            if not isinstance(event_id, str):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            report.add(UNREADABLE, places=(record.place,), note="not an outcome")
            continue
        first = found.setdefault(event_id, Published(record, value))
        if first.record is record:
            continue
        if first.record.value == record.value:
            report.repeats += 1
        else:
            report.add(
                CONFLICTING,
                _text(value.get("claim_id")),
                revision=_revision(value),
                event_ids=(event_id,),
                places=(first.record.place, record.place),
                note="the same event id published again with different bytes",
            )
    report.published = len(found)
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _revision(value: dict[str, Any]) -> int | None:
    revision = value.get("revision")
    return revision if isinstance(revision, int) and not isinstance(revision, bool) else None


def _compare(
    expected: dict[str, ExpectedOutcome], published: dict[str, Published], replayed: set[str], report: AuditReport
) -> None:
    for event_id, want in expected.items():
        got = published.get(event_id)
        if got is None:
            if want.required:
                report.add(
                    MISSING,
                    want.claim_id,
                    revision=want.revision,
                    event_ids=(event_id,),
                    places=(want.cause,),
                    note=f"{want.topic} expected from {want.cause}",
                )
            continue
        fields = _differences(want, got)
        if fields:
            report.add(
                DIFFERS,
                want.claim_id,
                revision=want.revision,
                event_ids=(event_id,),
                places=(got.record.place, want.cause),
                note=f"differs in {', '.join(fields)} (reference data changed while the stream ran can explain it)",
            )
    for event_id, got in published.items():
        if event_id not in expected:
            claim_id = _text(got.value.get("claim_id"))
            why = "no accepted EOB for this claim" if claim_id not in replayed else "the core never publishes this id"
            report.add(
                UNEXPECTED,
                claim_id,
                revision=_revision(got.value),
                event_ids=(event_id,),
                places=(got.record.place,),
                note=why,
            )


def _differences(want: ExpectedOutcome, got: Published) -> list[str]:
    """Names of the fields that differ (never their values); `topic` when it is on another one."""
    fields = ["topic"] if got.record.topic != want.topic else []
    names = sorted(set(want.value) | set(got.value))
    return fields + [name for name in names if want.value.get(name, ...) != got.value.get(name, ...)]


def _check_revisions(published: dict[str, Published], *, first_is_one: bool, report: AuditReport) -> None:
    """Each claim's published revisions run 1..n (from the first one read, with a time range)."""
    revisions: defaultdict[str, set[int]] = defaultdict(set)
    for got in published.values():
        claim_id, revision = _text(got.value.get("claim_id")), _revision(got.value)
        if claim_id is not None and revision is not None:
            revisions[claim_id].add(revision)
    for claim_id, found in sorted(revisions.items()):
        first = 1 if first_is_one else min(found)
        holes = sorted(set(range(first, max(found) + 1)) - found)
        if holes:
            shown = ", ".join(map(str, holes[:10])) + (", ..." if len(holes) > 10 else "")
            report.add(REVISION_GAP, claim_id, note=f"revision {shown} not on the output topics")


# ---- reading Kafka --------------------------------------------------------------------------


class AuditUnusable(Exception):
    """The audit cannot run: one line saying why (exit status 2)."""


async def read_records(
    settings: Settings, *, since: datetime | None = None, stall_timeout: float = 30.0
) -> list[Record]:
    """Every record the audit needs, each partition up to its end offset when its reading starts.

    EOB topics from `since` (or the beginning); reference and claim-events topics from the
    beginning; output topics from `since`, read after the others so that the outcomes of the
    newest claim events have had time to arrive.
    """
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.broker_list,
        group_id=None,
        enable_auto_commit=False,
        # Also what a reset racing with our own seek_to_beginning lands on (aiokafka applies the
        # answer of a reset already in flight, for the default "latest", after a later seek).
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=MAX_WRITTEN_BYTES,
        **settings.security.aiokafka_options(),
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise AuditUnusable(f"cannot reach the broker at {settings.brokers} ({type(exc).__name__})") from None
    try:
        cluster = await cluster_metadata(consumer)
        inputs = dict.fromkeys((*EOB_TOPICS, REMITTANCE_X12), since) | dict.fromkeys((*REFERENCE_TOPICS, CLAIM_EVENTS))
        first = await _read(consumer, cluster, settings, inputs, stall_timeout)
        outputs = await _read(consumer, cluster, settings, dict.fromkeys(OUTPUT_TOPICS, since), stall_timeout)
        return first + outputs
    except KafkaError as exc:
        raise AuditUnusable(f"reading from {settings.brokers} failed ({type(exc).__name__}: {exc})") from None
    finally:
        await consumer.stop()


async def _read(
    consumer: Any, cluster: Any, settings: Settings, starts: dict[str, datetime | None], stall_timeout: float
) -> list[Record]:
    from aiokafka import TopicPartition

    names = {settings.topic(topic): topic for topic in starts}
    partitions = []
    for name in names:
        found = cluster.partitions_for_topic(name)
        if not found:
            raise AuditUnusable(
                f"topic {name} does not exist; check COBSTREAM_TOPIC_PREFIX or run `cobstream topics create`"
            )
        partitions += [TopicPartition(name, p) for p in sorted(found)]
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        await _seek_to_start(consumer, tp, starts[names[tp.topic]], ends[tp])
    return await _read_to_ends(consumer, ends, names, stall_timeout)


async def _seek_to_start(consumer: Any, tp: Any, since: datetime | None, end: int) -> None:
    if since is None:
        await consumer.seek_to_beginning(tp)
        return
    found = (await consumer.offsets_for_times({tp: _ms(since)}))[tp]
    consumer.seek(tp, found.offset if found is not None else end)


async def _read_to_ends(
    consumer: Any, ends: dict[Any, int], names: dict[str, str], stall_timeout: float
) -> list[Record]:
    records: list[Record] = []
    remaining = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    progress = time.monotonic()
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=500)
        for tp, got in batch.items():
            records += [
                Record(names[r.topic], r.partition, r.offset, r.key, r.value, r.timestamp)
                for r in got
                if r.offset < ends[tp]
            ]
        done = {tp for tp in remaining if await consumer.position(tp) >= ends[tp]}
        if batch or done:
            progress = time.monotonic()
        remaining -= done
        consumer.pause(*done)
        if remaining and time.monotonic() - progress > stall_timeout:
            stuck = ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in remaining))
            raise AuditUnusable(f"no progress for {stall_timeout:.0f}s reading {stuck} to its end offset")
    return records


# ---- the command ----------------------------------------------------------------------------


def run_audit(
    *, since: datetime | None, until: datetime | None, as_json: bool = False, out: IO[str] = sys.stdout
) -> int:
    """`cobstream audit`: read, judge, print; the exit status."""
    if since is not None and until is not None and since > until:
        print("cobstream audit: --since must not be later than --until", file=sys.stderr)
        return 2
    # aiokafka logs each failed connection itself; the one line below says it all.
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    try:
        settings = Settings.from_env()
        records = asyncio.run(read_records(settings, since=since))
    except (SettingsError, AuditUnusable) as exc:
        print(f"cobstream audit: {exc}", file=sys.stderr)
        return 2
    retention = timedelta(days=settings.claim_retention_days)
    report = audit(records, since=since, until=until, retention=retention)
    if as_json:
        out.write(orjson.dumps(report_json(report), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out.write(summary(report, settings.topic_prefix))
    return report.exit_status


def report_json(report: AuditReport) -> dict[str, Any]:
    """The machine-readable report (`--json`)."""
    return {
        "exit_status": report.exit_status,
        "since": format_timestamp(report.since) if report.since else None,
        "until": format_timestamp(report.until) if report.until else None,
        "counts": {
            "inputs": report.inputs,
            "taken_in": report.taken_in,
            "dead_lettered": report.dead_lettered,
            "claims": report.claims,
            "expected": report.expected,
            "published": report.published,
            "repeats": report.repeats,
            "problems": len(report.problems),
        },
        "dead_letters_by_reason": dict(report.dead_letters.most_common()),
        "findings": [{**asdict(f), "problem": f.is_problem} for f in report.findings],
    }


def summary(report: AuditReport, prefix: str = "") -> str:
    """The human report: counts, then one line per finding (ids and places only)."""
    span = "everything retained"
    if report.since or report.until:
        since = format_timestamp(report.since) if report.since else "the beginning"
        until = format_timestamp(report.until) if report.until else "now"
        span = f"EOBs received from {since} to {until}"
    not_taken = sum(1 for f in report.findings if f.kind == NOT_TAKEN_IN)
    reasons = ", ".join(f"{reason} {count}" for reason, count in report.dead_letters.most_common())
    lines = [
        f"cobstream audit of {prefix or '(no prefix)'}: {span}",
        f"inputs        {report.inputs} EOBs: {report.taken_in} taken in, {report.dead_lettered} dead-lettered, "
        f"{not_taken} not taken in",
        f"claims        {report.claims} audited, {report.expected} outcomes expected by the core",
        f"outcomes      {report.published} published, {report.repeats} harmless repeats",
        f"dead letters  {sum(report.dead_letters.values())}" + (f": {reasons}" if reasons else ""),
    ]
    lines += [_finding_line(f) for f in report.findings]
    problems = len(report.problems)
    lines.append(
        f"{problems} problem{'s' if problems != 1 else ''}: exit status 1"
        if problems
        else "all accounted for: every EOB taken in, every outcome present, none unexpected or conflicting"
    )
    return "\n".join(lines) + "\n"


def _finding_line(finding: Finding) -> str:
    parts = [f"{finding.kind:<22}", f"claim {finding.claim_id or '-'}"]
    if finding.revision is not None:
        parts.append(f"rev {finding.revision}")
    if finding.event_ids:
        parts.append("event " + ", ".join(finding.event_ids))
    if finding.places:
        parts.append("at " + ", ".join(finding.places))
    if finding.note:
        parts.append(f"({finding.note})")
    return ("  " if finding.is_problem else "  note: ") + "  ".join(parts)
