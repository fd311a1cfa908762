"""The audit's judgement, pure (no Kafka, no clock): `audit(records)`.

From the records of the EOB and reference input topics, of the internal claim-events topic and
of the output topics, it checks that every EOB was taken in (a claim event, a dead letter, or on
the direct input path its own place), replays each claim's claim events through the core in the
order the claims agent applied them (`replay_through_core`; `_Interleavings` when that order is
not recorded), and compares what the core publishes with what is on the output topics. Claims
are judged independently (`judge_claims` over `ClaimsToJudge`), so `cobstream.audit.jobs` can
split them over processes. The result is an `AuditReport` of `Finding`s: EOBs not taken in,
missing outcomes, outcomes that differ from the core, unexpected outcomes, conflicting duplicates
and revision gaps; with harmless repeats, dead letters and claims applied in another order than
record time counted.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from cobstream.audit.model import (
    CONFLICTING,
    CORE_FAILED,
    DIFFERS,
    MISSING,
    NO_SUCH_INPUT,
    NOT_RECONCILED,
    NOT_TAKEN_IN,
    REVISION_GAP,
    UNEXPECTED,
    UNREADABLE,
    AuditReport,
    Finding,
    ms,
)
from models.cob.claim import ClaimState, EobReceived, SubmissionReceived
from models.cob.processor import DEFAULT_RETENTION, InMemoryClaims, Published, process
from models.cob.reference import Reference, ReferenceChange
from models.contract.outcomes import Outcome, event_json
from models.contract.topics import (
    CLAIM_EVENTS,
    CLAIM_INPUT_TOPICS,
    DEAD_LETTER,
    DIRECT_TOPICS,
    OUTCOME_TOPICS,
    REFERENCE_TOPICS,
    REMITTANCE_X12,
)
from models.remittance.decode import Rejected, decode_reference
from models.remittance.intake import decode_message, decode_remittance
from streams.codec import (
    ClaimEvent,
    Place,
    TopicRecord,
    carries_input,
    claim_partition,
    kafka_key_text,
    record_time,
)

# How many claim events the order search (`_Interleavings`) may apply for one claim before it
# gives up and the findings of record-time order stand.
SEARCH_STEPS = 20_000


@dataclass(frozen=True, slots=True)
class ExpectedOutcome:
    """An outcome the core publishes when it replays a claim event."""

    claim_id: str
    event_id: str
    revision: int
    topic: str
    # Its JSON as the worker publishes it (`event_json`), compared as bytes first; None when its
    # first delivery has these very bytes (a million outcomes' JSON held twice took a gigabyte).
    text: bytes | None
    cause: str  # the claim event's place
    required: bool  # its claim and time are audited: it must be on the topics

    @property
    def value(self) -> dict[str, Any]:
        assert self.text is not None, "an outcome delivered alike is not compared field by field"
        return orjson.loads(self.text)  # type: ignore[no-any-return]


@dataclass(slots=True)
class Delivered:
    """The first delivery of an outcome on the output topics: its record, with the claim and
    revision it names (its JSON object is read again from the record when it is compared: a
    million outcomes held as dicts took gigabytes)."""

    record: TopicRecord
    claim_id: str | None
    revision: int | None

    @property
    def value(self) -> dict[str, Any]:
        return orjson.loads(self.record.value or b"")  # type: ignore[no-any-return]  # it read as an object once


@dataclass(frozen=True, slots=True)
class Taken:
    """A claim event as the audit keeps it between reading and replaying: what it says of itself,
    not its EOB or submission. Those are decoded again from the record when it is replayed
    (`load`): a million EOBs held decoded (9.7 KiB each) took more memory than the audit's whole
    machine (docs/PERFORMANCE.md)."""

    claim_id: str
    kind: str
    source: str | None  # the place of the input it was made of
    direct: bool  # made of an input record where it landed (the direct input path), not read from claim-events

    @property
    def taken_in(self) -> bool:
        """Whether it carries an input (an EOB or a submission), not a tick."""
        return carries_input(self.kind)

    @classmethod
    def of(cls, event: ClaimEvent, *, direct: bool) -> Taken:
        return cls(event.claim_id, event.kind, event.source, direct)

    def load(self, record: TopicRecord) -> ClaimEvent:
        """The claim event again, from its record (which decoded once already)."""
        event = _taken_in_where_it_lands(record) if self.direct else ClaimEvent.model_validate_json(record.value or b"")
        assert event is not None, "a record that decoded once decodes again"
        return event


@dataclass(frozen=True, slots=True)
class Applied:
    """A claim event the claims agent applied: where it read it (a claim-events record, or on the
    direct input path the input record itself), and whether its outcomes are required."""

    record: TopicRecord
    taken: Taken
    required: bool

    @property
    def source(self) -> tuple[str, int]:
        return (self.record.topic, self.record.partition)

    @property
    def event(self) -> ClaimEvent:
        """The claim event, decoded from its record on each call."""
        return self.taken.load(self.record)


@dataclass(slots=True)
class Replay:
    """What the replay found: the outcomes by event id, the claims replayed, and each claim's
    claim events in the order they were applied (those dead-lettered by the claims agent left out)."""

    expected: dict[str, ExpectedOutcome] = field(default_factory=dict)
    replayed: set[str] = field(default_factory=set)
    applied: defaultdict[str, list[Applied]] = field(default_factory=lambda: defaultdict(list))
    searched: set[str] = field(default_factory=set)  # claims whose order was looked for as they ended
    lead: str | None = None  # the topic the last order found applied first: a drained backlog repeats it
    published: dict[str, Delivered] = field(default_factory=dict)  # the outcomes delivered, by event id
    theirs: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # their ids by claim


def audit(
    records: Iterable[TopicRecord],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    retention: timedelta = DEFAULT_RETENTION,
    direct_partitions: int | None = None,
    judge: Callable[[ClaimsToJudge], Judged] | None = None,
) -> AuditReport:
    """Judge the records of the input, claim-events and output topics (any order).

    With `since`/`until`, only EOB inputs whose record time is in the range are audited, and an
    outcome is required only when the claim event that causes it is from `since` on; the
    claim-events topic is needed from its beginning (a claim's replay needs its whole history).
    `retention` is the workers' COBSTREAM_CLAIM_RETENTION_DAYS: a claim forgotten after it
    starts again at revision 1. `direct_partitions`, the workers' partition count, says they run
    the direct input path: a record of an EOB or submission topic on its claim's partition that
    no claim event names and no dead letter either was applied where it lands (`_direct_events`);
    those topics are then needed from their beginning too. `judge` judges the claims
    (`judge_claims`, in this process, by default; `cobstream.audit.jobs` splits them over
    processes).
    """
    report = AuditReport(since=since, until=until)
    topics = _by_topic(records)
    letters = _dead_letters(topics[DEAD_LETTER], report)
    events = _claim_events(topics[CLAIM_EVENTS], report)
    inputs = [r for topic in CLAIM_INPUT_TOPICS for r in topics[topic]]
    direct = _direct_events(inputs, events, letters, direct_partitions)
    audited = _account_for_inputs(inputs, events + direct, letters, report)
    _find_claim_events_without_input(inputs, events, report)
    published = _published([r for topic in OUTCOME_TOPICS for r in topics[topic]], report)
    reference = [r for topic in REFERENCE_TOPICS for r in topics[topic]]
    claims = ClaimsToJudge(events + direct, reference, letters, audited, since, retention, published)
    judged = (judge or judge_claims)(claims)
    report.findings += judged.findings
    report.reordered, report.expected = judged.reordered, judged.expected
    report.claims = len(judged.replayed if audited is None else audited)
    _check_revisions(published, first_is_one=since is None, report=report)
    return report


@dataclass(frozen=True, slots=True)
class ClaimsToJudge:
    """What judging claims needs, all read and accounted for: their claim events (as applied on
    the direct path too), the reference records, the places dead-lettered, the claims and time
    audited, the workers' retention and the outcomes published."""

    events: list[tuple[TopicRecord, Taken]]
    reference: list[TopicRecord]
    letters: set[tuple[Any, Any, Any]]
    audited: set[str] | None
    since: datetime | None
    retention: timedelta
    published: dict[str, Delivered]

    def share(self, index: int, shares: int) -> ClaimsToJudge:
        """The claims of share `index` of `shares` (by a hash of the claim id) with their
        published outcomes; an outcome that names no claim goes with the claim id ""."""

        def ours(claim_id: str) -> bool:
            return zlib.crc32(claim_id.encode("utf-8", "surrogatepass")) % shares == index

        return replace(
            self,
            events=[pair for pair in self.events if ours(pair[1].claim_id)],
            published={event_id: got for event_id, got in self.published.items() if ours(got.claim_id or "")},
        )


@dataclass(slots=True)
class Judged:
    """What judging claims found: its findings, the claims reordered, the outcomes required and
    the claims replayed."""

    findings: list[Finding]
    reordered: int
    expected: int
    replayed: set[str]

    @classmethod
    def merged(cls, shares: Iterable[Judged]) -> Judged:
        """What the shares of the claims found, together."""
        whole = cls([], 0, 0, set())
        for share in shares:
            whole.findings += share.findings
            whole.reordered += share.reordered
            whole.expected += share.expected
            whole.replayed |= share.replayed
        return whole


def judge_claims(claims: ClaimsToJudge) -> Judged:
    """Replay each claim through the core and compare what it publishes with the published
    outcomes (claims are judged independently: `ClaimsToJudge.share` splits them)."""
    report = AuditReport(since=claims.since)
    reference = ReferenceAsOf(claims.reference)
    replay = replay_through_core(
        claims.events, reference, claims.letters, claims.audited, claims.since, claims.retention, report,
        claims.published,
    )  # fmt: skip
    _accept_other_orders(replay, reference.reference, claims.retention, report)
    expected = sum(1 for e in replay.expected.values() if e.required)
    _compare(replay.expected, claims.published, replay.replayed, report)
    return Judged(report.findings, report.reordered, expected, replay.replayed)


def _by_topic(records: Iterable[TopicRecord]) -> defaultdict[str, list[TopicRecord]]:
    topics: defaultdict[str, list[TopicRecord]] = defaultdict(list)
    for record in records:
        topics[record.topic].append(record)
    for found in topics.values():
        found.sort(key=lambda r: (r.partition, r.offset))
    return topics


def _in_range(timestamp: int, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or timestamp >= ms(since)) and (until is None or timestamp <= ms(until))


def _dead_letters(records: list[TopicRecord], report: AuditReport) -> set[tuple[Any, Any, Any]]:
    """Where each dead letter's input was (topic, partition, offset); reasons counted once each.

    An 835 message may hold several unusable claims: its dead letters differ by their error."""
    first: dict[tuple[Any, ...], TopicRecord] = {}
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


def _claim_events(records: list[TopicRecord], report: AuditReport) -> list[tuple[TopicRecord, Taken]]:
    events = []
    for record in records:
        try:
            event = ClaimEvent.model_validate_json(record.value or b"")
        except ValidationError:
            report.add(UNREADABLE, places=(record.place,), note="not a claim event")
            continue
        if event.kind == "eob" and event.eob is None:  # role None: the claim's coverage tells it
            report.add(UNREADABLE, event.claim_id, places=(record.place,), note="an eob claim event without its EOB")
            continue
        if event.kind == "submission" and event.submission is None:
            report.add(
                UNREADABLE,
                event.claim_id,
                places=(record.place,),
                note="a submission claim event without its submission",
            )
            continue
        events.append((record, Taken.of(event, direct=False)))
    return events


def _direct_events(
    inputs: list[TopicRecord],
    events: list[tuple[TopicRecord, Taken]],
    letters: set[tuple[Any, Any, Any]],
    partitions: int | None,
) -> list[tuple[TopicRecord, Taken]]:
    """On the direct input path (`partitions` given): the records of the EOB and submission topics
    the claims agent applied where they landed, as the claim events it made of them.

    Such a record has no claim event naming it and no dead letter, and decodes to an EOB or a
    submission whose claim's partition is the record's. The coverage check against the reference
    data (`refuse_invalid_coverage`) is not made again: a submission it refused has a dead letter.
    """
    if partitions is None:
        return []
    named = {event.source for _, event in events if event.taken_in and event.source}
    found = []
    for record in inputs:
        if record.topic not in DIRECT_TOPICS or record.place in named:
            continue
        if (record.topic, record.partition, record.offset) in letters:
            continue
        event = _taken_in_where_it_lands(record)
        if event is not None and claim_partition(event.claim_id, partitions) == record.partition:
            found.append((record, Taken.of(event, direct=True)))
    return found


def _taken_in_where_it_lands(record: TopicRecord) -> ClaimEvent | None:
    """The claim event the claims agent makes of an input record (agents/intake.py `take_in`)."""
    try:
        decoded = decode_message(record.topic, kafka_key_text(record.key), record.value)
    except Exception:  # the worker dead-letters what fails to decode: without a letter, not taken in
        return None
    item = decoded[0] if len(decoded) == 1 else None
    if not isinstance(item, EobReceived | SubmissionReceived):
        return None
    return ClaimEvent.of_input(item, record_time(record.timestamp_ms / 1000), record.place)


def _account_for_inputs(
    inputs: list[TopicRecord],
    events: list[tuple[TopicRecord, Taken]],
    letters: set[tuple[Any, Any, Any]],
    report: AuditReport,
) -> set[str] | None:
    """Each EOB in the range: taken in (a claim event names it, one made on the direct input path
    included) or dead-lettered, else a finding.

    Returns the claims audited: those of the EOBs in the range, or None (all) without a range.
    """
    taken = {event.source: event.claim_id for _, event in events if event.taken_in and event.source}
    audited: set[str] = set()
    for record in inputs:
        if not _in_range(record.timestamp_ms, report.since, report.until):
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
    record: TopicRecord, claim_id: str | None, letters: set[tuple[Any, Any, Any]], report: AuditReport
) -> set[str]:
    """An 835 or 837 message is taken in when its claim payments or claims have claim events and
    its unusable parts a dead letter (one holding only provider adjustments needs neither);
    returns the claims it pays or submits."""
    found = decode_remittance(record.value)
    dead_lettered = (record.topic, record.partition, record.offset) in letters
    taken_in = claim_id is not None
    claims = {_claim_of(f) for f in found if isinstance(f, EobReceived | SubmissionReceived)}
    if claims and not taken_in:
        report.add(NOT_TAKEN_IN, places=(record.place,), note="claim payments without claim events")
    elif any(isinstance(f, Rejected) for f in found) and not dead_lettered:
        report.add(NOT_TAKEN_IN, claim_id, places=(record.place,), note="an unusable part without a dead letter")
    elif taken_in:
        report.taken_in += 1
    else:
        report.dead_lettered += int(dead_lettered)
    return claims


def _claim_of(found: EobReceived | SubmissionReceived) -> str:
    return found.eob.claim_id if isinstance(found, EobReceived) else found.submission.claim_id


def _claim_id_in(value: bytes | None) -> str | None:
    try:
        claim_id = orjson.loads(value or b"").get("claim_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return claim_id if isinstance(claim_id, str) and len(claim_id) <= 128 else None


def _find_claim_events_without_input(
    inputs: list[TopicRecord], events: list[tuple[TopicRecord, Taken]], report: AuditReport
) -> None:
    """A claim event naming an offset inside the span read of its input partition that holds no
    record: an input that is not there (an aborted transaction read uncommitted, say)."""
    offsets: defaultdict[tuple[str, int], set[int]] = defaultdict(set)
    for record in inputs:
        offsets[(record.topic, record.partition)].add(record.offset)
    spans = {partition: (min(read), max(read)) for partition, read in offsets.items()}  # once, not per event
    for record, event in events:
        source = Place.parse(event.source) if event.taken_in else None
        if source is None or (span := spans.get((source.topic, source.partition))) is None:
            continue
        if span[0] <= source.offset <= span[1] and source.offset not in offsets[(source.topic, source.partition)]:
            report.add(NO_SUCH_INPUT, event.claim_id, places=(record.place, event.source or ""))


class ReferenceAsOf:
    """The reference data in force at a moment: reference records applied in record-time order
    up to it, as each worker's reference reader applies them while it runs."""

    def __init__(self, records: list[TopicRecord]) -> None:
        self.reference = Reference()
        self._pending = list(_in_record_time_order(records))
        self._pending.reverse()
        # `at` applies the records in that order while they are not later than its time: after
        # `at(t)` (and any earlier `at`), those before the first whose running maximum exceeds t.
        self._reached = list(itertools.accumulate((r.timestamp_ms for r in reversed(self._pending)), max))

    def applied_by(self, timestamp: int) -> int:
        """How many reference records `at` has applied once called with times up to `timestamp`."""
        return bisect.bisect_right(self._reached, timestamp)

    def at(self, timestamp: int) -> Reference:
        while self._pending and self._pending[-1].timestamp_ms <= timestamp:
            record = self._pending.pop()
            change = decode_reference(record.topic, kafka_key_text(record.key), record.value)
            if isinstance(change, ReferenceChange):
                self.reference.apply(change)
        return self.reference


def _in_record_time_order(records: list[TopicRecord]) -> Iterator[TopicRecord]:
    """Partitions interleaved by record time, each partition kept in offset order."""
    partitions: defaultdict[tuple[str, int], list[TopicRecord]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        partitions[(record.topic, record.partition)].append(record)
    return heapq.merge(*partitions.values(), key=lambda r: r.timestamp_ms)


def replay_through_core(
    events: list[tuple[TopicRecord, Taken]],
    reference: ReferenceAsOf,
    letters: set[tuple[Any, Any, Any]],
    audited: set[str] | None,
    since: datetime | None,
    retention: timedelta,
    report: AuditReport,
    published: dict[str, Delivered],
) -> Replay:
    """Every claim event through the core in record-time order (`_in_applied_order`); returns the
    outcomes by event id, the claims replayed and each claim's claim events as applied.

    A claim whose events come from several sources and see one reference (`_searched_at_its_end`)
    is not replayed as it goes but judged at its last event (`_found_or_replayed`): record-time
    order as far as its outcomes are `published` alike, then the order search (`_Interleavings`),
    trying first the order the previous claim was found in. A worker draining a backlog applies
    nearly every claim in another order than record time, which so costs one replay of the claim
    instead of two."""
    # The claims agent's own processor (models.cob.processor), over a dict: the judge cannot drift
    # from the worker. Its reference is the one `reference.at` brings up to each record's time.
    processor = InMemoryClaims(reference.reference, retention)
    replay = Replay(published=published, theirs=_published_by_claim(published))
    ordered = list(_in_applied_order(events))
    last = {event.claim_id: n for n, (_, event) in enumerate(ordered)}
    deferred = _searched_at_its_end(ordered, letters, reference)
    for n, (record, event) in enumerate(ordered):
        if (record.topic, record.partition, record.offset) in letters:
            report.add(NOT_RECONCILED, event.claim_id, places=(record.place,), note="dead-lettered by the claims agent")
            replay.replayed.add(event.claim_id)
        else:
            reference.at(record.timestamp_ms)
            required = (audited is None or event.claim_id in audited) and (
                since is None or record.timestamp_ms >= ms(since)
            )
            applied = Applied(record, event, required)
            if event.claim_id not in deferred:
                _replay_one(processor, applied, replay, report)
            else:
                replay.applied[event.claim_id].append(applied)
                if deferred[event.claim_id] == n:  # its last one applied: judged now
                    searched = _Interleavings(
                        replay.applied[event.claim_id], published, replay.theirs[event.claim_id],
                        reference.reference, retention, replay.lead,
                    )  # fmt: skip
                    _found_or_replayed(processor, searched, replay, report)
        if last[event.claim_id] == n:  # its last claim event: memory follows the claims in flight
            processor.put_aside(event.claim_id)
    return replay


def _searched_at_its_end(
    ordered: list[tuple[TopicRecord, Taken]], letters: set[tuple[Any, Any, Any]], reference: ReferenceAsOf
) -> dict[str, int]:
    """The claims whose order the search finds at their last claim event applied (by its place in
    `ordered`): those with claim events (not dead-lettered) from more than one source, and no
    reference record applied from their first to their last, so that the reference in force at
    the last one is the one each of them was replayed with."""
    sources: defaultdict[str, set[tuple[str, int]]] = defaultdict(set)
    first: dict[str, int] = {}
    last: dict[str, tuple[int, int]] = {}
    reached: int | None = None  # the latest record time the replay has brought the reference to
    for n, (record, event) in enumerate(ordered):
        if (record.topic, record.partition, record.offset) in letters:
            continue
        reached = record.timestamp_ms if reached is None else max(reached, record.timestamp_ms)
        in_force = reference.applied_by(reached)
        sources[event.claim_id].add((record.topic, record.partition))
        first.setdefault(event.claim_id, in_force)
        last[event.claim_id] = (n, in_force)
    return {
        claim_id: n
        for claim_id, (n, in_force) in last.items()
        if len(sources[claim_id]) > 1 and first[claim_id] == in_force
    }


def _found_or_replayed(processor: InMemoryClaims, search: _Interleavings, replay: Replay, report: AuditReport) -> None:
    """A deferred claim at its last event. Its record-time order is followed first, as far as its
    outcomes are published alike: when it gives the published ones, those are expected. Else the
    search's order that does (the claim counted in `report.reordered`). Else its events are
    replayed in record-time order as any other claim's, for the findings. When the core raised in
    record-time order, they are replayed so at once, and `_accept_other_orders` searches as for
    any claim replayed as it went."""
    applied = replay.applied.pop(search.claim_id)
    found = search.follow(applied)
    reordered = found is None and not search.raised
    if not search.raised:
        replay.searched.add(search.claim_id)
    if reordered:
        found = search.search()
    if found is None:  # record time's outcomes are expected: the findings say how they differ
        for one in applied:
            _replay_one(processor, one, replay, report)
        return
    replay.applied[search.claim_id] = applied
    replay.lead = search.lead
    replay.replayed.add(search.claim_id)
    replay.expected.update((want.event_id, want) for want in found)
    report.reordered += int(reordered)


def _published_by_claim(published: dict[str, Delivered]) -> defaultdict[str, set[str]]:
    """The event ids published for each claim."""
    theirs: defaultdict[str, set[str]] = defaultdict(set)
    for event_id, got in published.items():
        theirs[got.claim_id or ""].add(event_id)
    return theirs


def _replay_one(processor: InMemoryClaims, applied: Applied, replay: Replay, report: AuditReport) -> None:
    event = applied.event
    replay.applied[event.claim_id].append(applied)
    try:
        published = processor.apply(event.claim_id, event.for_the_core(), event.at)
    except Exception as exc:  # the worker would have dead-lettered it; this one it did not
        report.add(CORE_FAILED, event.claim_id, places=(applied.record.place,), note=type(exc).__name__)
        return
    replay.replayed.add(event.claim_id)
    for item in published:
        want = _expected(applied, item, replay.published)
        replay.expected[want.event_id] = want


def _source_order(source: tuple[str, int]) -> tuple[int, bool, str]:
    """Sources by claim partition, claim-events first: how ties of record time are broken."""
    topic, partition = source
    return (partition, topic != CLAIM_EVENTS, topic)


def _in_applied_order(events: list[tuple[TopicRecord, Taken]]) -> Iterator[tuple[TopicRecord, Taken]]:
    """Each source (a claim-events partition; on the direct input path an input topic's partition
    too) in offset order, the sources interleaved by record time. The claims agent applies each
    source in offset order; the interleaving of the sources of one partition, or of partitions,
    is recorded nowhere (`_Interleavings` tries the others)."""
    sources: defaultdict[tuple[str, int], list[tuple[TopicRecord, Taken]]] = defaultdict(list)
    for pair in events:
        sources[(pair[0].topic, pair[0].partition)].append(pair)
    ordered = [sorted(sources[s], key=lambda pair: pair[0].offset) for s in sorted(sources, key=_source_order)]
    return heapq.merge(*ordered, key=lambda pair: pair[0].timestamp_ms)


def _expected(applied: Applied, item: Published, published: dict[str, Delivered]) -> ExpectedOutcome:
    outcome = item.value
    assert isinstance(outcome, Outcome)
    text: bytes | None = event_json(outcome)
    got = published.get(outcome.event_id)
    if got is not None and got.record.value == text:
        text = None  # delivered alike: nothing more to keep
    return ExpectedOutcome(
        applied.taken.claim_id,
        outcome.event_id,
        outcome.revision,
        item.topic,
        text,
        applied.record.place,
        applied.required,
    )


def _accept_other_orders(replay: Replay, reference: Reference, retention: timedelta, report: AuditReport) -> None:
    """A claim whose outcomes in record-time order are not the published ones, with claim events
    from more than one source, is accepted when another order the claims agent may have applied
    them in (`_Interleavings`) gives exactly the published ones: those are then its expected
    outcomes, and the claim is counted in `report.reordered`."""
    mine: defaultdict[str, dict[str, ExpectedOutcome]] = defaultdict(dict)
    for event_id, want in replay.expected.items():
        mine[want.claim_id][event_id] = want
    published, theirs = replay.published, replay.theirs
    for claim_id, applied in replay.applied.items():
        if claim_id in replay.searched or len({a.source for a in applied}) < 2:
            continue
        if all(_published_alike(w, published) for w in mine[claim_id].values()) and theirs[claim_id] <= set(
            mine[claim_id]
        ):
            continue
        search = _Interleavings(applied, published, theirs[claim_id], reference, retention, replay.lead)
        found = search.search()
        if found is None:
            continue
        replay.lead = search.lead
        for event_id in mine[claim_id]:
            del replay.expected[event_id]
        replay.expected.update((want.event_id, want) for want in found)
        report.reordered += 1


def _published_alike(want: ExpectedOutcome, published: dict[str, Delivered]) -> bool:
    """Whether an outcome is published with the same content (or, not required, not published)."""
    got = published.get(want.event_id)
    return not want.required if got is None else not _differences(want, got)


class _Interleavings:
    """The orders a claim's claim events may have been applied in: each source in offset order,
    the sources interleaved any way. `search` looks, depth first, for one whose outcomes are
    exactly the claim's published ones (`theirs`, by event id): a step with an outcome not
    published alike ends its branch, a point already failed from (the events taken from each
    source, the claim's state, which published outcomes were produced) is not tried again, and
    after SEARCH_STEPS events applied it gives up. At each step it tries first the source of
    `lead`'s topic (the topic the previous claim's order found began with: a worker draining a
    backlog reads each topic in batches, so claim after claim was applied alike), then the
    others in record-time order. `lead` ends as the topic of the order found.

    Events are applied with `process` as `InMemoryClaims.apply` does (the next state is the
    change's `after`; one the core raises on leaves the claim unchanged, as in the replay), all
    with one reference: the one in force once the replay is done, not the one as of each event.
    Reference data changed among a claim's events can so make the search miss an order.
    """

    def __init__(
        self,
        applied: list[Applied],
        published: dict[str, Delivered],
        theirs: set[str],
        reference: Reference,
        retention: timedelta,
        lead: str | None = None,
    ) -> None:
        sources: defaultdict[tuple[str, int], list[Applied]] = defaultdict(list)
        for one in applied:
            sources[one.source].append(one)
        self.sources = [sources[s] for s in sorted(sources, key=_source_order)]
        self.published, self.theirs = published, theirs
        self.reference, self.retention = reference, retention
        self.claim_id = applied[0].taken.claim_id
        self.steps = 0
        self.failed: set[tuple[Any, ...]] = set()
        self.lead = lead
        self.raised = False  # the core raised on an event (which then left the claim unchanged)
        self._decoded: dict[int, ClaimEvent] = {}  # by id(Applied): each event decoded once per search

    def search(self) -> list[ExpectedOutcome] | None:
        """The outcomes of the first order that gives the published ones; None if none does."""
        start = (0,) * len(self.sources)
        stack: list[tuple[tuple[int, ...], ClaimState | None, tuple[ExpectedOutcome, ...], Iterator[int]]] = [
            (start, None, (), self._order(start))
        ]
        while stack:
            indices, state, produced, choices = stack[-1]
            source = next(choices, None)
            if source is None:
                self.failed.add(self._key(indices, state, produced))
                stack.pop()
                continue
            self.steps += 1
            if self.steps > SEARCH_STEPS:
                return None
            stepped = self._apply(state, self.sources[source][indices[source]])
            if stepped is None:
                continue
            after = (*indices[:source], indices[source] + 1, *indices[source + 1 :])
            outcomes = produced + stepped[1]
            if all(i == len(s) for i, s in zip(after, self.sources, strict=True)):
                if self.theirs <= {o.event_id for o in outcomes}:
                    first = stack[1][0] if len(stack) > 1 else after  # the indices after the first step
                    self.lead = self.sources[next(n for n, i in enumerate(first) if i)][0].record.topic
                    return list(outcomes)
            elif self._key(after, stepped[0], outcomes) not in self.failed:
                stack.append((after, stepped[0], outcomes, self._order(after)))
        return None

    def follow(self, order: list[Applied]) -> list[ExpectedOutcome] | None:
        """The outcomes of applying the claim's events in `order` when they are the published
        ones; None from the first one that is not published alike (the events decoded so far are
        kept for `search`)."""
        state: ClaimState | None = None
        outcomes: tuple[ExpectedOutcome, ...] = ()
        for applied in order:
            stepped = self._apply(state, applied)
            if stepped is None or self.raised:
                return None
            state, outcomes = stepped[0], outcomes + stepped[1]
        return list(outcomes) if self.theirs <= {o.event_id for o in outcomes} else None

    def _order(self, indices: tuple[int, ...]) -> Iterator[int]:
        """The sources with events left: `lead`'s first, then the one whose next event is the earliest."""
        left = [s for s, i in enumerate(indices) if i < len(self.sources[s])]
        return iter(sorted(left, key=self._rank(indices)))

    def _rank(self, indices: tuple[int, ...]) -> Callable[[int], tuple[bool, int]]:
        def rank(source: int) -> tuple[bool, int]:
            record = self.sources[source][indices[source]].record
            return (record.topic != self.lead, record.timestamp_ms)

        return rank

    def _key(
        self, indices: tuple[int, ...], state: ClaimState | None, produced: tuple[ExpectedOutcome, ...]
    ) -> tuple[Any, ...]:
        shown = frozenset(o.event_id for o in produced if o.event_id in self.theirs)
        return (indices, state.model_dump_json() if state is not None else None, shown)

    def _apply(
        self, state: ClaimState | None, applied: Applied
    ) -> tuple[ClaimState | None, tuple[ExpectedOutcome, ...]] | None:
        """The claim after one event and its outcomes; None when one is not published alike."""
        event = self._decoded.get(id(applied))
        if event is None:
            event = self._decoded[id(applied)] = applied.event
        try:
            change = process(state, event.claim_id, event.for_the_core(), self.reference, event.at, self.retention)
        except Exception:
            self.raised = True
            return state, ()
        outcomes = tuple(_expected(applied, item, self.published) for item in change.published)
        if not all(_published_alike(o, self.published) for o in outcomes):
            return None
        return change.after, outcomes


def _published(records: list[TopicRecord], report: AuditReport) -> dict[str, Delivered]:
    """The first delivery of each outcome by event id; repeats counted or found conflicting."""
    found: dict[str, Delivered] = {}
    for record in records:
        try:
            value = orjson.loads(record.value or b"")
            event_id = value["event_id"]
            if not isinstance(event_id, str):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            report.add(UNREADABLE, places=(record.place,), note="not an outcome")
            continue
        first = found.setdefault(event_id, Delivered(record, _text(value.get("claim_id")), _revision(value)))
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
    expected: dict[str, ExpectedOutcome], published: dict[str, Delivered], replayed: set[str], report: AuditReport
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
            why = (
                "no accepted EOB for this claim" if got.claim_id not in replayed else "the core never publishes this id"
            )
            report.add(
                UNEXPECTED,
                got.claim_id,
                revision=got.revision,
                event_ids=(event_id,),
                places=(got.record.place,),
                note=why,
            )


def _differences(want: ExpectedOutcome, got: Delivered) -> list[str]:
    """Names of the fields that differ (never their values); `topic` when it is on another one."""
    fields = ["topic"] if got.record.topic != want.topic else []
    if want.text is None or want.text == got.record.value:
        return fields  # the same bytes: what a worker of this version publishes
    mine, theirs = want.value, got.value
    names = sorted(set(mine) | set(theirs))
    return fields + [name for name in names if mine.get(name, ...) != theirs.get(name, ...)]


def _check_revisions(published: dict[str, Delivered], *, first_is_one: bool, report: AuditReport) -> None:
    """Each claim's published revisions run 1..n (from the first one read, with a time range)."""
    revisions: defaultdict[str, set[int]] = defaultdict(set)
    for got in published.values():
        claim_id, revision = got.claim_id, got.revision
        if claim_id is not None and revision is not None:
            revisions[claim_id].add(revision)
    for claim_id, found in sorted(revisions.items()):
        first = 1 if first_is_one else min(found)
        holes = sorted(set(range(first, max(found) + 1)) - found)
        if holes:
            shown = ", ".join(map(str, holes[:10])) + (", ..." if len(holes) > 10 else "")
            report.add(REVISION_GAP, claim_id, note=f"revision {shown} not on the output topics")
