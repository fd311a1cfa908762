"""`cobstream audit`'s judgement (cobstream.audit.judge.audit), on topics written the way a worker
writes them, without a broker: each test breaks one thing and expects exactly that finding."""

from __future__ import annotations

import json
import os
import re
import zlib
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from builders import eob, profile, secondary_line, submission

from cobstream.audit import command, jobs, judge
from cobstream.audit.command import run_audit
from cobstream.audit.jobs import in_processes
from cobstream.audit.judge import audit
from cobstream.audit.model import (
    CONFLICTING,
    DIFFERS,
    MISSING,
    NO_SUCH_INPUT,
    NOT_RECONCILED,
    NOT_TAKEN_IN,
    REVISION_GAP,
    UNEXPECTED,
    AuditReport,
)
from cobstream.audit.report import report_json, summary
from cobstream.bench.traffic import Traffic
from cobstream.shared.replay_format import line_key_text, value_text
from models.cob.claim import ClaimState, SubmissionReceived, expires_at, step
from models.cob.processor import InMemoryClaims
from models.cob.reference import Reference, ReferenceChange
from models.contract.outcomes import TOPIC_OF, event_json
from models.contract.topics import CLAIM_EVENTS, DEAD_LETTER, DIRECT_TOPICS, OUTCOME_TOPICS, READY
from models.remittance.decode import Rejected, dead_letter, decode
from streams.codec import ClaimEvent, TopicRecord, claim_partition, kafka_key_text

PARTITIONS = 3
RETENTION = timedelta(days=180)
START = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)


class Stream:
    """The topics as a worker leaves them, written with the core the way agents/intake.py and
    agents/claims.py do: each input decoded, dead-lettered or re-keyed as a claim event (or, on
    the direct input path, `send_direct`, taken in where it lands); each claim event applied with
    `step` and its outcomes published. TopicRecord times advance 10 ms per record, so the
    reference in force is the one published before."""

    def __init__(self) -> None:
        self.records: list[TopicRecord] = []
        self.next_offset: Counter[tuple[str, int]] = Counter()
        self.clock = int(START.timestamp() * 1000)
        self.claims: dict[str, ClaimState] = {}
        self.reference = Reference()

    def append(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> TopicRecord:
        self.clock += 10
        offset = self.next_offset[(topic, partition)]
        self.next_offset[(topic, partition)] += 1
        record = TopicRecord(topic, partition, offset, key, value, self.clock)
        self.records.append(record)
        return record

    def send(self, topic: str, value: object, key: str | None = None, *, lose: bool = False) -> TopicRecord:
        """One input message; with `lose`, intake never takes it in."""
        raw = value_text(value)
        data = raw.encode() if raw is not None else None
        if key is None and isinstance(value, dict):
            key = value.get("claim_id") or value.get("payer_id")
        partition = zlib.crc32((key or "").encode()) % PARTITIONS if topic.startswith("eob.") else 0
        record = self.append(topic, partition, key.encode() if key else None, data)
        if not lose:
            self.take_in(record)
        return record

    def take_in(self, record: TopicRecord) -> None:
        key = kafka_key_text(record.key)
        at = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
        decoded = decode(record.topic, key, record.value)
        if isinstance(decoded, Rejected):
            letter = dead_letter(
                decoded,
                source_topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=key,
                raw=record.value,
                received_at=at,
            )
            self.append(DEAD_LETTER, record.partition, record.key, event_json(letter))
        elif isinstance(decoded, ReferenceChange):
            self.reference.apply(decoded)
        else:
            claim_id = decoded.eob.claim_id
            event = ClaimEvent(
                kind="eob", claim_id=claim_id, at=at, role=decoded.role, eob=decoded.eob, source=record.place
            )
            self.claim_event(event)

    def claim_event(self, event: ClaimEvent, *, fail: bool = False) -> TopicRecord:
        """The claim event on its partition, then the claims agent (with `fail`, it raised)."""
        partition = zlib.crc32(event.claim_id.encode()) % PARTITIONS
        record = self.append(CLAIM_EVENTS, partition, event.claim_id.encode(), event.model_dump_json().encode())
        if fail:
            letter = dead_letter(
                Rejected("internal error while reconciling (ValueError); the claim was left unchanged", event.claim_id),
                source_topic=CLAIM_EVENTS,
                partition=partition,
                offset=record.offset,
                key=event.claim_id,
                raw=record.value,
                received_at=event.at,
            )
            self.append(DEAD_LETTER, partition, event.claim_id.encode(), event_json(letter))
            return record
        self.apply(event, partition)
        return record

    def apply(self, event: ClaimEvent, partition: int) -> None:
        """The claims agent applies a claim event and publishes its outcomes."""
        transition = step(self.claims.get(event.claim_id), event.for_the_core(), self.reference, event.at)
        if event.kind == "tick":
            until = expires_at(transition.state, RETENTION)
            if until is not None and until <= event.at and not transition.outcomes:
                del self.claims[event.claim_id]
                return
        self.claims[event.claim_id] = transition.state
        for outcome in transition.outcomes:
            self.append(TOPIC_OF[type(outcome)], partition, event.claim_id.encode(), event_json(outcome))

    def send_direct(self, topic: str, value: dict, *, partition: int | None = None, apply: bool = True) -> TopicRecord:
        """One EOB on the direct input path, keyed by its claim id: on its claim's partition (or
        `partition`), and with `apply` taken in by the claims agent where it lands (no claim event)."""
        claim_id = value["claim_id"]
        where = claim_partition(claim_id, PARTITIONS) if partition is None else partition
        record = self.append(topic, where, claim_id.encode(), json.dumps(value).encode())
        if apply:
            self.apply_direct(record)
        return record

    def apply_direct(self, record: TopicRecord) -> None:
        """The claims agent takes in an input record where it lands (agents/claims.py `_take`)."""
        decoded = decode(record.topic, kafka_key_text(record.key), record.value)
        at = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
        if isinstance(decoded, SubmissionReceived):
            claim_id = decoded.submission.claim_id
            event = ClaimEvent(
                kind="submission", claim_id=claim_id, at=at, submission=decoded.submission, source=record.place
            )
        else:
            claim_id = decoded.eob.claim_id
            event = ClaimEvent(
                kind="eob", claim_id=claim_id, at=at, role=decoded.role, eob=decoded.eob, source=record.place
            )
        self.apply(event, record.partition)

    def tick(self, claim_id: str, at: datetime) -> TopicRecord:
        return self.claim_event(ClaimEvent(kind="tick", claim_id=claim_id, at=at))

    def outcomes(self) -> list[TopicRecord]:
        return [r for r in self.records if r.topic in ("secondary.expected", READY, "billing.discrepancy")]

    def audit(self, **options: object) -> AuditReport:
        return audit(self.records, retention=RETENTION, **options)


def traffic_stream(claims: int = 40) -> Stream:
    """Generated traffic (duplicates, secondaries first, under- and overpayments), one bad message."""
    stream = Stream()
    records = list(
        Traffic(claims=claims, seed=11, duplicate_share=0.1, discrepancy_share=0.2, secondary_first_share=0.3).records()
    )
    for n, record in enumerate(records):
        stream.send(record["topic"], record["value"], line_key_text(record["key"]))
        if n == len(records) // 2:
            stream.send("eob.primary", '{"event_id": "broken", "claim_id": ', key="CLM-BROKEN")
    return stream


def kinds(report: AuditReport) -> Counter[str]:
    return Counter(f.kind for f in report.findings)


def only(report: AuditReport, kind: str):
    found = [f for f in report.findings if f.kind == kind]
    assert len(found) == 1, report.findings
    return found[0]


def value_of(record: TopicRecord) -> dict:
    return orjson.loads(record.value)


def test_traffic_as_the_worker_leaves_it_is_all_accounted_for() -> None:
    stream = traffic_stream()
    report = stream.audit()
    assert report.findings == []
    assert report.exit_status == 0
    eobs = [r for r in stream.records if r.topic.startswith("eob.") and r.topic != DEAD_LETTER]
    assert report.inputs == len(eobs) == report.taken_in + report.dead_lettered
    assert report.dead_lettered == 1
    assert report.dead_letters == Counter({"value is not valid JSON": 1})
    assert report.claims == 40
    assert report.expected == report.published == len(stream.outcomes()) >= 2 * 40


def test_a_deleted_outcome_is_missing_and_leaves_a_revision_gap() -> None:
    stream = traffic_stream()
    first = next(r for r in stream.outcomes() if value_of(r)["revision"] == 1)
    stream.records.remove(first)
    report = stream.audit()
    assert kinds(report) == Counter({MISSING: 1, REVISION_GAP: 1})
    missing = only(report, MISSING)
    assert missing.event_ids == (value_of(first)["event_id"],)
    assert missing.claim_id == value_of(first)["claim_id"]
    assert missing.revision == 1
    assert missing.places[0].startswith(f"{CLAIM_EVENTS}[")
    assert only(report, REVISION_GAP).claim_id == value_of(first)["claim_id"]
    assert report.exit_status == 1


def test_an_identical_repeat_is_harmless_and_one_with_other_bytes_conflicts() -> None:
    stream = traffic_stream()
    original = stream.outcomes()[5]
    stream.append(original.topic, original.partition, original.key, original.value)
    assert stream.audit().findings == []
    assert stream.audit().repeats == 1

    # Redelivered with a later produced_at: the contract wants the very same bytes.
    value = value_of(original) | {"produced_at": "2026-03-21T00:00:00Z"}
    stream.append(original.topic, original.partition, original.key, orjson.dumps(value))
    report = stream.audit()
    conflict = only(report, CONFLICTING)
    assert conflict.event_ids == (value["event_id"],)
    assert conflict.places[0] == original.place
    assert kinds(report) == Counter({CONFLICTING: 1})
    assert report.exit_status == 1


def test_a_stray_outcome_is_unexpected() -> None:
    stream = traffic_stream()
    template = value_of(stream.outcomes()[0])
    stray = template | {"event_id": "f" * 32, "claim_id": "CLM-NOBODY", "revision": 1}
    stream.append(READY, 0, b"CLM-NOBODY", orjson.dumps(stray))
    forged = template | {"event_id": "e" * 32, "revision": template["revision"] + 100}
    stream.append(READY, 0, template["claim_id"].encode(), orjson.dumps(forged))
    report = stream.audit()
    unexpected = {f.event_ids[0]: f for f in report.findings if f.kind == UNEXPECTED}
    assert set(unexpected) == {"f" * 32, "e" * 32}
    assert unexpected["f" * 32].claim_id == "CLM-NOBODY"
    assert "no accepted EOB" in unexpected["f" * 32].note
    assert "never publishes" in unexpected["e" * 32].note
    assert kinds(report) == Counter({UNEXPECTED: 2, REVISION_GAP: 1})  # the forged one skips 100
    assert report.exit_status == 1


def test_an_eob_intake_never_took_in_is_reported_with_its_place() -> None:
    stream = traffic_stream(claims=5)
    lost = stream.send("eob.primary", eob("P-LOST", claim_id="CLM-LOST"), lose=True)
    report = stream.audit()
    finding = only(report, NOT_TAKEN_IN)
    assert (finding.claim_id, finding.places) == ("CLM-LOST", (lost.place,))
    assert kinds(report) == Counter({NOT_TAKEN_IN: 1})
    assert report.exit_status == 1


def test_a_claim_event_naming_an_input_that_is_not_there() -> None:
    stream = traffic_stream(claims=5)
    # One from the middle of its partition, so that the audit has read records on both sides.
    partition = Counter(r.partition for r in stream.records if r.topic == "eob.secondary").most_common(1)[0][0]
    input_record = next(r for r in stream.records if r.place == f"eob.secondary[{partition}]@1")
    stream.records.remove(input_record)  # e.g. an aborted upstream transaction, read uncommitted
    report = stream.audit()
    finding = only(report, NO_SUCH_INPUT)
    assert finding.places[1] == input_record.place
    assert report.exit_status == 1


def test_content_that_differs_from_the_core_is_named_by_field_without_amounts() -> None:
    stream = traffic_stream()
    ready = next(r for r in stream.outcomes() if r.topic == READY and value_of(r)["status"] == "ready")
    altered = value_of(ready) | {"patient_responsibility": "12345.67"}
    stream.records[stream.records.index(ready)] = replace(ready, value=orjson.dumps(altered))
    report = stream.audit()
    finding = only(report, DIFFERS)
    assert finding.event_ids == (altered["event_id"],)
    assert "patient_responsibility" in finding.note
    assert "reference data" in finding.note
    assert kinds(report) == Counter({DIFFERS: 1})
    assert report.exit_status == 1
    text = summary(report) + json.dumps(report_json(report))
    assert "12345.67" not in text
    assert altered["event_id"] in text


def test_the_human_report_carries_no_amounts_or_patient_data() -> None:
    stream = traffic_stream()
    for record in stream.outcomes()[:8:3]:
        stream.records.remove(record)
    stream.send("eob.primary", eob("P-LOST", claim_id="CLM-LOST"), lose=True)
    text = summary(stream.audit())
    assert "missing outcome" in text
    assert "not taken in" in text
    amounts = set()
    for record in stream.records:
        amounts.update(re.findall(rb'"(\d+\.\d\d)"', record.value or b""))
    assert amounts
    assert not [a for a in amounts if a.decode() in text]


def test_the_reference_in_force_is_the_one_published_before_the_claim_event() -> None:
    stream = Stream()
    secondary = [secondary_line(paid="20.00", allowed=None)]

    def claim(claim_id: str) -> None:
        stream.send("eob.primary", eob(f"P-{claim_id}", claim_id=claim_id))
        stream.send("eob.secondary", eob(f"S-{claim_id}", claim_id=claim_id, payer_id="AETNA", lines=secondary))

    claim("CLM-BEFORE")
    stream.send("reference.payers", profile("AETNA", cob_method="standard", coinsurance_rate="0.80"))
    claim("CLM-AFTER")
    methods = {value_of(r)["claim_id"]: value_of(r)["cob_method"] for r in stream.outcomes()}
    assert methods == {"CLM-BEFORE": "lesser_of_allowables", "CLM-AFTER": "standard"}
    assert stream.audit().findings == []


def test_a_claim_from_two_sources_with_the_reference_changed_between_its_events_is_replayed_as_it_goes() -> None:
    """Judged at its last event, a claim would see only the reference in force then: a claim whose
    events the reference changed between is replayed event by event instead, each with its own."""
    stream = Stream()
    secondary = [secondary_line(paid="20.00", allowed=None)]
    stream.send_direct("eob.primary", eob("P-SPLIT", claim_id="CLM-SPLIT"))
    stream.send("reference.payers", profile("AETNA", cob_method="standard", coinsurance_rate="0.80"))
    stream.send_direct("eob.secondary", eob("S-SPLIT", claim_id="CLM-SPLIT", payer_id="AETNA", lines=secondary))
    methods = [value_of(r)["cob_method"] for r in stream.outcomes()]
    assert methods == ["lesser_of_allowables", "standard"]  # the estimate, then the ready event
    report = stream.audit(direct_partitions=PARTITIONS)
    assert report.findings == []
    assert report.reordered == 0


def test_timeouts_and_forgotten_claims_replay_as_the_claims_agent_applied_them() -> None:
    stream = Stream()
    stream.send("eob.primary", eob("P-1", claim_id="CLM-WAIT", at="2026-03-19T10:00:00Z"))
    overdue = stream.tick("CLM-WAIT", START + timedelta(days=31))
    stream.tick("CLM-WAIT", START + timedelta(days=400))  # retention: forgotten
    stream.send("eob.primary", eob("P-2", claim_id="CLM-WAIT", at="2027-04-20T10:00:00Z"))
    published = [value_of(r) for r in stream.outcomes()]
    assert [(v["revision"], v.get("kind")) for v in published] == [(1, None), (2, "secondary_overdue"), (1, None)]
    assert stream.audit().findings == []

    overdue_outcome = next(r for r in stream.outcomes() if value_of(r).get("kind") == "secondary_overdue")
    stream.records.remove(overdue_outcome)
    missing = only(stream.audit(), MISSING)
    assert (missing.revision, missing.places) == (2, (overdue.place,))


def test_a_claim_event_the_claims_agent_dead_lettered_is_accounted_for() -> None:
    stream = Stream()
    stream.send("eob.primary", eob("P-1", claim_id="CLM-1"))
    decoded = decode("eob.secondary", None, json.dumps(eob("S-1", claim_id="CLM-1", payer_id="AETNA")))
    failed = stream.claim_event(
        ClaimEvent(kind="eob", claim_id="CLM-1", at=START, role="secondary", eob=decoded.eob, source=None), fail=True
    )
    report = stream.audit()
    assert only(report, NOT_RECONCILED).places == (failed.place,)
    assert report.problems == []
    assert report.exit_status == 0


def test_a_dead_letter_repeated_with_other_bytes_conflicts() -> None:
    stream = traffic_stream(claims=3)
    letter = next(r for r in stream.records if r.topic == DEAD_LETTER)
    stream.append(DEAD_LETTER, letter.partition, letter.key, letter.value)
    assert stream.audit().findings == []
    changed = value_of(letter) | {"received_at": "2026-03-21T00:00:00Z"}
    stream.append(DEAD_LETTER, letter.partition, letter.key, orjson.dumps(changed))
    assert only(stream.audit(), CONFLICTING).places[0] == letter.place


def test_a_time_range_audits_the_eobs_received_in_it() -> None:
    stream = traffic_stream(claims=10)
    early_lost = stream.send("eob.primary", eob("P-EARLY", claim_id="CLM-EARLY"), lose=True)
    stream.send("eob.primary", eob("P-SPLIT", claim_id="CLM-SPLIT"))
    since = datetime.fromtimestamp((stream.clock + 1) / 1000, UTC)
    stream.send("eob.secondary", eob("S-SPLIT", claim_id="CLM-SPLIT", payer_id="AETNA", lines=[secondary_line()]))
    late_lost = stream.send("eob.primary", eob("P-LOST", claim_id="CLM-LOST"), lose=True)
    until = datetime.fromtimestamp((stream.clock + 1) / 1000, UTC)
    after_lost = stream.send("eob.primary", eob("P-AFTER", claim_id="CLM-AFTER"), lose=True)
    everything = list(stream.records)
    # The reader starts the output topics at --since: what was published before is not read.
    stream.records = [
        r for r in everything if r.topic not in OUTCOME_TOPICS or r.timestamp_ms >= since.timestamp() * 1000
    ]
    assert any(r.topic in OUTCOME_TOPICS and r.key == b"CLM-SPLIT" for r in stream.records)

    report = stream.audit(since=since, until=until)
    assert report.inputs == 2
    assert only(report, NOT_TAKEN_IN).places == (late_lost.place,)
    assert kinds(report) == Counter({NOT_TAKEN_IN: 1})
    assert (report.claims, report.expected) == (1, 1)  # CLM-SPLIT's ready event, not its estimate

    stream.records = everything
    whole = stream.audit()
    assert {f.places[0] for f in whole.findings} == {early_lost.place, late_lost.place, after_lost.place}


@pytest.mark.parametrize(
    ("since", "env", "message"),
    [
        (START + timedelta(days=1), {}, "--since must not be later"),
        (None, {"COBSTREAM_BROKERS": "127.0.0.1:1"}, "cannot reach the broker at 127.0.0.1:1"),
        (None, {"COBSTREAM_SECURITY_PROTOCOL": "SASL_SSL"}, "COBSTREAM_SASL_USERNAME"),
    ],
)
def test_unusable_arguments_or_broker_exit_2_with_one_line(
    since: datetime | None,
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert run_audit(since=since, until=START) == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.strip()] == [err.strip()]
    assert message in err


def direct_traffic_stream(claims: int = 30) -> Stream:
    """Generated traffic on the direct input path: EOBs taken in where they land, every fifth one
    through a claim event (its claim on another partition, say), one bad message dead-lettered."""
    stream = Stream()
    records = list(
        Traffic(claims=claims, seed=7, duplicate_share=0.1, discrepancy_share=0.2, secondary_first_share=0.3).records()
    )
    for n, record in enumerate(records):
        if record["topic"] in DIRECT_TOPICS and n % 5:
            stream.send_direct(record["topic"], record["value"])
        else:
            stream.send(record["topic"], record["value"], line_key_text(record["key"]))
    stream.send("eob.primary", '{"event_id": "broken", "claim_id": ', key="CLM-BROKEN")
    return stream


def test_eobs_taken_in_where_they_land_are_judged_at_their_own_place() -> None:
    stream = direct_traffic_stream()
    eobs = [r for r in stream.records if r.topic in DIRECT_TOPICS]
    named = {value_of(r)["source"] for r in stream.records if r.topic == CLAIM_EVENTS}
    assert len(eobs) // 2 < len([r for r in eobs if r.place not in named]) < len(eobs) - 1
    report = stream.audit(direct_partitions=PARTITIONS)
    assert report.findings == []
    assert (report.inputs, report.taken_in, report.dead_lettered) == (len(eobs), len(eobs) - 1, 1)
    assert report.claims == 30
    assert report.expected == report.published == len(stream.outcomes())
    assert report.reordered == 0

    # The last outcome of a claim whose EOBs all came in directly: missing, caused by its input.
    last = stream.outcomes()[-1]
    claim_id = value_of(last)["claim_id"]
    stream.records.remove(last)
    missing = only(stream.audit(direct_partitions=PARTITIONS), MISSING)
    assert (missing.claim_id, missing.event_ids) == (claim_id, (value_of(last)["event_id"],))
    assert missing.places[0].split("[")[0] in DIRECT_TOPICS


def test_a_submission_taken_in_where_it_lands_is_replayed_with_its_eobs() -> None:
    stream = Stream()
    stream.send_direct("claims.submitted", submission("SUB-1", claim_id="CLM-1"))
    stream.send_direct("eob.primary", eob("P-1", claim_id="CLM-1"))
    stream.send_direct("eob.secondary", eob("S-1", claim_id="CLM-1", payer_id="AETNA", lines=[secondary_line()]))
    assert not any(r.topic == CLAIM_EVENTS for r in stream.records)
    report = stream.audit(direct_partitions=PARTITIONS)
    assert report.findings == []
    assert (report.inputs, report.taken_in, report.claims) == (3, 3, 1)
    assert report.expected == report.published == len(stream.outcomes()) > 0


def test_a_direct_eob_on_another_partition_than_its_claims_was_not_taken_in() -> None:
    stream = Stream()
    stream.send_direct("eob.primary", eob("P-1", claim_id="CLM-1"))
    home = claim_partition("CLM-2", PARTITIONS)
    stray = stream.send_direct(
        "eob.primary", eob("P-2", claim_id="CLM-2"), partition=(home + 1) % PARTITIONS, apply=False
    )
    report = stream.audit(direct_partitions=PARTITIONS)
    finding = only(report, NOT_TAKEN_IN)
    assert (finding.claim_id, finding.places) == ("CLM-2", (stray.place,))
    assert kinds(report) == Counter({NOT_TAKEN_IN: 1})
    assert (report.inputs, report.taken_in) == (2, 1)


def test_direct_eobs_audited_as_the_claim_events_path_were_not_taken_in() -> None:
    stream = Stream()
    first = stream.send_direct("eob.primary", eob("P-1", claim_id="CLM-1"))
    second = stream.send_direct("eob.secondary", eob("S-1", claim_id="CLM-1", payer_id="AETNA"))
    report = stream.audit()
    assert {f.places for f in report.findings if f.kind == NOT_TAKEN_IN} == {(first.place,), (second.place,)}
    assert report.taken_in == 0
    assert kinds(report)[UNEXPECTED] == len(stream.outcomes()) > 0  # nothing replayed: no accepted EOB


def reordered_stream() -> tuple[Stream, TopicRecord, TopicRecord]:
    """A claim whose primary has the earlier record time, but which the claims agent applied
    after its secondary (another topic: the consumer fetched that one first)."""
    stream = Stream()
    stream.send_direct("eob.primary", eob("P-0", claim_id="CLM-0"))
    primary = stream.send_direct("eob.primary", eob("P-R", claim_id="CLM-R"), apply=False)
    secondary_eob = eob("S-R", claim_id="CLM-R", payer_id="AETNA", lines=[secondary_line()])
    secondary = stream.send_direct("eob.secondary", secondary_eob, apply=False)
    stream.apply_direct(secondary)
    stream.apply_direct(primary)
    return stream, primary, secondary


def test_a_claim_applied_in_another_order_than_record_time_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    stream, primary, secondary = reordered_stream()
    report = stream.audit(direct_partitions=PARTITIONS)
    assert report.findings == []
    assert report.reordered == 1
    assert report.expected == report.published == len(stream.outcomes())
    assert report_json(report)["counts"]["reordered"] == 1
    assert "1 claim applied in another order than record time, accepted" in summary(report)

    # In record-time order the same topics are not explained: the search is what accepts them.
    monkeypatch.setattr(judge, "SEARCH_STEPS", 1)
    bounded = stream.audit(direct_partitions=PARTITIONS)
    assert bounded.reordered == 0
    assert kinds(bounded) == Counter({DIFFERS: 1, MISSING: 1, UNEXPECTED: 1})
    assert only(bounded, MISSING).places == (secondary.place,)
    assert only(bounded, DIFFERS).places[1] == primary.place


def test_the_order_search_tries_first_the_topic_the_previous_claim_began_with(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker draining a backlog applied claim after claim secondary first: once the search has
    found that for one claim, the next ones are found without trying record-time order again."""
    stream = Stream()
    for n in range(3):
        primary = stream.send_direct("eob.primary", eob(f"P-{n}", claim_id=f"CLM-{n}"), apply=False)
        secondary_eob = eob(f"S-{n}", claim_id=f"CLM-{n}", payer_id="AETNA", lines=[secondary_line()])
        secondary = stream.send_direct("eob.secondary", secondary_eob, apply=False)
        stream.apply_direct(secondary)
        stream.apply_direct(primary)
    steps: list[int] = []
    search = judge._Interleavings.search

    def counted(self: judge._Interleavings) -> list[judge.ExpectedOutcome] | None:
        found = search(self)
        steps.append(self.steps)
        return found

    monkeypatch.setattr(judge._Interleavings, "search", counted)
    report = stream.audit(direct_partitions=PARTITIONS)
    assert report.findings == []
    assert report.reordered == 3
    assert steps == [3, 2, 2]  # the primary tried first once, then the secondary's topic leads


def test_a_claim_applied_in_another_order_is_decoded_once_and_replayed_once_in_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A claim with claim events from several sources is judged at its last event: its events are
    decoded once for the replay (after the direct path's look), the record-time order is followed
    only as far as its first outcome that is not published, and the order found is the only full
    replay of the claim."""
    stream = Stream()
    for n in range(3):
        primary = stream.send_direct("eob.primary", eob(f"P-{n}", claim_id=f"CLM-{n}"), apply=False)
        secondary_eob = eob(f"S-{n}", claim_id=f"CLM-{n}", payer_id="AETNA", lines=[secondary_line()])
        stream.apply_direct(stream.send_direct("eob.secondary", secondary_eob, apply=False))
        stream.apply_direct(primary)
    calls: Counter[str] = Counter()

    def counting(name: str, function: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return function(*args, **kwargs)

        return counted

    monkeypatch.setattr(judge, "process", counting("applied", judge.process))
    monkeypatch.setattr(judge, "_taken_in_where_it_lands", counting("decoded", judge._taken_in_where_it_lands))
    report = stream.audit(direct_partitions=PARTITIONS)
    assert report.findings == []
    assert report.reordered == 3
    assert calls["decoded"] == 6 + 6  # the direct path's look, then once for the replay
    # Per claim the primary in record time (its outcome is not the published one), then the order
    # found: the first claim tries the primary first once more, the next ones begin with the
    # secondary's topic (the previous claim's). Replayed as it went, then searched: 6 more.
    assert calls["applied"] == 3 + (3 + 2 + 2)


def damaged_direct_stream() -> Stream:
    """Generated traffic on the direct input path with a claim applied out of record-time order,
    one outcome lost, one altered and one published for a claim nothing was received for."""
    stream = direct_traffic_stream(40)
    primary = stream.send_direct("eob.primary", eob("P-R", claim_id="CLM-R"), apply=False)
    secondary_eob = eob("S-R", claim_id="CLM-R", payer_id="AETNA", lines=[secondary_line()])
    stream.apply_direct(stream.send_direct("eob.secondary", secondary_eob, apply=False))
    stream.apply_direct(primary)
    outcomes = stream.outcomes()
    stream.records.remove(outcomes[3])
    altered = value_of(outcomes[10]) | {"patient_responsibility": "12345.67"}
    stream.records[stream.records.index(outcomes[10])] = replace(outcomes[10], value=orjson.dumps(altered))
    stranger = value_of(outcomes[20]) | {"claim_id": "CLM-NEVER-RECEIVED", "event_id": "E-STRANGER"}
    stream.append(READY, 0, b"CLM-NEVER-RECEIVED", orjson.dumps(stranger))
    return stream


@pytest.mark.parametrize("jobs", [2, 3])
def test_claims_judged_in_several_processes_give_the_report_of_one(jobs: int) -> None:
    stream = damaged_direct_stream()
    one = stream.audit(direct_partitions=PARTITIONS)
    several = stream.audit(direct_partitions=PARTITIONS, judge=in_processes(jobs))
    assert kinds(one) == Counter({MISSING: 1, DIFFERS: 1, UNEXPECTED: 1})
    assert one.reordered >= 1
    assert sorted(map(repr, several.findings)) == sorted(map(repr, one.findings))
    assert report_json(several)["counts"] == report_json(one)["counts"]


def _killed(index: int) -> judge.Judged:
    """A judging process killed before it sends its share (the kernel's OOM killer, say)."""
    os._exit(9)


def test_a_judging_process_killed_fails_the_audit_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    stream = damaged_direct_stream()

    async def read(settings: object, since: object) -> list[TopicRecord]:
        return stream.records

    monkeypatch.setattr(command, "read_records", read)
    monkeypatch.setattr(jobs, "_judge_share", _killed)
    assert run_audit(since=None, until=None, jobs=2) == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.strip()] == [err.strip()]
    assert "a process judging claims ended without its share" in err


def test_each_claim_is_judged_in_exactly_one_process() -> None:
    stream = damaged_direct_stream()
    judged: list[judge.ClaimsToJudge] = []

    def keep(claims: judge.ClaimsToJudge) -> judge.Judged:
        judged.append(claims)
        return judge.judge_claims(claims)

    stream.audit(direct_partitions=PARTITIONS, judge=keep)
    [whole] = judged
    shares = [whole.share(index, 3) for index in range(3)]
    assert all(share.events and share.published for share in shares)
    assert sorted((id(r), t.claim_id) for share in shares for r, t in share.events) == sorted(
        (id(r), t.claim_id) for r, t in whole.events
    )
    assert sorted(event_id for share in shares for event_id in share.published) == sorted(whole.published)
    claims_of = [{t.claim_id for _, t in share.events} for share in shares]
    assert sum(map(len, claims_of)) == len(set().union(*claims_of))  # no claim in two parts
    for share, claims in zip(shares, claims_of, strict=True):
        assert {got.claim_id for got in share.published.values()} - {"CLM-NEVER-RECEIVED"} <= claims


def test_outcomes_no_order_of_the_claim_events_gives_are_still_found() -> None:
    stream, _, _ = reordered_stream()
    ready = next(r for r in stream.outcomes() if r.topic == READY and value_of(r)["claim_id"] == "CLM-R")
    altered = value_of(ready) | {"patient_responsibility": "12345.67"}
    stream.records[stream.records.index(ready)] = replace(ready, value=orjson.dumps(altered))
    report = stream.audit(direct_partitions=PARTITIONS)
    assert report.reordered == 0
    assert kinds(report) == Counter({DIFFERS: 1, MISSING: 1, UNEXPECTED: 1})
    assert only(report, UNEXPECTED).event_ids == (altered["event_id"],)
    assert {f.claim_id for f in report.findings} == {"CLM-R"}


def test_a_time_range_on_the_direct_path_replays_the_claim_from_before_it() -> None:
    stream = Stream()
    stream.send_direct("eob.primary", eob("P-SPLIT", claim_id="CLM-SPLIT"))
    since = datetime.fromtimestamp((stream.clock + 1) / 1000, UTC)
    secondary = eob("S-SPLIT", claim_id="CLM-SPLIT", payer_id="AETNA", lines=[secondary_line()])
    stream.send_direct("eob.secondary", secondary)
    everything = list(stream.records)
    stream.records = [
        r for r in everything if r.topic not in OUTCOME_TOPICS or r.timestamp_ms >= since.timestamp() * 1000
    ]
    assert any(r.topic in OUTCOME_TOPICS for r in stream.records)

    report = stream.audit(since=since, direct_partitions=PARTITIONS)
    assert report.findings == []
    assert (report.inputs, report.taken_in, report.claims, report.expected) == (1, 1, 1, 1)


def test_the_replay_holds_only_the_claims_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each claim is put aside after its last claim event, so an audit of a large deployment
    holds the claims whose events are still ahead, not every claim it replayed."""
    peaks: list[int] = []

    class Holding(InMemoryClaims):
        def commit(self, change):  # type: ignore[no-untyped-def]
            found = super().commit(change)
            peaks.append(len(self.claims))
            return found

    monkeypatch.setattr(judge, "InMemoryClaims", Holding)
    stream = Stream()
    for claim in range(30):  # one claim after the other: a primary, then its secondary
        for record in Traffic(claims=1, seed=claim).records():
            value = {**record["value"], "claim_id": f"CLM-{claim}"} if isinstance(record["value"], dict) else None
            if value and "event_id" in value:
                value["event_id"] = f"{value['event_id']}-{claim}"
            stream.send(record["topic"], value or record["value"], record["key"])
    report = stream.audit()
    assert report.findings == []
    assert report.claims == 30
    assert max(peaks) == 1
