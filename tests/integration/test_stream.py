"""The worker on a real broker produces what `cobstream replay` produces, whatever the keys,
bad input, restarts and reference data."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from harness import Deployment, comparable, replayed, wait_for

from cobstream.shared.replay_format import shift_times
from models.remittance.decode import load_json

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "day-2026-03-24.jsonl"


def assert_same(stream: list[dict[str, Any]], replay: list[dict[str, Any]]) -> None:
    got, want = comparable(stream), comparable(replay)
    missing, unexpected = want - got, got - want
    assert not missing, f"missing {sum(missing.values())}: {list(missing)[:3]}"
    assert not unexpected, f"unexpected {sum(unexpected.values())}: {list(unexpected)[:3]}"


def example_lines() -> list[bytes]:
    return shift_times(EXAMPLE.read_bytes().splitlines(keepends=True), datetime.now(UTC))


def rekey(lines: list[bytes], key_of: Any) -> list[bytes]:
    out = []
    for n, line in enumerate(lines):
        record = load_json(line)
        if record["topic"].startswith("eob."):
            record["key"] = key_of(n)
        out.append(json.dumps(record).encode() + b"\n")
    return out


@pytest.mark.parametrize("input_path", ["direct", "claim-events"])
def test_example_day_streams_to_the_same_outcomes_as_replay(deployment: Deployment, input_path: str) -> None:
    deployment.env_extra["COBSTREAM_INPUT_PATH"] = input_path
    lines = example_lines()
    expected = replayed(lines)
    deployment.start_worker()
    deployment.produce(lines, interval=0.05)
    assert_same(deployment.outputs(len(expected)), expected)


def test_upstream_keys_that_are_not_the_claim_id_still_join(deployment: Deployment) -> None:
    # Keys that scatter each claim's EOBs over every partition, and no key at all.
    keyed = rekey(example_lines(), lambda n: None if n % 3 == 0 else f"upstream-{n}")
    expected = replayed(keyed)
    deployment.start_worker()
    deployment.produce(keyed, interval=0.05)
    assert_same(deployment.outputs(len(expected)), expected)


async def _send_raw(deployment: Deployment, messages: list[tuple[str, bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=deployment.settings.broker_list)
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send_and_wait(deployment.settings.topic(topic), key=key, value=value)
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()


def test_bad_messages_become_one_dead_letter_each_and_the_rest_reconciles(deployment: Deployment) -> None:
    primary, secondary = (load_json(line)["value"] for line in _claim("CLM-1001", days_ago=1, secondary=True))
    good_secondary = json.dumps(secondary).encode()
    deployment.start_worker()
    asyncio.run(
        _send_raw(
            deployment,
            [
                ("eob.primary", b"k-bytes", b"\xff\xfe\x00garbage"),  # not UTF-8
                ("eob.primary", b"CLM-1001", json.dumps(primary).encode()),
                ("eob.secondary", b"k-json", b'{"event_id": "S-X", "claim_id": '),  # invalid JSON
                ("eob.secondary", b"CLM-1001", good_secondary.replace(b'"paid": "20.00"', b'"paid": "ten"')),
                ("eob.secondary", b"CLM-1001", good_secondary),
            ],
        )
    )
    events = deployment.outputs(5)
    letters = [e["value"] for e in events if e["topic"] == "eob.dead-letter"]
    assert len(letters) == 3
    by_key = {d["key"]: d for d in letters}
    assert by_key["k-bytes"]["raw_encoding"] == "base64"
    assert "not UTF-8" in by_key["k-bytes"]["error"]
    assert "not valid JSON" in by_key["k-json"]["error"]
    assert "lines[0].paid" in by_key["CLM-1001"]["error"]
    assert by_key["CLM-1001"]["claim_id"] == "CLM-1001"
    for letter in letters:
        assert letter["source_topic"] in ("eob.primary", "eob.secondary")
        assert letter["partition"] is not None
        assert letter["offset"] is not None
    ready = [e["value"] for e in events if e["topic"] == "billing.ready"]
    # AETNA has no profile or fee schedule here: A2 = A1 = 100, so S = min(20, 100 - 80) = 20.
    assert [(r["status"], r["secondary_paid"], r["patient_responsibility"], r["write_off"]) for r in ready] == [
        ("ready", "20.00", "0.00", "50.00")
    ]


@pytest.mark.parametrize("bulk_restore", ["1", "0"], ids=["bulk-restore", "faust-recovery-only"])
def test_a_new_worker_recovers_the_claims_table_from_its_changelog(deployment: Deployment, bulk_restore: str) -> None:
    deployment.env_extra["COBSTREAM_BULK_RESTORE"] = bulk_restore
    lines = example_lines()
    records = [load_json(line) for line in lines]
    first = [line for line, r in zip(lines, records, strict=True) if r["topic"] != "eob.secondary"]
    second = [line for line, r in zip(lines, records, strict=True) if r["topic"] == "eob.secondary"]
    expected_first = replayed(first)
    worker = deployment.start_worker("before")
    deployment.produce(first, interval=0.02)
    deployment.outputs(len(expected_first))
    worker.stop()
    # A new worker with an empty state folder: everything it knows comes from the changelog,
    # read in bulk before Faust starts (streams/restore.py) or by Faust's recovery alone.
    after = deployment.start_worker("after")
    restored = re.search(r"restored ([\d,]+) changelog records .* into 3 partition\(s\).*, complete", after.text())
    if bulk_restore == "1":
        assert restored, after.text()[-2000:]
        # At least the latest record of every claim the first worker stored (compaction may have
        # dropped older ones, never the latest).
        claims_stored = {
            r["value"]["claim_id"] for r in records if r["topic"] == "eob.primary" and isinstance(r["value"], dict)
        }
        assert int(restored.group(1).replace(",", "")) >= len(claims_stored)
    else:
        assert "restored" not in after.text()
    deployment.produce(second, interval=0.02)
    expected = replayed(first + second)
    got = deployment.outputs(len(expected))
    ready = {e["value"]["claim_id"] for e in got if e["topic"] == "billing.ready"}
    assert ready == {e["value"]["claim_id"] for e in expected if e["topic"] == "billing.ready"}
    assert_same(got, expected)


def test_a_published_payer_profile_changes_the_method_for_later_claims(deployment: Deployment) -> None:
    def primary(claim: str) -> dict:
        return {
            "topic": "eob.primary",
            "key": claim,
            "value": {
                "event_id": f"P-{claim}",
                "claim_id": claim,
                "payer_id": "BCBS-TX",
                "status": "processed",
                "adjudicated_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                "secondary_payer_id": "CIGNA",
                "lines": [
                    {
                        "line_id": "1",
                        "procedure_code": "99215",
                        "service_date": "2026-11-02",
                        "charge": "200.00",
                        "paid": "120.00",
                        "allowed": "150.00",
                        "adjustments": [
                            {"group": "CO", "reason": "45", "amount": "50.00"},
                            {"group": "PR", "reason": "2", "amount": "30.00"},
                        ],
                    }
                ],
            },
        }

    deployment.start_worker()
    deployment.produce([json.dumps(primary("CLM-A")).encode()])
    before = deployment.outputs(1)
    profile = {
        "topic": "reference.payers",
        "key": "CIGNA",
        "value": {"payer_id": "CIGNA", "cob_method": "non_duplication", "coinsurance_rate": "0.80"},
    }
    deployment.produce([json.dumps(profile).encode()])
    time.sleep(2)  # every worker reads the reference topics on its own; give it a moment
    deployment.produce([json.dumps(primary("CLM-B")).encode()])
    after = deployment.outputs(2)
    estimates = {e["value"]["claim_id"]: e["value"] for e in after if e["topic"] == "secondary.expected"}
    assert before[0]["value"]["cob_method"] == "lesser_of_allowables"
    assert (estimates["CLM-A"]["cob_method"], estimates["CLM-A"]["expected_secondary_paid"]) == (
        "lesser_of_allowables",
        "30.00",
    )
    assert (estimates["CLM-B"]["cob_method"], estimates["CLM-B"]["expected_secondary_paid"]) == (
        "non_duplication",
        "0.00",
    )


def _claim(claim: str, *, days_ago: float, secondary: bool) -> list[bytes]:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    primary = {
        "event_id": f"P-{claim}",
        "claim_id": claim,
        "payer_id": "BCBS-TX",
        "status": "processed",
        "adjudicated_at": at,
        "secondary_payer_id": "AETNA",
        "lines": [
            {
                "line_id": "1",
                "procedure_code": "99214",
                "service_date": "2026-03-02",
                "charge": "150.00",
                "paid": "80.00",
                "allowed": "100.00",
                "adjustments": [
                    {"group": "CO", "reason": "45", "amount": "50.00"},
                    {"group": "PR", "reason": "2", "amount": "20.00"},
                ],
            }
        ],
    }
    lines = [json.dumps({"topic": "eob.primary", "key": claim, "value": primary}).encode()]
    if secondary:
        paid = {
            **primary,
            "event_id": f"S-{claim}",
            "payer_id": "AETNA",
            "secondary_payer_id": None,
            "lines": [
                {
                    **primary["lines"][0],
                    "paid": "20.00",
                    "allowed": None,
                    "adjustments": [{"group": "OA", "reason": "23", "amount": "130.00"}],
                }
            ],
        }
        lines.append(json.dumps({"topic": "eob.secondary", "key": claim, "value": paid}).encode())
    return lines


def test_secondary_overdue_fires_on_the_wall_clock(deployment: Deployment) -> None:
    deployment.start_worker()
    deployment.produce(
        _claim("CLM-LATE", days_ago=31, secondary=False) + _claim("CLM-NEW", days_ago=1, secondary=False)
    )
    events = deployment.outputs(3, settle=4)
    overdue = [e["value"] for e in events if e["topic"] == "billing.discrepancy"]
    assert [(d["claim_id"], d["kind"], d["blocking"], d["expected_secondary_paid"]) for d in overdue] == [
        ("CLM-LATE", "secondary_overdue", False, "20.00")
    ]


def test_a_finished_claim_is_forgotten_after_its_retention(deployment: Deployment) -> None:
    deployment.env_extra["COBSTREAM_CLAIM_RETENTION_DAYS"] = str(3 / 86400)  # three seconds
    deployment.start_worker()
    lines = _claim("CLM-DONE", days_ago=1, secondary=True)
    deployment.produce(lines)
    first = deployment.outputs(2)
    assert sorted(e["topic"] for e in first) == ["billing.ready", "secondary.expected"]
    time.sleep(6)  # retention passes; the timer (every second) forgets the claim
    # The same events again: a forgotten claim no longer knows their ids, so they are new to it.
    deployment.produce(lines)
    again = deployment.outputs(4)
    assert [e["topic"] for e in again].count("billing.ready") == 2


def test_the_schedule_is_rebuilt_once_the_assignment_has_recovered_not_at_the_first_tick(
    deployment: Deployment,
) -> None:
    # A timer interval far beyond the test: the rebuild must not wait for the first tick (it
    # used to, and a worker loaded meanwhile then stalled while it decoded every claim).
    deployment.env_extra["COBSTREAM_TIMER_INTERVAL"] = "600"
    worker = deployment.start_worker()
    wait_for(lambda: "deadline index rebuilt for 0 claims" in worker.text(), 30, "the schedule rebuilt after recovery")
