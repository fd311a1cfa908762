"""The core's fast paths give exactly what the full paths give.

- An EOB read inside pydantic-core (`models.contract.events.fast_eob`) is the EOB the full validation
  reads, or nothing: then the full validation decides, and words the error.
- An outcome built from the core's values (`models.contract.outcomes.build_outcome`) is the outcome that
  full validation builds, and it fails where full validation fails.
- An output event's JSON (`models.contract.outcomes.event_json`, the model's serializer straight to
  bytes) is the text its `model_dump(mode="json")` written by orjson gives, byte for byte.
- A claims-table record read by the reader for records as the worker writes them
  (`streams.codec.stored_record_reader`) is the record the full validation reads, or nothing: then
  the full validation reads it, or refuses it with the same errors.
- The deadline index (`models.cob.timers.TimeoutIndex`) answers "nothing due" without looking at every
  payer only when a look would have found nothing.
"""

from __future__ import annotations

import copy
import functools
import heapq
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import models.cob.claim
from cobstream.bench.workload import build_workload
from cobstream.engine import Engine
from cobstream.shared.replay_format import replay_lines, value_text
from models.cob.claim import ArmedTimer, EobReceived
from models.cob.reference import Reference
from models.cob.timers import TimeoutIndex
from models.contract.events import PayerProfile, Role, fast_eob
from models.contract.outcomes import (
    ExpectedSecondaryPayment,
    PatientBillingReady,
    PaymentDiscrepancy,
    build_outcome,
    event_json,
)
from models.contract.topics import EOB_TOPICS
from models.remittance.decode import Rejected, _plain_json, _validated_eob, dead_letter, decode_eob, load_json
from streams.codec import ClaimRecord, OutboxEntry, Sent, claim_record_codec, stored_record_reader

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT.parent / "shared" / "vectors"
DAY = ROOT / "examples" / "day-2026-03-24.jsonl"
FUZZ = settings(max_examples=300, deadline=None)

# ---------------------------------------------------------------------------------------------
# EOBs


def fields_set_tree(model: BaseModel) -> list[Any]:
    """The fields set at every level, which `model ==` does not compare."""
    sets: list[Any] = [sorted(model.model_fields_set)]
    for value in model.__dict__.values():
        items = value if isinstance(value, tuple) else (value,)
        sets += [fields_set_tree(item) for item in items if isinstance(item, BaseModel)]
    return sets


def assert_same_as_full_validation(role: Role, raw: str | bytes) -> bool:
    """The fast read agrees with the full validation; returns whether it was taken."""
    full = _validated_eob(role, raw)
    text = _plain_json(raw)
    fast = fast_eob(role, text) if text is not None else None
    decoded = decode_eob(role, raw)
    if fast is None:
        assert decoded == full
        return False
    assert isinstance(full, EobReceived), f"the fast path accepted what full validation rejects: {full}"
    assert fast == full.eob
    assert fast.model_dump_json() == full.eob.model_dump_json()
    assert fields_set_tree(fast) == fields_set_tree(full.eob)
    assert [type(v) for v in fast.__dict__.values()] == [type(v) for v in full.eob.__dict__.values()]
    assert isinstance(decoded, EobReceived)
    assert decoded.eob == full.eob
    return True


def replay_eobs(path: Path) -> list[tuple[Role, str]]:
    """The EOB messages of a replay file, as replay hands them to the decoder."""
    found = []
    for line in path.read_bytes().splitlines():
        try:
            record = load_json(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("topic") in EOB_TOPICS and record.get("value") is not None:
            found.append((EOB_TOPICS[record["topic"]], value_text(record["value"])))
    return found


def test_every_eob_of_the_vectors_and_the_example_day_reads_the_same() -> None:
    files = [DAY, *sorted(p for p in VECTORS.glob("*.jsonl") if not p.name.endswith(".expected.jsonl"))]
    messages = [message for path in files for message in replay_eobs(path)]
    taken = [assert_same_as_full_validation(role, raw) for role, raw in messages]
    # Plain JSON with string money, as upstream sends it, does take the fast path.
    assert sum(taken) >= 0.8 * len(taken)


def test_generated_traffic_takes_the_fast_path() -> None:

    workload = build_workload(60, datetime(2026, 3, 1, tzinfo=UTC))
    for topic, _, value in workload.eobs:
        assert assert_same_as_full_validation(EOB_TOPICS[topic], value)


def article_primary() -> dict[str, Any]:
    return {
        "event_id": "EOB-P-1",
        "claim_id": "CLM-1001",
        "payer_id": "BCBS-TX",
        "payer_name": "Blue Cross",
        "payer_claim_number": "PCN-1",
        "status": "processed",
        "adjudicated_at": "2026-03-10T15:00:00Z",
        "secondary_payer_id": "AETNA",
        "lines": [
            {
                "line_id": "1",
                "procedure_code": "99214",
                "modifiers": ["25"],
                "service_date": "2026-03-02",
                "charge": "150.00",
                "paid": "80.00",
                "allowed": "100.00",
                "adjustments": [
                    {"group": "CO", "reason": "45", "amount": "50.00"},
                    {"group": "PR", "reason": "2", "amount": "20.00"},
                ],
                "remarks": ["N130"],
            },
            {
                "line_id": "2",
                "procedure_code": "36415",
                "service_date": "2026-03-02",
                "charge": "20.00",
                "paid": "0.00",
                "allowed": None,
                "adjustments": [{"group": "PR", "reason": "1", "amount": "20.00"}],
            },
        ],
    }


# Values near every edge the fast path draws (and some far from it).
POISON: list[Any] = [
    "80.00", "0.00", "-0.00", "-5.00", "080.00", "80.1", "80.10", "80.001", "80.000", "1e2", "8E1", " 80.00",
    "80.00 ", "٨٠.٠٠", "999999999.99", "1000000000.00", "0999999999.99", "+80.00", ".50", "80.", 80, 80.5, 0,
    -1, 10**20, 1e400, None, True, False, [], {}, [[]], "", "x", "x" * 32, "x" * 33, "x" * 128, "x" * 129,
    "x" * 256, "x" * 257, "a\x7fb", "a\x85b", "a\x9fb", "a\xa0b", "é", "\u2028", "\U0001f600", "\ufeff",
    "2026-03-02", "2026-3-2", "20260302", "2026-02-30", "2026-W10-1", "0001-01-01", "2026-03-02T00:00:00Z",
    "2026-03-10T15:00:00Z", "2026-03-10T15:00:00+02:00", "2026-03-10T15:00:00", "1899-12-31T23:59:59Z",
    "2199-12-31T23:00:00-05:00", "2200-01-01T00:00:00Z", "processed", "denied", "reversed", "PROCESSED",
    "CO", "PR", "OA", "PI", "CR", "co", "45", "1", "2", "18", "22", "MA04", ["25", "59"], ["x"] * 21, [None],
]  # fmt: skip


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


@st.composite
def mutated_eobs(draw: st.DrawFn) -> tuple[Role, str]:
    """The article's EOB with a few fields replaced, removed or added, as JSON text."""
    value = article_primary()
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(value)))
        parent = value
        for step in where[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete" and isinstance(parent, dict):
            parent.pop(where[-1], None)
        elif action == "add" and isinstance(parent, dict):
            # A copy, as below: a later step may change what it adds, and POISON must stay as it is.
            parent[draw(st.sampled_from(["extra", "secondary_payer_id", "lines", "amount", "modifiers"]))] = (
                copy.deepcopy(draw(st.sampled_from(POISON)))
            )
        else:
            parent[where[-1]] = copy.deepcopy(draw(st.sampled_from(POISON)))
    if draw(st.booleans()):  # keep the amounts balanced, so that other rules are reached
        for line in value.get("lines", []) if isinstance(value.get("lines"), list) else []:
            if isinstance(line, dict) and isinstance(line.get("adjustments"), list):
                line["adjustments"] = [a for a in line["adjustments"] if not isinstance(a, dict) or "amount" in a]
    text = json.dumps(value, ensure_ascii=draw(st.booleans()), allow_nan=True)
    if draw(st.booleans()):  # a key given twice: the last one counts, for both readers
        text = text.replace('"claim_id": ', '"claim_id": "CLM-FIRST", "claim_id": ', 1)
    return draw(st.sampled_from(["primary", "secondary"])), text


@FUZZ
@given(case=mutated_eobs(), as_bytes=st.booleans())
def test_a_mutated_eob_reads_the_same_or_takes_the_full_path(case: tuple[Role, str], as_bytes: bool) -> None:
    role, text = case
    taken = assert_same_as_full_validation(role, text.encode() if as_bytes else text)
    event("fast path" if taken else "full path")


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf" + json.dumps(article_primary()).encode(),  # a byte order mark
        json.dumps(article_primary()).encode()[:-1],  # cut short
        json.dumps(article_primary()).encode() + b"{}",
        json.dumps({**article_primary(), "trace": [[[[[[[[[[]]]]]]]]]] * 30}).encode(),
        json.dumps({**article_primary(), "trace": "[" * 300 + "]" * 300}).encode(),
        json.dumps({**article_primary(), "payer_name": "\ud800"}, ensure_ascii=False).encode("utf-8", "surrogatepass"),
        json.dumps({**article_primary(), "payer_name": "bad \x01 text"}).encode(),
        json.dumps({**article_primary(), "claim_id": "CLM-\u00e9"}, ensure_ascii=False).encode(),
        json.dumps(article_primary()).replace('"150.00"', "150.00").encode(),  # a JSON number as money
        json.dumps(article_primary()).replace('"20.00"}]', '"20.00"}, NaN]').encode(),
    ],
)
def test_unusual_bytes_read_the_same(raw: bytes) -> None:
    for role in ("primary", "secondary"):
        assert_same_as_full_validation(role, raw)  # type: ignore[arg-type]


def test_rules_checked_after_the_schema_send_the_eob_to_the_full_validation() -> None:
    unbalanced = article_primary()
    unbalanced["lines"][0]["paid"] = "80.01"
    twice = article_primary()
    twice["lines"][1]["line_id"] = "1"
    for value, error in ((unbalanced, "does not balance"), (twice, "appears twice")):
        text = json.dumps(value)
        assert fast_eob("primary", text) is None
        rejected = decode_eob("primary", text)
        assert isinstance(rejected, Rejected)
        assert error in rejected.error


# ---------------------------------------------------------------------------------------------
# Outcomes


def test_every_outcome_of_a_replay_is_built_as_full_validation_builds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[type] = []

    def both(model: type, fields: dict[str, Any]) -> Any:
        built = build_outcome(model, fields)
        full = model.model_validate(fields)
        assert type(built) is type(full)
        assert built == full
        assert built.model_dump_json() == full.model_dump_json()
        assert fields_set_tree(built) == fields_set_tree(full)
        checked.append(model)
        return built

    monkeypatch.setattr(models.cob.claim, "build_outcome", both)
    engine = Engine()
    for role, raw in replay_eobs(DAY):
        engine.receive("eob.primary" if role == "primary" else "eob.secondary", None, raw)
    engine.advance(datetime(2026, 12, 31, tzinfo=UTC))

    workload = build_workload(200, datetime(2026, 3, 1, tzinfo=UTC))
    for topic, key, value in [*workload.reference, *workload.eobs]:
        engine.receive(topic, key, value)
    assert {ExpectedSecondaryPayment, PatientBillingReady, PaymentDiscrepancy} <= set(checked)


def test_every_output_event_of_the_vectors_is_written_as_its_dump_is() -> None:
    """Downstream readers and the audit see the bytes the worker and replay always wrote."""
    kinds: set[str] = set()
    for vector in sorted(VECTORS.glob("*.jsonl")):
        if vector.name.endswith(".expected.jsonl"):
            continue
        for published in replay_lines(vector.read_bytes().splitlines(), Engine()):
            value = published.value
            assert event_json(value) == orjson.dumps(value.model_dump(mode="json")), vector.name
            kinds.add(published.topic)
    assert kinds >= {"secondary.expected", "billing.ready", "billing.discrepancy", "eob.dead-letter"}


@pytest.mark.parametrize(
    "raw", ['caf\u00e9 \u2028 \U0001f600 \x00\x1f\x7f "quoted" back\\slash </script>', b"\xff\xfe not UTF-8"]
)
def test_a_dead_letter_of_unusual_text_is_written_as_its_dump_is(raw: str | bytes) -> None:
    letter = dead_letter(
        Rejected("value is not valid JSON"),
        source_topic="eob.primary",
        partition=0,
        offset=1,
        key="k",
        raw=raw,
        received_at=None,
    )
    assert event_json(letter) == orjson.dumps(letter.model_dump(mode="json"))


def discrepancy_fields(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": "E",
        "claim_id": "C",
        "revision": 1,
        "produced_at": datetime(2026, 3, 1, tzinfo=UTC),
        "kind": "secondary_underpaid",
        "blocking": True,
        "expected_secondary_paid": Decimal("10.00"),
        "actual_secondary_paid": Decimal("9.00"),
        "difference": Decimal("-1.00"),
        "line_ids": ("1",),
        "action": "Appeal.",
        "primary_event_id": "P",
        "secondary_event_id": "S",
        **changes,
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"expected_secondary_paid": Decimal("999999999.99") * 3},  # a claim's total past the limit
        {"difference": Decimal("-1000000000.00")},
        {"produced_at": datetime(2026, 3, 1, tzinfo=UTC).astimezone()},  # another zone: converted
        {"produced_at": datetime(2026, 3, 1)},  # naive: refused
        {"expected_secondary_paid": "10.00"},  # text: read by parse_money
        {"kind": "not_a_kind"},
        {"extra": 1},
    ],
)
def test_an_outcome_the_fast_path_refuses_is_validated_in_full(changes: dict[str, Any]) -> None:
    fields = discrepancy_fields(**changes)
    built, full = outcome_or_errors(build_outcome, fields), outcome_or_errors(PaymentDiscrepancy.model_validate, fields)
    assert built == full
    if isinstance(full, BaseModel):
        assert built.model_dump_json() == full.model_dump_json()  # type: ignore[union-attr]


def outcome_or_errors(build: Any, fields: dict[str, Any]) -> Any:
    try:
        return build(PaymentDiscrepancy, fields) if build is build_outcome else build(fields)
    except ValidationError as exc:
        return exc.errors()


# ---------------------------------------------------------------------------------------------
# Claim records


def record_or_errors(read: Any, raw: bytes) -> Any:
    try:
        return read(raw)
    except ValidationError as exc:
        return exc.errors(include_url=False)


def assert_record_reads_the_same(raw: bytes) -> bool:
    """The codec reads `raw` as the full validation does; returns whether the stored-record
    reader took it."""
    full = record_or_errors(ClaimRecord.model_validate_json, raw)
    fast = record_or_errors(stored_record_reader().validate_json, raw)
    read = record_or_errors(claim_record_codec.loads, raw)
    if isinstance(full, list):
        assert fast == full or isinstance(fast, list), "the stored-record reader accepted what full validation refuses"
        assert read == full
        return False
    assert read == full
    assert read.model_dump_json() == full.model_dump_json()
    assert fields_set_tree(read) == fields_set_tree(full)
    if isinstance(fast, list):
        return False
    assert fast == full
    assert fields_set_tree(fast) == fields_set_tree(full)
    return True


@functools.cache
def replayed_records() -> tuple[bytes, ...]:
    """Every claim of the vectors, the example day and generated traffic, as the worker writes its
    record: the state, an applied offset, and the claim's last outcomes in the outbox."""
    files = [DAY, *sorted(p for p in VECTORS.glob("*.jsonl") if not p.name.endswith(".expected.jsonl"))]
    workload = build_workload(200, datetime(2026, 3, 1, tzinfo=UTC))
    generated = [
        orjson.dumps({"topic": topic, "key": key, "value": orjson.Fragment(value)})
        for topic, key, value in [*workload.reference, *workload.eobs]
    ]
    records = []
    for lines in [p.read_bytes().splitlines() for p in files] + [generated]:
        engine = Engine()
        published = list(replay_lines(lines, engine))
        for claim_id, state in engine.claims.items():
            sent = tuple(Sent(p.topic, p.kind, event_json(p.value).decode()) for p in published if p.key == claim_id)
            outbox = (OutboxEntry(topic="eob.secondary", offset=7, events=sent[-3:]),) if sent else ()
            record = ClaimRecord(state=state, applied_offsets={"eob.primary": 3, "eob.secondary": 7}, outbox=outbox)
            records.append(claim_record_codec.dumps(record))
    return tuple(records)


def test_every_claim_record_reads_as_full_validation_reads_it() -> None:
    records = replayed_records()
    taken = [assert_record_reads_the_same(raw) for raw in records]
    assert len(records) > 250
    assert all(taken), f"{taken.count(False)} of {len(taken)} records took the full validation"
    kinds = {key for raw in records for key, value in orjson.loads(raw)["state"].items() if value}
    assert {"primary", "secondary", "standing_ready", "submission", "standing_secondary_claim"} <= kinds


@st.composite
def mutated_records(draw: st.DrawFn) -> bytes:
    """A record of the vectors with a few of its values replaced, removed or added."""
    value = orjson.loads(draw(st.sampled_from(replayed_records()[::7])))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(value)))
        parent = value
        for step in where[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(where[-1], None)
        else:
            parent[where[-1]] = copy.deepcopy(draw(st.sampled_from(POISON)))
    return json.dumps(value, allow_nan=True).encode()


@FUZZ
@given(raw=mutated_records())
def test_a_mutated_claim_record_reads_the_same_or_takes_the_full_path(raw: bytes) -> None:
    event("stored-record reader" if assert_record_reads_the_same(raw) else "full validation")


# ---------------------------------------------------------------------------------------------
# The deadline index


class ScanEveryTime:
    """The index as it was: every (kind, payer) heap looked at on every ask."""

    def __init__(self) -> None:
        self.heaps: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
        self.armed: dict[str, tuple[ArmedTimer, ...]] = {}

    def arm(self, claim_id: str, timers: list[ArmedTimer]) -> None:
        before = self.armed.get(claim_id, ())
        now_armed = tuple(dict.fromkeys(timers))
        for timer in now_armed:
            if timer not in before:
                heapq.heappush(self.heaps.setdefault((timer.kind, timer.payer_id), []), (timer.anchor, claim_id))
        if now_armed:
            self.armed[claim_id] = now_armed
        else:
            self.armed.pop(claim_id, None)

    def forget(self, claim_id: str) -> None:
        self.armed.pop(claim_id, None)

    def pop_due(self, ref: Reference, clock: datetime) -> list[str]:
        due: dict[str, datetime] = {}
        for (kind, payer_id), heap in self.heaps.items():
            latest_anchor = clock - (ArmedTimer(kind, clock, payer_id).deadline(ref) - clock)  # type: ignore[arg-type]
            while heap and heap[0][0] <= latest_anchor:
                anchor, claim_id = heapq.heappop(heap)
                timer = ArmedTimer(kind, anchor, payer_id)  # type: ignore[arg-type]
                armed = self.armed.get(claim_id, ())
                if timer in armed:
                    self.armed[claim_id] = tuple(t for t in armed if t != timer)
                    deadline = timer.deadline(ref)
                    due[claim_id] = min(deadline, due.get(claim_id, deadline))
        return sorted(due, key=lambda claim_id: (due[claim_id], claim_id))


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(20, 200))
def test_the_deadline_index_finds_what_a_look_at_every_heap_finds(seed: int, steps: int) -> None:
    rng = random.Random(seed)
    payers = ["AETNA", "CIGNA", "MEDICARE"]
    profiles: dict[str, PayerProfile] = {}
    ref = Reference(profiles, {})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = start
    index, oracle = TimeoutIndex(), ScanEveryTime()
    for _ in range(steps):
        action = rng.random()
        claim_id = f"C{rng.randrange(30)}"
        if action < 0.45:
            timers = [
                ArmedTimer(
                    rng.choice(["secondary_overdue", "orphan_secondary"]),
                    start + timedelta(hours=rng.randrange(24 * 90)),
                    rng.choice(payers),
                )
                for _ in range(rng.choice([0, 1, 1, 2]))
            ]
            index.arm(claim_id, timers)
            oracle.arm(claim_id, timers)
        elif action < 0.5:
            index.forget(claim_id)
            oracle.forget(claim_id)
        elif action < 0.6:  # a profile changes (or goes): waits change under the index
            payer = rng.choice(payers)
            if rng.random() < 0.2:
                profiles.pop(payer, None)
            else:
                waits = {"secondary_wait_days": rng.randint(1, 60), "primary_wait_days": rng.randint(1, 60)}
                profiles[payer] = PayerProfile.model_validate({"payer_id": payer, **waits})
        else:
            clock += timedelta(hours=rng.choice([0, 1, 6, 24, 24 * 7]))
            assert index.pop_due(ref, clock) == oracle.pop_due(ref, clock)
