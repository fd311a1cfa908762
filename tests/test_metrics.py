"""The worker's metrics without a broker: the claim census (models/cob/census.py) and what the agents'
hooks and the scrape-time collector put in the registry (streams/metrics.py), including that no
label can carry a claim id or any other value of the input."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from builders import eob, secondary_line
from faust.types import TP
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cobstream.engine import Engine
from cobstream.shared.replay_format import replay_lines
from models.cob.census import CLAIM_STATUSES, ClaimCensus, status_of
from models.cob.claim import ClaimState, EobReceived
from models.cob.processor import DEFAULT_RETENTION, InMemoryClaims
from models.cob.reference import Reference
from models.remittance.decode import Rejected, decode
from models.remittance.intake import decode_remittance
from streams import kafka_internals, metrics
from streams.kafka_internals import ChangelogRecovery, PartitionLag, TableRecovery

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DAY = ROOT / "examples" / "day-2026-03-24.jsonl"
PRIMARY_AT = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
SECRET_CLAIM = "CLM-PRIVATE-4711"


def received(value: dict, topic: str) -> EobReceived:
    decoded = decode(topic, value["claim_id"], json.dumps(value))
    assert isinstance(decoded, EobReceived), decoded
    return decoded


def primary(event_id: str = "P1", claim_id: str = "CLM-1", **kw: object) -> EobReceived:
    return received(eob(event_id, claim_id=claim_id, **kw), "eob.primary")


def secondary(event_id: str = "S1", claim_id: str = "CLM-1", paid: str = "10.00") -> EobReceived:
    value = eob(
        event_id, claim_id=claim_id, payer_id="AETNA", secondary_payer_id=None, lines=[secondary_line(paid=paid)]
    )
    return received(value, "eob.secondary")


def counted_processor() -> tuple[InMemoryClaims, ClaimCensus]:
    census = ClaimCensus()
    return InMemoryClaims(Reference({}, {}), DEFAULT_RETENTION, census=census), census


def recount(states: list[ClaimState]) -> dict[str, int]:
    census = ClaimCensus()
    for state in states:
        census.count(state)
    return census.counts


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


# ---- the claim census -------------------------------------------------------------------------------


def test_a_claim_moves_through_the_billing_teams_buckets() -> None:
    processor, census = counted_processor()
    status = []

    def now_in() -> str:
        state = processor.claims.get("CLM-1")
        assert state is not None
        status.append(status_of(state))
        return status[-1]

    processor.on_eob(primary(), PRIMARY_AT)
    assert now_in() == "waiting_for_secondary"
    processor.fire_due(PRIMARY_AT + timedelta(days=31))  # AETNA's default wait: 30 days
    assert now_in() == "overdue"
    processor.on_eob(secondary(), PRIMARY_AT + timedelta(days=32))
    assert now_in() == "settled"
    processor.on_eob(secondary("S2", paid="5.00"), PRIMARY_AT + timedelta(days=33))  # a corrected, underpaid EOB
    assert now_in() == "on_hold"
    assert census.counts == {**dict.fromkeys(CLAIM_STATUSES, 0), "on_hold": 1}
    assert census.open == 1
    assert census.total == 1


def test_a_secondary_without_a_primary_waits_then_is_overdue() -> None:
    processor, census = counted_processor()
    processor.on_eob(secondary(claim_id="CLM-2"), PRIMARY_AT)
    assert census.counts["waiting_for_primary"] == 1
    processor.fire_due(PRIMARY_AT + timedelta(days=200))
    assert census.counts["waiting_for_primary"] == 0
    assert census.counts["overdue"] == 1


def test_a_claim_without_secondary_coverage_is_settled_by_its_primary() -> None:
    processor, census = counted_processor()
    processor.on_eob(primary(claim_id="CLM-3", secondary_payer_id=None), PRIMARY_AT)
    assert census.counts["settled"] == 1
    assert census.open == 0


def _example_day_census() -> Iterator[tuple[ClaimCensus, Engine]]:
    """The example day through replay's engine whose store keeps a census, after every line and
    after a clock moved past every timeout and every claim's retention."""
    engine = Engine()
    census = ClaimCensus()
    engine.processor = InMemoryClaims(engine.reference, DEFAULT_RETENTION, census=census)
    for line in EXAMPLE_DAY.read_bytes().splitlines(keepends=True):
        list(replay_lines([line], engine))
        yield census, engine
    # 365: CLM-2026-0018's 60-day wait fires; its retention ends on a later tick (366).
    for days in (45, 365, 366):
        list(replay_lines([], engine, datetime(2026, 3, 24, tzinfo=UTC) + timedelta(days=days)))
        yield census, engine


def test_the_census_kept_claim_by_claim_equals_a_recount_of_the_store() -> None:
    seen = set()
    for census, engine in _example_day_census():
        assert census.counts == recount(list(engine.claims.values()))
        seen.update(status for status, count in census.counts.items() if count)
    assert seen == set(CLAIM_STATUSES), "the example day visits every bucket"
    assert census.total == 0, "every claim forgotten after its retention"


def test_a_full_scan_replaces_the_census_and_a_scan_cut_short_does_not() -> None:
    processor, census = counted_processor()
    for n in range(3):
        processor.on_eob(primary(f"P{n}", claim_id=f"CLM-{n}"), PRIMARY_AT)
    census.counts["settled"] = 99  # e.g. claims of partitions since taken away
    assert not census.recounted
    scan = census.counting(list(processor.claims.values()))
    next(scan)
    scan.close()
    assert census.counts["settled"] == 99
    list(processor.rebuild())  # the claims agent's rebuild after an assignment
    assert census.recounted
    assert census.counts == {**dict.fromkeys(CLAIM_STATUSES, 0), "waiting_for_secondary": 3}


# ---- the agents' hooks --------------------------------------------------------------------------------


def test_messages_eobs_and_dead_letters_are_counted_per_topic() -> None:
    before = {
        "read": sample("cobstream_input_messages_total", topic="remittance.x12"),
        "eobs": sample("cobstream_eobs_received_total", topic="remittance.x12"),
        "cas": sample("cobstream_dead_letters_total", topic="remittance.x12", reason="x12:CAS"),
        "segment": sample("cobstream_dead_letters_total", topic="remittance.x12", reason="x12:segment"),
    }
    # What the intake does with one 835 message: one read, one count per claim payment or rejection.
    metrics.count_message_read("remittance.x12")
    for item in decode_remittance((ROOT / "tests" / "data" / "x12" / "corrupt_segment.835").read_bytes()):
        if isinstance(item, EobReceived):
            metrics.count_eob_received("remittance.x12")
        elif isinstance(item, Rejected):
            metrics.count_dead_letter("remittance.x12", item.reason)
    assert sample("cobstream_input_messages_total", topic="remittance.x12") == before["read"] + 1
    assert sample("cobstream_eobs_received_total", topic="remittance.x12") == before["eobs"] + 2
    assert sample("cobstream_dead_letters_total", topic="remittance.x12", reason="x12:CAS") == before["cas"] + 1
    assert sample("cobstream_dead_letters_total", topic="remittance.x12", reason="x12:segment") == before["segment"] + 1


def _outcomes_of_three_claims() -> list[tuple[str, str]]:
    """(topic, JSON as published) of a settled claim, an underpaid one and a primary-only one."""
    engine = Engine()
    emitted = []
    for event, topic in (
        (eob("P1", claim_id="CLM-A"), "eob.primary"),
        (
            eob("S1", claim_id="CLM-A", payer_id="AETNA", secondary_payer_id=None, lines=[secondary_line()]),
            "eob.secondary",
        ),
        (eob("P2", claim_id="CLM-B"), "eob.primary"),
        (
            eob("S2", claim_id="CLM-B", payer_id="AETNA", secondary_payer_id=None, lines=[secondary_line(paid="1.00")]),
            "eob.secondary",
        ),
    ):
        emitted += engine.receive(topic, event["claim_id"], json.dumps(event))
    return [(e.topic, e.kind) for e in emitted]


def test_outcomes_are_counted_per_topic_kind_and_blocking_with_their_latency() -> None:
    outcomes = _outcomes_of_three_claims()
    kinds = [("secondary.expected", "expected_payment", "false")] * 2 + [
        ("billing.ready", "ready", "false"),
        ("billing.discrepancy", "secondary_underpaid", "true"),
    ]

    def counts() -> list[float]:
        return [sample("cobstream_outcomes_published_total", topic=t, kind=k, blocking=b) for t, k, b in kinds[1:]]

    before, latency_count = counts(), sample("cobstream_outcome_latency_seconds_count")
    latency_sum = sample("cobstream_outcome_latency_seconds_sum")
    received_at = datetime.now(UTC) - timedelta(seconds=2)
    for topic, kind in outcomes:
        metrics.count_outcome_published(topic, kind, received_at)
    assert sorted(topic for topic, _ in outcomes) == sorted(t for t, _, _ in kinds)
    assert [after - b for after, b in zip(counts(), before, strict=True)] == [2, 1, 1]
    assert sample("cobstream_outcome_latency_seconds_count") == latency_count + 4
    assert 8 <= sample("cobstream_outcome_latency_seconds_sum") - latency_sum < 12  # 4 outcomes, 2 s each


def test_a_voided_ready_event_is_counted_as_voided() -> None:
    before = sample("cobstream_outcomes_published_total", topic="billing.ready", kind="voided", blocking="false")
    engine = Engine()
    for event, topic in (
        (eob("P1"), "eob.primary"),
        (eob("S1", payer_id="AETNA", secondary_payer_id=None, lines=[secondary_line()]), "eob.secondary"),
        (eob("P1-R", status="reversed"), "eob.primary"),
    ):
        for emitted in engine.receive(topic, "CLM-1", json.dumps(event)):
            metrics.count_outcome_published(emitted.topic, emitted.kind, datetime.now(UTC))
    assert (
        sample("cobstream_outcomes_published_total", topic="billing.ready", kind="voided", blocking="false")
        == before + 1
    )


# ---- dead-letter reasons: the field or the kind of fault, never a value --------------------------------


@pytest.mark.parametrize(
    ("topic", "key", "raw", "reason"),
    [
        ("eob.primary", None, b"\xff\xfe garbage", "not_utf8"),
        ("eob.primary", None, b'{"event_id": "E1", "claim_id": ', "invalid_json"),
        ("eob.primary", None, b"[1, 2]", "not_an_object"),
        ("eob.primary", None, b"[" * 100_000, "nested_too_deeply"),
        ("eob.primary", None, b'"' + b"x" * 1_048_577 + b'"', "message_too_large"),
        ("eob.secondary", None, None, "null_value"),
        ("reference.payers", "", None, "delete_without_key"),
        (
            "eob.primary",
            SECRET_CLAIM,
            json.dumps({**eob("E1", claim_id=SECRET_CLAIM), "status": SECRET_CLAIM}),
            "status",
        ),
        ("eob.primary", None, json.dumps(eob("E1", secondary_payer_id="")), "secondary_payer_id"),
        (
            "eob.secondary",
            None,
            json.dumps(eob("E1", lines=[{**secondary_line(), "paid": SECRET_CLAIM}])),
            "lines[].paid",
        ),
        ("eob.primary", None, json.dumps(eob("E1", lines=[secondary_line(), secondary_line()])), "lines[].line_id"),
        ("eob.primary", None, json.dumps(eob("E1", lines=[secondary_line(paid="-1.00")])), "lines[].paid"),
        ("eob.primary", None, json.dumps(eob("E1", lines=[{**secondary_line(), "paid": "11.00"}])), "lines[]"),
        (
            "reference.fee-schedule",
            None,
            json.dumps({"payer_id": "AETNA", "procedure_code": "99214", "allowed": "x"}),
            "allowed",
        ),
    ],
)
def test_a_dead_letter_reason_names_the_field_or_the_fault(
    topic: str, key: str | None, raw: object, reason: str
) -> None:
    rejected = decode(topic, key, raw)  # type: ignore[arg-type]
    assert isinstance(rejected, Rejected)
    assert rejected.reason == reason
    assert reason in metrics.DEAD_LETTER_REASONS


@pytest.mark.parametrize(
    "error",
    [
        f"{SECRET_CLAIM}: must not be seen",  # wording this project never writes: no field to name
        f"lines[0].{SECRET_CLAIM}: is required",
        f"segment 3: claim {SECRET_CLAIM} is cut off",
        f"{SECRET_CLAIM} segment 3: unknown",
        f"ZZ9 segment 3: {SECRET_CLAIM}",
        f"Input should be a valid string, not {SECRET_CLAIM}",
    ],
)
def test_a_reason_the_project_does_not_know_becomes_other(error: str) -> None:
    before = sample("cobstream_dead_letters_total", topic="eob.primary", reason="other")
    metrics.count_dead_letter("eob.primary", error)
    assert sample("cobstream_dead_letters_total", topic="eob.primary", reason="other") == before + 1
    assert SECRET_CLAIM not in generate_latest(metrics.REGISTRY).decode()


def test_no_claim_id_or_value_of_a_dead_letter_reaches_the_exposition() -> None:
    value = {**eob("E1", claim_id=SECRET_CLAIM), "payer_id": SECRET_CLAIM, "status": SECRET_CLAIM}
    rejected = decode("eob.primary", SECRET_CLAIM, json.dumps(value))
    assert isinstance(rejected, Rejected)
    assert SECRET_CLAIM in rejected.error  # the dead letter does quote it
    metrics.count_dead_letter("eob.primary", rejected.reason)
    metrics.count_dead_letter(SECRET_CLAIM, f"{SECRET_CLAIM}: {SECRET_CLAIM}")  # even a topic name from outside
    text = generate_latest(metrics.REGISTRY).decode()
    assert SECRET_CLAIM not in text
    assert 'cobstream_dead_letters_total{reason="status",topic="eob.primary"}' in text


def test_every_label_value_in_the_exposition_is_from_a_closed_set() -> None:
    metrics.count_dead_letter("eob.secondary", "invalid_json")
    allowed = {
        "topic": metrics.KNOWN_TOPICS | {"other"},
        "reason": metrics.DEAD_LETTER_REASONS,
        "kind": {
            "expected_payment",
            "ready",
            "voided",
            "open",
            "replaced",
            "other",
            *metrics._KINDS_OF["billing.discrepancy"],
        },
        "blocking": {"true", "false"},
        "status": set(CLAIM_STATUSES),
    }
    labels_seen = set()
    for family in text_string_to_metric_families(generate_latest(metrics.REGISTRY).decode()):
        for found in family.samples:
            for name, value in found.labels.items():
                if name != "le":  # histogram bucket bounds
                    assert value in allowed[name], (found.name, name, value)
                    labels_seen.add(name)
    assert {"topic", "reason", "kind", "blocking"} <= labels_seen


# ---- values read at scrape time ----------------------------------------------------------------------


def scrape(collector: metrics.WorkerCollector) -> dict[str, list]:
    return {family.name: family.samples for family in collector.collect()}


def test_the_collector_reports_lag_recovery_and_the_census_once_recounted() -> None:
    census = ClaimCensus()
    lag = [
        PartitionLag("prod.eob.primary", 2, 7),
        PartitionLag("prod.cobstream.claim-events", 0, 0),
        PartitionLag("prod.someone-elses-topic", 0, 5),
        PartitionLag("test.eob.primary", 0, 5),
    ]
    recovery = TableRecovery(True, (ChangelogRecovery("claims", 1, 40, 100),))
    collector = metrics.WorkerCollector(census, lambda: lag, lambda: recovery, topic_prefix="prod.")
    found = scrape(collector)
    assert "cobstream_claims" not in found, "no census before the first full count"
    assert [(s.labels, s.value) for s in found["cobstream_consumer_lag_records"]] == [
        ({"topic": "cobstream.claim-events", "partition": "0"}, 0),
        ({"topic": "eob.primary", "partition": "2"}, 7),
    ]
    assert found["cobstream_table_recovery_in_progress"][0].value == 1
    assert [(s.labels, s.value) for s in found["cobstream_table_recovery_remaining_records"]] == [
        ({"table": "claims", "partition": "1"}, 60)
    ]
    census.replace(ClaimCensus())
    census.update(None, ClaimState(claim_id="CLM-1"))
    found = scrape(collector)
    assert {s.labels["status"]: s.value for s in found["cobstream_claims"]}["on_hold"] == 1
    assert found["cobstream_open_claims"][0].value == 1


def test_a_reading_that_fails_leaves_out_its_metrics_and_the_rest_is_scraped() -> None:
    def broken() -> list[PartitionLag]:
        raise RuntimeError("consumer not started")

    collector = metrics.WorkerCollector(ClaimCensus(), broken, lambda: TableRecovery(False, ()))
    found = scrape(collector)
    assert "cobstream_consumer_lag_records" not in found
    assert found["cobstream_table_recovery_in_progress"][0].value == 0


class FakeConsumer:
    """What consumer_lag reads of Faust's consumer: assignment, highwaters, committed offsets,
    and aiokafka's fetch positions behind its thread."""

    def __init__(self, highwaters: dict[TP, int | None], committed: dict[TP, int], positions: dict[TP, int]) -> None:
        self.highwaters = highwaters
        self._committed_offset = committed
        state = {tp: SimpleNamespace(has_valid_position=True, position=p) for tp, p in positions.items()}
        assignment = SimpleNamespace(state_value=state.get)
        aiokafka = SimpleNamespace(_subscription=SimpleNamespace(subscription=SimpleNamespace(assignment=assignment)))
        self._thread = SimpleNamespace(_ensure_consumer=lambda: aiokafka)

    def assignment(self) -> set[TP]:
        return set(self.highwaters)

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters[tp]


def test_consumer_lag_is_the_highwater_minus_the_committed_offset_or_else_the_fetch_position() -> None:
    committed, fresh, unknown, changelog = (
        TP("eob.primary", 0),
        TP("eob.primary", 1),
        TP("eob.primary", 2),
        TP("cobstream-claims-changelog", 0),
    )
    consumer = FakeConsumer(
        highwaters={committed: 120, fresh: 50, unknown: None, changelog: 900},
        committed={committed: 100},
        positions={fresh: 50, committed: 120},
    )
    app = SimpleNamespace(consumer=consumer, tables=SimpleNamespace(changelog_topics={"cobstream-claims-changelog"}))
    assert sorted(kafka_internals.consumer_lag(app), key=lambda p: p.partition) == [  # type: ignore[arg-type]
        PartitionLag("eob.primary", 0, 20),
        PartitionLag("eob.primary", 1, 0),
    ]


def test_the_grafana_dashboard_uses_only_metrics_the_worker_exposes() -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana" / "cobstream.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {re.sub(r"_(bucket|count|sum)$", "", name) for expr in exprs for name in re.findall(r"cobstream_\w+", expr)}
    collector = metrics.WorkerCollector(ClaimCensus(), list, lambda: TableRecovery(False, ()))
    exposed = {family.name for family in collector.describe()} | {
        family.name + ("_total" if family.type == "counter" else "") for family in metrics.REGISTRY.collect()
    }
    assert used
    assert used <= exposed, used - exposed
    assert {"datasource"} <= {variable["name"] for variable in dashboard["templating"]["list"]}


# ---- garbage-collection pauses ------------------------------------------------------------------


def test_every_garbage_collection_is_timed_and_a_long_pause_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    before = sample("cobstream_gc_pause_seconds_count", generation="2")
    timer = metrics.GcTimer()
    gc.callbacks.append(timer)
    try:
        monkeypatch.setattr(metrics, "LONG_GC_PAUSE", 0.0)  # every pause counts as long here
        garbage = [[] for _ in range(1000)]
        for item in garbage:
            item.append(item)  # cycles: only the collector frees them
        del garbage, item
        with caplog.at_level("WARNING", logger="streams.metrics"):
            gc.collect()
    finally:
        gc.callbacks.remove(timer)
    assert sample("cobstream_gc_pause_seconds_count", generation="2") == before + 1
    assert timer.longest["2"] > 0
    assert sample("cobstream_gc_longest_pause_seconds", generation="2") == timer.longest["2"]
    [line] = [r.getMessage() for r in caplog.records if "garbage collection of generation 2" in r.getMessage()]
    assert re.fullmatch(
        r"garbage collection of generation 2 paused the worker \d+\.\d\d s "
        r"\(\d+\.\d\d s of it on the CPU; \d+ objects freed; the collector's counts were \(\d+, \d+, \d+\)\)",
        line,
    )
    assert int(line.split("; ")[1].split()[0]) >= 1000


def test_a_held_event_loop_is_timed_and_the_code_that_held_it_is_named(caplog: pytest.LogCaptureFixture) -> None:
    def hold_the_loop() -> None:
        time.sleep(0.5)  # work that never yields

    async def scenario() -> None:
        watching = asyncio.create_task(metrics.watch_event_loop())
        await asyncio.sleep(0.2)
        hold_the_loop()
        await asyncio.sleep(0.2)
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching

    before = sample("cobstream_event_loop_lag_seconds_count") - sample(
        "cobstream_event_loop_lag_seconds_bucket", le="0.25"
    )
    with caplog.at_level("WARNING", logger="streams.metrics"):
        asyncio.run(scenario())
    after = sample("cobstream_event_loop_lag_seconds_count") - sample(
        "cobstream_event_loop_lag_seconds_bucket", le="0.25"
    )
    assert after == before + 1  # one wake-up 0.25 s late or more
    assert sample("cobstream_event_loop_longest_lag_seconds") >= 0.4
    [line] = [r.getMessage() for r in caplog.records if "event loop held" in r.getMessage()]
    assert line.startswith("event loop held for 0.25 s or more, in test_metrics.py:")
    assert " hold_the_loop <- test_metrics.py:" in line
