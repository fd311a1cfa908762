"""Raw X12 835 on the `remittance.x12` topic: the intake's decoding, replay of such messages, the
producer's split by transaction, and the audit's accounting of them (no broker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from cobstream.audit.judge import audit
from cobstream.audit.model import NOT_TAKEN_IN
from cobstream.cli import main as cobstream
from cobstream.engine import Engine
from cobstream.shared.kafka_io import remittance_lines
from cobstream.shared.replay_format import replay_lines
from models.cob.claim import EobReceived
from models.contract.topics import REMITTANCE_X12
from models.remittance import ConversionRejected, convert_x12
from models.remittance.decode import Rejected
from models.remittance.intake import decode_remittance
from models.remittance.results import ProviderAdjustment
from streams.codec import ClaimEvent, TopicRecord

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "remittance-2026-03-24.835"
CORRUPT = ROOT / "tests" / "data" / "x12" / "corrupt_segment.835"


def replayed(lines: list[bytes]) -> list[dict[str, Any]]:
    return [
        {"topic": e.topic, "key": e.key, "value": e.value.model_dump(mode="json")}
        for e in replay_lines(lines, Engine())
    ]


def converted_lines(path: Path, capsys: Any) -> list[bytes]:
    """`cobstream convert x12 PATH`'s standard output, as replay lines."""
    cobstream(["convert", "x12", str(path)])
    return [line.encode() + b"\n" for line in capsys.readouterr().out.splitlines()]


def test_a_message_yields_its_claim_payments_in_file_order_and_reports_provider_adjustments() -> None:
    found = decode_remittance(EXAMPLE.read_bytes())
    eobs = [f for f in found if isinstance(f, EobReceived)]
    assert [e.eob.claim_id for e in eobs][:3] == ["CLM-2026-0101", "CLM-2026-0102", "CLM-2026-0103"]
    assert {e.role for e in eobs} == {"primary", "secondary"}
    assert [f.reason_code for f in found if isinstance(f, ProviderAdjustment)] == ["L6", "WO"]
    assert not [f for f in found if isinstance(f, Rejected)]


def test_a_corrupt_claim_is_one_rejection_carrying_its_segments_and_the_rest_go_through() -> None:
    found = decode_remittance(CORRUPT.read_bytes())
    rejected = [f for f in found if isinstance(f, Rejected)]
    assert len(rejected) == len(convert_x12_rejections(CORRUPT)) >= 1
    for each in rejected:
        assert each.error.startswith("segment ") or " segment " in each.error
        assert (each.part or "").startswith("CLP*")
    assert [f for f in found if isinstance(f, EobReceived)]


def convert_x12_rejections(path: Path) -> list[ConversionRejected]:
    return [item for item in convert_x12(path.read_bytes()) if isinstance(item, ConversionRejected)]


def test_a_null_message_is_rejected_with_a_reason() -> None:
    (found,) = decode_remittance(None)
    assert isinstance(found, Rejected)
    assert "X12 835" in found.error


def test_replaying_raw_835_messages_equals_replaying_the_converted_events(capsys: Any) -> None:
    raw = replayed(remittance_lines(EXAMPLE.read_bytes()))
    events = replayed(converted_lines(EXAMPLE, capsys))
    assert raw == events
    assert len(raw) >= 10


def test_a_corrupt_claim_in_a_raw_message_becomes_one_dead_letter_naming_segment_and_position() -> None:
    emitted = replayed(remittance_lines(CORRUPT.read_bytes()))
    letters = [e["value"] for e in emitted if e["topic"] == "eob.dead-letter"]
    assert [letter["error"] for letter in letters] == [r.error for r in convert_x12_rejections(CORRUPT)]
    for letter in letters:
        assert letter["source_topic"] == REMITTANCE_X12
        assert letter["raw"].startswith("CLP*"), "the dead letter keeps the rejected claim's segments"
    assert [e for e in emitted if e["topic"] != "eob.dead-letter"], "the good claims still reconcile"


def test_the_producer_sends_one_message_per_transaction_keyed_by_interchange() -> None:
    lines = [json.loads(line) for line in remittance_lines(EXAMPLE.read_bytes())]
    assert len(lines) == EXAMPLE.read_text().count("\nST*835*") == 2
    assert {line["topic"] for line in lines} == {REMITTANCE_X12}
    assert len({line["key"] for line in lines}) == 1
    assert all(line["value"].startswith("ISA*") and line["value"].rstrip().endswith("~") for line in lines)


def worker_records(lines: list[bytes]) -> list[TopicRecord]:
    """The topics as a worker would leave them after taking `lines` in (via the replay engine's
    outcomes and claim events built like the intake's)."""

    records: list[TopicRecord] = []
    events_offset = 0
    for offset, line in enumerate(lines):
        record = json.loads(line)
        value = record["value"].encode("latin-1")
        records.append(TopicRecord(REMITTANCE_X12, 0, offset, None, value, 1_774_000_000_000))
        for item in decode_remittance(value):
            if isinstance(item, EobReceived):
                event = ClaimEvent(
                    kind="eob",
                    claim_id=item.eob.claim_id,
                    at=item.eob.adjudicated_at,
                    role=item.role,
                    eob=item.eob,
                    source=f"{REMITTANCE_X12}[0]@{offset}",
                )
                records.append(
                    TopicRecord("cobstream.claim-events", 0, events_offset, None, event.model_dump_json().encode(), 0)
                )
                events_offset += 1
    return records


def test_the_audit_accounts_for_an_835_message_by_its_claim_events() -> None:
    lines = remittance_lines(EXAMPLE.read_bytes())
    records = worker_records(lines)
    report = audit(records)
    assert not [f for f in report.findings if f.kind == NOT_TAKEN_IN]
    assert report.inputs == len(lines)
    assert report.taken_in == len(lines)
    without_claim_events = [r for r in records if r.topic == REMITTANCE_X12]
    report = audit(without_claim_events)
    assert {f.kind for f in report.problems} == {NOT_TAKEN_IN}
    assert len(report.problems) == len(lines)


def test_dead_letters_of_two_claims_of_one_message_are_not_conflicting_duplicates() -> None:
    letters = [
        orjson.dumps({"source_topic": REMITTANCE_X12, "partition": 0, "offset": 3, "error": error, "claim_id": None})
        for error in ("CLP segment 20: charge is not a number", "SVC segment 31: no procedure code")
    ]
    records = [TopicRecord("eob.dead-letter", 0, n, None, value, 0) for n, value in enumerate(letters)]
    assert not audit(records).problems
