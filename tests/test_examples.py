"""The example day (examples/): the engine reproduces its expected output, the output keeps
demonstrating what examples/README.md promises, and the generator reproduces the input."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cobstream.engine import Engine
from cobstream.shared.replay_format import replay_lines, write_jsonl
from models.contract.types import parse_timestamp

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DAY = EXAMPLES / "day-2026-03-24.jsonl"
ARGS = EXAMPLES / "day-2026-03-24.args"
EXPECTED = EXAMPLES / "day-2026-03-24.expected.jsonl"
GENERATOR = EXAMPLES / "generate_day.py"

# COB_RULES.md section 6.
DISCREPANCY_KINDS = (
    "cob_order_dispute",
    "missing_primary_eob_denial",
    "secondary_underpaid",
    "secondary_overpaid",
    "line_mismatch",
    "secondary_overdue",
    "orphan_secondary",
    "primary_reversed",
    "secondary_reversed",
)


def now_from_args(text: str) -> Any:
    """The --now of the args file (the only option replay takes), or None."""
    words = shlex.split(text)
    for i, word in enumerate(words):
        if word == "--now":
            return parse_timestamp(words[i + 1])
        if word.startswith("--now="):
            return parse_timestamp(word.removeprefix("--now="))
    return None


def read_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def actual() -> list[dict[str, Any]]:
    now = now_from_args(ARGS.read_text())
    with DAY.open("rb") as source:
        events = list(replay_lines(source, Engine(), now))
    sink = io.BytesIO()
    write_jsonl(events, sink)
    return read_jsonl(sink.getvalue())


@pytest.fixture(scope="module")
def expected() -> list[dict[str, Any]]:
    return read_jsonl(EXPECTED.read_bytes())


def test_args_file_sets_now() -> None:
    assert now_from_args(ARGS.read_text()) == parse_timestamp("2026-05-15T00:00:00Z")


def test_replay_matches_expected_event_for_event(actual: list[dict], expected: list[dict]) -> None:
    for position, (got, want) in enumerate(zip(actual, expected, strict=False), start=1):
        claim = want["value"].get("claim_id")
        assert got == want, f"output event {position} ({want['topic']}, {claim}) differs"
    assert len(actual) == len(expected), f"{len(actual)} events out, {len(expected)} expected"


def kinds_of(events: list[dict]) -> Counter[str]:
    return Counter(e["value"]["kind"] for e in events if e["topic"] == "billing.discrepancy")


@pytest.mark.parametrize("source", ["expected", "actual"])
def test_example_covers_every_outcome(source: str, request: pytest.FixtureRequest) -> None:
    events: list[dict] = request.getfixturevalue(source)
    missing = set(DISCREPANCY_KINDS) - set(kinds_of(events))
    assert not missing, f"no {sorted(missing)} discrepancy in the example any more"
    statuses = Counter(e["value"]["status"] for e in events if e["topic"] == "billing.ready")
    assert statuses["ready"] >= 1
    assert statuses["voided"] >= 1
    assert any(e["topic"] == "eob.dead-letter" for e in events)
    assert any(e["topic"] == "secondary.expected" for e in events)


def final_ready(events: list[dict], claim_id: str) -> dict:
    ready = [e["value"] for e in events if e["topic"] == "billing.ready" and e["value"]["claim_id"] == claim_id]
    assert ready, f"no billing.ready for {claim_id}"
    assert ready[-1]["status"] == "ready", f"{claim_id}: the last billing.ready is {ready[-1]['status']}"
    return ready[-1]


# The claims worked out by hand from COB_RULES.md (examples/README.md): the final billing.ready,
# per line (secondary paid S, patient, write-off).
HAND_CHECKED_READY = {
    "CLM-2026-0001": {"1": ("10.00", "0.00", "60.00")},
    "CLM-2026-0002": {"1": ("13.00", "5.00", "30.00")},
    "CLM-2026-0003": {"1": ("36.00", "0.00", "70.00"), "2": ("3.00", "0.00", "30.00"), "3": ("0.60", "0.00", "17.00")},
    "CLM-2026-0004": {"1": ("0.00", "19.00", "65.00"), "2": ("17.60", "2.40", "40.00")},
    "CLM-2026-0005": {"1": ("30.00", "0.00", "25.00"), "2": ("24.80", "3.20", "50.00")},
    "CLM-2026-0006": {"1": ("0.00", "3.00", "41.00"), "2": ("0.00", "0.60", "17.00"), "3": ("25.00", "3.00", "72.00")},
    "CLM-2026-0007": {"1": ("20.00", "40.00", "50.00"), "2": ("2.80", "0.00", "31.00")},
    "CLM-2026-0008": {"1": ("0.00", "25.00", "35.00")},
    "CLM-2026-0009": {"1": ("65.00", "0.00", "115.00")},
    "CLM-2026-0012": {"1": ("16.00", "0.00", "40.00"), "2": ("0.60", "0.00", "17.00")},
    "CLM-2026-0020": {"1": ("10.00", "0.00", "60.00")},
    "CLM-2026-0021": {"1": ("36.00", "0.00", "70.00"), "2": ("3.00", "0.00", "30.00")},
    "CLM-2026-0024": {"1": ("10.00", "0.00", "60.00"), "2": ("0.00", "5.00", "35.00")},
    "CLM-2026-0025": {"1": ("6.00", "2.00", "52.00")},
    "CLM-2026-0027": {"1": ("72.00", "0.00", "83.00")},
    "CLM-2026-0031": {"1": ("8.00", "15.00", "60.00"), "2": ("0.10", "0.50", "17.00")},
    "CLM-2026-0032": {"1": ("60.00", "40.00", "35.00")},
    "CLM-2026-0033": {"1": ("4.00", "3.00", "55.00")},
    "CLM-2026-0037": {"1": ("10.00", "0.00", "60.00")},  # the article's claim, coverage from its submission
    "CLM-2026-0040": {"1": ("4.00", "0.00", "52.00")},
    # examples/coverage/ as raw X12: the 837 names AETNA, AETNA's lone CO-96 denial is its own.
    "CLM-2026-0201": {"0201-1": ("10.00", "0.00", "60.00")},
    "CLM-2026-0202": {"0202-1": ("0.00", "5.00", "35.00")},
}


@pytest.mark.parametrize("claim_id", sorted(HAND_CHECKED_READY))
def test_hand_checked_ready(claim_id: str, actual: list[dict]) -> None:
    ready = final_ready(actual, claim_id)
    got = {
        ln["line_id"]: (ln["secondary_paid"], ln["patient_responsibility"], ln["write_off"]) for ln in ready["lines"]
    }
    assert got == HAND_CHECKED_READY[claim_id]


# The discrepancies worked out by hand: kind -> (claim, expected, actual, difference, line ids).
HAND_CHECKED_DISCREPANCIES = [
    ("cob_order_dispute", "CLM-2026-0010", "2.00", "0.00", "-2.00", ["1"]),
    ("cob_order_dispute", "CLM-2026-0011", "4.00", "12.80", "8.80", ["1"]),  # S_exp on AETNA's terms
    ("cob_order_dispute", "CLM-2026-0026", None, None, None, ["1"]),
    ("cob_order_dispute", "CLM-2026-0036", None, "4.00", None, ["1"]),
    ("missing_primary_eob_denial", "CLM-2026-0012", "16.60", "0.00", "-16.60", ["1", "2"]),
    ("secondary_underpaid", "CLM-2026-0013", "14.00", "9.00", "-5.00", ["1"]),
    ("secondary_overpaid", "CLM-2026-0014", "24.00", "34.00", "10.00", ["1"]),
    ("line_mismatch", "CLM-2026-0015", "4.00", "4.00", "0.00", ["2"]),
    ("line_mismatch", "CLM-2026-0016", "24.00", "24.00", "0.00", ["1"]),
    ("secondary_overdue", "CLM-2026-0017", "4.00", None, None, ["1"]),
    ("orphan_secondary", "CLM-2026-0019", None, "18.00", None, ["1"]),
    ("primary_reversed", "CLM-2026-0020", None, "10.00", None, ["1"]),
    ("secondary_reversed", "CLM-2026-0021", None, None, None, ["1", "2"]),
    ("coverage_unknown", "CLM-2026-0039", None, None, None, ["1"]),
    ("coverage_unknown", "CLM-2026-0040", None, None, None, ["1"]),
    ("primary_overdue", "CLM-2026-0038", None, None, None, ["1"]),
]


def test_a_primary_without_crossover_waits_for_the_secondary_the_submission_names(actual: list[dict]) -> None:
    """COVERAGE.md: CLM-2026-0037's primary 835 says nothing of a secondary; its submission lists
    AETNA, so the claim waits (an estimate, no patient bill) until AETNA's EOB settles it."""
    events = [(e["topic"], e["value"]) for e in actual if e["value"].get("claim_id") == "CLM-2026-0037"]
    assert [topic for topic, _ in events] == ["secondary.expected", "secondary.claim", "billing.ready"]
    assert events[2][1]["produced_at"] == "2026-03-24T17:20:00Z"  # when AETNA's EOB came, not the primary's


def test_the_tertiary_of_the_submission_rides_on_the_ready_event(actual: list[dict]) -> None:
    assert final_ready(actual, "CLM-2026-0040")["tertiary_payer_id"] == "TRICARE"
    assert final_ready(actual, "CLM-2026-0001")["tertiary_payer_id"] is None


@pytest.mark.parametrize(("kind", "claim_id", "exp", "act", "diff", "line_ids"), HAND_CHECKED_DISCREPANCIES)
def test_hand_checked_discrepancy(
    kind: str, claim_id: str, exp: str | None, act: str | None, diff: str | None, line_ids: list[str], actual: list
) -> None:
    found = [
        e["value"]
        for e in actual
        if e["topic"] == "billing.discrepancy" and e["value"]["claim_id"] == claim_id and e["value"]["kind"] == kind
    ]
    assert len(found) == 1, f"{claim_id}: {len(found)} {kind} discrepancies"
    d = found[0]
    assert (d["expected_secondary_paid"], d["actual_secondary_paid"], d["difference"]) == (exp, act, diff)
    assert d["line_ids"] == line_ids


def test_nothing_else_goes_wrong(actual: list[dict]) -> None:
    """Exactly the planned discrepancies, and the planned dead letters."""
    planned = Counter(kind for kind, *_ in HAND_CHECKED_DISCREPANCIES)
    assert kinds_of(actual) == planned
    dead = [e["value"] for e in actual if e["topic"] == "eob.dead-letter"]
    assert [(d["source_topic"], d["claim_id"]) for d in dead] == [
        ("eob.primary", None),  # truncated JSON
        ("reference.payers", None),  # coinsurance_rate "80"
        ("eob.primary", "CLM-2026-0034"),  # naive adjudicated_at
        ("eob.primary", "CLM-2026-0035"),  # unbalanced line
    ]
    # The duplicate resend (CLM-2026-0022) and the CARC-18 notice (CLM-2026-0023) emit nothing.
    per_claim = Counter(e["value"]["claim_id"] for e in actual if e["topic"] != "eob.dead-letter")
    assert per_claim["CLM-2026-0022"] == 2
    assert per_claim["CLM-2026-0023"] == 2
    # CLM-2026-0018 (TXMCD waits 60 days) is still waiting at --now: its estimate only.
    assert per_claim["CLM-2026-0018"] == 1


def test_money_on_output_is_exact(actual: list[dict]) -> None:
    """Write-off + patient + both payers add up to the charge on every ready line."""
    for e in actual:
        if e["topic"] != "billing.ready":
            continue
        for ln in e["value"]["lines"]:
            parts = (ln["primary_paid"], ln["secondary_paid"], ln["patient_responsibility"], ln["write_off"])
            assert sum(map(Decimal, parts)) == Decimal(ln["charge"]), (e["value"]["claim_id"], ln["line_id"])


def test_generator_reproduces_the_input(tmp_path: Path) -> None:
    out = tmp_path / "day.jsonl"
    subprocess.run([sys.executable, str(GENERATOR), str(out)], check=True, cwd=tmp_path)
    assert out.read_bytes() == DAY.read_bytes()
