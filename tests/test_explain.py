"""`cobstream explain`: every figure it shows is the one the engine published, its formulas with
the numbers put in give those figures, and the command's exit codes (no broker)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from builders import Run, adj, eob, fee, line, profile, secondary_line, submission, submitted_line, unstated

from cobstream.cli import main
from cobstream.engine import Engine
from cobstream.shared.explanation import Message, explain_from_messages, replay_messages
from cobstream.shared.explanation_text import render_text
from cobstream.shared.processes import free_port
from cobstream.shared.replay_format import replay_lines
from models.contract.types import parse_timestamp
from models.explain.claim import ClaimExplanation, explain_claim

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DAY = EXAMPLES / "day-2026-03-24.jsonl"
DAY_NOW = parse_timestamp("2026-05-15T00:00:00Z")


def message(topic: str, value: dict[str, Any]) -> Message:
    key = value.get("claim_id") or value.get("payer_id")
    if topic == "reference.fee-schedule":
        key = f"{value['payer_id']}|{value['procedure_code']}|{','.join(sorted(value['modifiers']))}"
    return topic, key, json.dumps(value).encode()


@dataclass
class Explained:
    """One run of messages: what the engine published for a claim, and its explanation."""

    published: list[dict[str, Any]] = field(default_factory=list)
    explanation: ClaimExplanation | None = None

    def last(self, topic: str, status: str | None = None) -> dict[str, Any]:
        found = [p for p in self.published if p["topic"] == topic and status in (None, p["value"].get("status"))]
        assert found, f"nothing published on {topic}"
        return found[-1]["value"]


def explained(messages: list[Message], claim_id: str = "CLM-1", now: Any = None) -> Explained:
    engine = Engine()
    run = Explained()
    for topic, key, value in messages:
        run.published += [
            {"topic": e.topic, "value": e.value.model_dump(mode="json")}
            for e in engine.receive(topic, key, value)
            if e.key == claim_id
        ]
    if now is not None:
        run.published += [
            {"topic": e.topic, "value": e.value.model_dump(mode="json")}
            for e in engine.advance(now)
            if e.key == claim_id
        ]
    run.explanation = explain_from_messages(messages, claim_id, now)
    return run


# ---- COB_RULES.md section 5: every worked example, through the engine ----------------------------


@dataclass(frozen=True)
class Worked:
    """One worked example: the secondary's terms, its allowable, both EOB lines, and the spec's
    figures (S, K, patient, write-off, B2)."""

    terms: dict[str, Any]
    a2: str | None
    primary_line: dict[str, Any]
    secondary_line: dict[str, Any]
    figures: tuple[str, str, str, str, str | None]


ARTICLE = line()  # C 150, A1 100, P1 80, CO-45 50, PR-2 20
STANDARD = line(
    charge="200.00", paid="120.00", allowed="150.00", adjustments=[adj("CO", "45", "50.00"), adj("PR", "2", "30.00")]
)
MEDICARE_7 = line(
    charge="175.00", paid="120.00", allowed="150.00", adjustments=[adj("CO", "45", "25.00"), adj("PR", "2", "30.00")]
)
MEDICARE_8 = line(
    charge="300.00", paid="160.00", allowed="200.00", adjustments=[adj("PR", "45", "100.00"), adj("PR", "2", "40.00")]
)
SUPPLEMENTAL = line(
    paid="40.00", adjustments=[adj("CO", "45", "50.00"), adj("PR", "1", "40.00"), adj("PR", "2", "20.00")]
)


def pays(amount: str, charge: str = "150.00") -> dict[str, Any]:
    return secondary_line(paid=amount, charge=charge, allowed=None)


WORKED = {
    "1-article": Worked({}, "90.00", ARTICLE, pays("10.00"), ("10.00", "90.00", "0.00", "60.00", "90.00")),
    "2-out-of-network": Worked(
        {"in_network": False}, "90.00", ARTICLE, pays("10.00"), ("10.00", "100.00", "10.00", "50.00", "90.00")
    ),
    "3-secondary-deductible": Worked(
        {},
        "90.00",
        ARTICLE,
        secondary_line(paid="2.00", adjustments=[adj("CO", "45", "60.00"), adj("PR", "1", "88.00")]),
        ("2.00", "90.00", "8.00", "60.00", "2.00"),
    ),
    "4-primary-paid-more": Worked(
        {},
        "90.00",
        line(paid="95.00", adjustments=[adj("CO", "45", "50.00"), adj("PR", "2", "5.00")]),
        pays("0.00"),
        ("0.00", "95.00", "0.00", "55.00", "90.00"),
    ),
    "5-standard": Worked(
        {"cob_method": "standard", "coinsurance_rate": "0.80"},
        "140.00",
        STANDARD,
        pays("30.00", "200.00"),
        ("30.00", "150.00", "0.00", "50.00", "112.00"),
    ),
    "6-non-duplication": Worked(
        {"cob_method": "non_duplication", "coinsurance_rate": "0.80"},
        "140.00",
        STANDARD,
        pays("0.00", "200.00"),
        ("0.00", "140.00", "20.00", "60.00", "112.00"),
    ),
    "7-medicare-secondary": Worked(
        {"cob_method": "medicare_secondary", "coinsurance_rate": "0.80"},
        "125.00",
        MEDICARE_7,
        pays("30.00", "175.00"),
        ("30.00", "150.00", "0.00", "25.00", "100.00"),
    ),
    "8-medicare-not-bound": Worked(
        {"cob_method": "medicare_secondary", "coinsurance_rate": "0.80"},
        "250.00",
        MEDICARE_8,
        pays("90.00", "300.00"),
        ("90.00", "250.00", "0.00", "50.00", "200.00"),
    ),
    "9-medicaid-a2-90": Worked(
        {"cob_method": "medicaid"}, "90.00", ARTICLE, pays("10.00"), ("10.00", "90.00", "0.00", "60.00", None)
    ),
    "9-medicaid-a2-70": Worked(
        {"cob_method": "medicaid"}, "70.00", ARTICLE, pays("0.00"), ("0.00", "80.00", "0.00", "70.00", None)
    ),
    "9-medicaid-state-copay": Worked(
        {"cob_method": "medicaid", "copay": "3.00"},
        "90.00",
        ARTICLE,
        pays("7.00"),
        ("7.00", "90.00", "3.00", "60.00", None),
    ),
    "10-supplemental": Worked(
        {"cob_method": "supplemental", "covers_deductible": False},
        None,
        SUPPLEMENTAL,
        pays("20.00"),
        ("20.00", "100.00", "40.00", "50.00", None),
    ),
    "11-non-covered": Worked(
        {},
        "90.00",
        ARTICLE,
        secondary_line(paid="0.00", allowed=None, adjustments=[adj("CO", "96", "150.00")]),
        ("0.00", "100.00", "20.00", "50.00", None),
    ),
}


def worked_messages(example: Worked) -> list[Message]:
    messages = [message("reference.payers", profile("AETNA", **example.terms))]
    if example.a2 is not None:
        messages.append(message("reference.fee-schedule", fee("AETNA", "99214", example.a2)))
    messages.append(message("eob.primary", eob("P1", lines=[example.primary_line])))
    secondary = eob("S1", payer_id="AETNA", at="2026-03-20T10:00:00Z", secondary_payer_id=None)
    messages.append(message("eob.secondary", {**secondary, "lines": [example.secondary_line]}))
    return messages


@pytest.fixture(params=sorted(WORKED), scope="module")
def worked(request: pytest.FixtureRequest) -> tuple[Worked, Explained]:
    example = WORKED[request.param]
    return example, explained(worked_messages(example))


def test_worked_example_explains_the_spec_figures(worked: tuple[Worked, Explained]) -> None:
    example, run = worked
    e = run.explanation
    assert e is not None
    assert e.status == "ready"
    assert e.billing_ready
    (only,) = e.lines
    s, k, patient, write_off, b2 = (Decimal(v) if v else None for v in example.figures)
    assert (only.expected_secondary_paid, only.collectible_limit, only.patient_responsibility, only.write_off) == (
        s,
        k,
        patient,
        write_off,
    )
    if b2 is not None:
        assert only.secondary_benefit == b2


def ready_line_view(line: Any) -> dict[str, Any]:
    """An explained line in the billing-ready event's words."""
    return {
        "line_id": line.line_id,
        "charge": f"{line.charge:.2f}",
        "primary_paid": f"{line.primary_paid:.2f}",
        "secondary_paid": f"{line.secondary_paid:.2f}",
        "expected_secondary_paid": f"{line.expected_secondary_paid:.2f}",
        "patient_responsibility": f"{line.patient_responsibility:.2f}",
        "write_off": f"{line.write_off:.2f}",
        "patient_reasons": [r.code for r in line.patient_reasons],
        "write_off_reasons": [
            {"reason": w.reason, "group": w.group, "carc": w.carc, "amount": f"{w.amount:.2f}"}
            for w in line.write_off_reasons
        ],
    }


def assert_agrees_with_ready(e: ClaimExplanation, ready: dict[str, Any]) -> None:
    assert e.totals is not None
    t = e.totals
    mine = {
        "total_charge": t.total_charge,
        "primary_paid": t.primary_paid,
        "secondary_paid": t.secondary_paid,
        "expected_secondary_paid": t.expected_secondary_paid,
        "patient_responsibility": t.patient_responsibility,
        "write_off": t.write_off,
    }
    assert {k: f"{v:.2f}" for k, v in mine.items()} == {k: ready[k] for k in mine}
    assert [r.code for r in t.patient_reasons] == ready["patient_reasons"]
    assert [ready_line_view(x) for x in e.lines] == ready["lines"]
    assert e.ready_event_id == ready["event_id"]
    assert e.secondary_payer_id == ready["secondary_payer_id"]
    if e.secondary_terms is not None:
        assert e.secondary_terms.cob_method == ready["cob_method"]


def test_worked_example_figures_equal_the_published_ready_event(worked: tuple[Worked, Explained]) -> None:
    _, run = worked
    assert run.explanation is not None
    assert_agrees_with_ready(run.explanation, run.last("billing.ready", "ready"))


def evaluate(with_numbers: str) -> Decimal:
    """The right-hand side of a step's formula with the numbers put in, computed independently."""
    _, _, expression = with_numbers.partition(" = ")
    assert re.fullmatch(r"[0-9.()+\-*, a-z]+", expression), expression
    decimals = re.sub(r"\d+\.\d+", lambda m: f"D('{m.group(0)}')", expression)
    round2 = lambda x: x.quantize(Decimal("0.01"), ROUND_HALF_UP)  # noqa: E731
    return eval(decimals, {"D": Decimal, "max": max, "min": min, "round2": round2})


def test_every_formula_with_its_numbers_gives_the_engines_figure(worked: tuple[Worked, Explained]) -> None:
    _, run = worked
    assert run.explanation is not None
    (only,) = run.explanation.lines
    names = [step.name for step in only.steps]
    assert names == ["secondary benefit B2", "expected secondary payment S", "ceiling K", "patient", "write-off"]
    for step in only.steps:
        assert evaluate(step.with_numbers) == step.result, step
    by_name = {step.name: step.result for step in only.steps}
    assert by_name["expected secondary payment S"] == only.expected_secondary_paid
    assert by_name["ceiling K"] == only.collectible_limit
    assert (by_name["patient"], by_name["write-off"]) == (only.patient_responsibility, only.write_off)


def test_the_articles_formula_reads_with_its_numbers() -> None:
    e = explained(worked_messages(WORKED["1-article"])).explanation
    assert e is not None
    steps = {step.name: step for step in e.lines[0].steps}
    assert steps["expected secondary payment S"].formula == "S = max(0, min(PR1, B2, min(A1, A2) - P1))"
    assert (
        steps["expected secondary payment S"].with_numbers
        == "S = max(0, min(20.00, 90.00, min(100.00, 90.00) - 80.00))"
    )
    assert steps["ceiling K"].with_numbers == "K = max(80.00 + 10.00, min(100.00, 90.00))"
    assert "in the secondary's network" in steps["ceiling K"].why
    assert e.lines[0].allowable_source == "fee_schedule"
    assert e.lines[0].allowable_source_text == "AETNA's fee schedule for 99214"


def test_a_line_the_secondary_denies_says_so_with_its_code() -> None:
    e = explained(worked_messages(WORKED["11-non-covered"])).explanation
    assert e is not None
    (only,) = e.lines
    assert only.secondary_denial == "non_covered"
    s = next(step for step in only.steps if step.name == "expected secondary payment S")
    assert s.result == 0
    assert "CO-96" in s.why
    assert [r.code for r in only.patient_reasons] == ["primary_coinsurance", "non_covered"]


def test_an_out_of_network_denial_leaves_the_balance_to_the_patient() -> None:
    denial = secondary_line(paid="0.00", allowed=None, adjustments=[adj("CO", "242", "150.00")])
    e = explained(worked_messages(Worked({}, "90.00", ARTICLE, denial, ("0", "0", "0", "0", None)))).explanation
    assert e is not None
    (only,) = e.lines
    assert only.secondary_denial == "out_of_network"
    assert (only.collectible_limit, only.patient_responsibility) == (Decimal("100.00"), Decimal("20.00"))
    assert "CO-242" in only.steps[1].why
    assert "denied the line" in only.steps[2].why


# ---- states other than ready ------------------------------------------------------------------


def test_a_claim_waiting_for_its_secondary_is_explained_as_the_estimate() -> None:
    messages = worked_messages(WORKED["1-article"])[:-1]  # no secondary EOB
    run = explained(messages)
    e = run.explanation
    assert e is not None
    assert (e.status, e.basis, e.billing_ready) == ("waiting_for_secondary", "estimate", False)
    assert e.totals is not None
    assert e.totals.secondary_paid is None
    assert e.lines[0].actual_secondary_paid is None
    assert "expected payment" in e.lines[0].steps[2].why
    estimate = run.last("secondary.expected")
    assert f"{e.totals.expected_secondary_paid:.2f}" == estimate["expected_secondary_paid"]
    assert f"{e.totals.patient_responsibility:.2f}" == estimate["expected_patient_responsibility"]
    assert any("expected by 2026-04-09" in note for note in e.notes)


def test_a_claim_without_secondary_coverage_owes_the_primarys_patient_share() -> None:
    run = explained([message("eob.primary", eob("P1", secondary_payer_id=None))])
    e = run.explanation
    assert e is not None
    assert (e.status, e.basis, e.secondary_terms) == ("no_secondary_coverage", "no_secondary", None)
    assert [step.with_numbers for step in e.lines[0].steps] == [
        "K = 80.00 + 20.00",
        "patient = 20.00",
        "write_off = 150.00 - 80.00 - 20.00",
    ]
    assert_agrees_with_ready(e, run.last("billing.ready", "ready"))


def test_a_reversed_primary_leaves_the_claim_waiting_for_its_correction() -> None:
    messages = worked_messages(WORKED["1-article"])
    reversal = eob(
        "P1-R",
        at="2026-03-21T10:00:00Z",
        status="reversed",
        lines=[
            line(
                paid="-80.00",
                charge="-150.00",
                allowed="-100.00",
                adjustments=[adj("CO", "45", "-50.00"), adj("PR", "2", "-20.00")],
            )
        ],
    )
    run = explained([*messages, message("eob.primary", reversal)])
    e = run.explanation
    assert e is not None
    assert (e.status, e.lines, e.totals, e.ready_event_id) == ("waiting_for_primary", (), None, None)
    assert "reversed" in e.status_text
    assert run.last("billing.ready")["status"] == "voided"


def test_an_overdue_secondary_shows_the_published_discrepancy() -> None:
    messages = worked_messages(WORKED["1-article"])[:-1]
    run = explained(messages, now=parse_timestamp("2026-05-01T00:00:00Z"))
    e = run.explanation
    assert e is not None
    (overdue,) = e.discrepancies
    published = run.last("billing.discrepancy")
    assert discrepancy_view(overdue) == {k: published[k] for k in DISCREPANCY_FIELDS}
    assert "30 days" in overdue.why
    assert e.status == "waiting_for_secondary"


def test_figures_published_under_other_reference_data_are_pointed_out() -> None:
    messages = [
        *worked_messages(WORKED["1-article"]),
        message("reference.fee-schedule", fee("AETNA", "99214", "95.00")),
    ]
    run = explained(messages)
    e = run.explanation
    assert e is not None
    ready = run.last("billing.ready", "ready")
    assert ready["patient_responsibility"] == "0.00"
    assert e.totals is not None
    assert e.totals.patient_responsibility == Decimal("5.00")  # A2 95 now: K = 95
    assert any(ready["event_id"] in note and "other reference data" in note for note in e.notes)


def test_explanation_round_trips_through_json() -> None:
    e = explained(worked_messages(WORKED["3-secondary-deductible"])).explanation
    assert e is not None
    data = json.loads(json.dumps(e.model_dump(mode="json")))
    assert data["lines"][0]["write_off"] == "60.00"
    assert data["lines"][0]["secondary_deductible"] == "88.00"
    assert data["totals"]["patient_responsibility"] == "8.00"
    assert ClaimExplanation.model_validate(data) == e


def test_an_unknown_claim_is_none() -> None:
    assert explain_from_messages(worked_messages(WORKED["1-article"]), "CLM-OTHER") is None


# ---- the example day --------------------------------------------------------------------------


@dataclass
class Day:
    engine: Engine
    published: list[dict[str, Any]]


@pytest.fixture(scope="module")
def day() -> Day:
    engine = Engine()
    published = []
    with DAY.open("rb") as lines:
        for topic, key, value in replay_messages(lines):
            published += [
                {"topic": e.topic, "value": e.value.model_dump(mode="json")} for e in engine.receive(topic, key, value)
            ]
    published += [{"topic": e.topic, "value": e.value.model_dump(mode="json")} for e in engine.advance(DAY_NOW)]
    return Day(engine, published)


def day_claims() -> list[str]:
    """Every claim of the example day, the raw X12 ones included, as the engine keeps them."""
    engine = Engine()
    for _ in replay_lines(DAY.read_bytes().splitlines(keepends=True), engine):
        pass
    return sorted(engine.claims)


DISCREPANCY_FIELDS = (
    "kind",
    "blocking",
    "expected_secondary_paid",
    "actual_secondary_paid",
    "difference",
    "line_ids",
    "action",
)


def discrepancy_view(d: Any) -> dict[str, Any]:
    as_text = lambda v: None if v is None else f"{v:.2f}"  # noqa: E731
    return {
        "kind": d.kind,
        "blocking": d.blocking,
        "expected_secondary_paid": as_text(d.expected_secondary_paid),
        "actual_secondary_paid": as_text(d.actual_secondary_paid),
        "difference": as_text(d.difference),
        "line_ids": list(d.line_ids),
        "action": d.action,
    }


def test_the_example_day_has_its_42_claims(day: Day) -> None:
    assert len(day_claims()) == 42
    assert set(day.engine.claims) == set(day_claims())


@pytest.mark.parametrize("claim_id", day_claims())
def test_every_claim_of_the_example_day_agrees_with_what_was_published(claim_id: str, day: Day) -> None:
    state = day.engine.claims[claim_id]
    e = explain_claim(state, day.engine.reference, day.engine.clock)
    mine = [p["value"] for p in day.published if p["value"].get("claim_id") == claim_id]
    readies = [v for v in mine if "status" in v]
    assert e.billing_ready == bool(readies and readies[-1]["status"] == "ready")
    if e.billing_ready:
        assert_agrees_with_ready(e, readies[-1])
    # The current version's discrepancies, as published (a reversal's own is history, not current).
    version = (state.primary.event_id if state.primary else None, state.secondary.event_id if state.secondary else None)
    published = [
        {k: v[k] for k in DISCREPANCY_FIELDS}
        for v in mine
        if "kind" in v
        and not v["kind"].endswith("_reversed")
        and (v["primary_event_id"], v["secondary_event_id"]) == version
    ]
    assert [discrepancy_view(d) for d in e.discrepancies] == published
    assert (e.status == "discrepancy") == any(d.blocking for d in e.discrepancies)
    assert render_text(e).startswith(f"Claim {claim_id}: ")


@pytest.mark.parametrize("claim_id", ["CLM-2026-0017", "CLM-2026-0018"])
def test_a_waiting_claim_of_the_day_agrees_with_its_estimate(claim_id: str, day: Day) -> None:
    e = explain_claim(day.engine.claims[claim_id], day.engine.reference, day.engine.clock)
    estimate = [
        p["value"] for p in day.published if p["topic"] == "secondary.expected" and p["value"]["claim_id"] == claim_id
    ][-1]
    assert e.status == "waiting_for_secondary"
    assert e.totals is not None
    assert f"{e.totals.expected_secondary_paid:.2f}" == estimate["expected_secondary_paid"]
    assert f"{e.totals.patient_responsibility:.2f}" == estimate["expected_patient_responsibility"]
    for mine, published in zip(e.lines, estimate["lines"], strict=True):
        assert {
            "line_id": mine.line_id,
            "allowable_source": mine.allowable_source,
            "secondary_allowable": f"{mine.secondary_allowable:.2f}",
            "secondary_benefit": f"{mine.secondary_benefit:.2f}",
            "expected_secondary_paid": f"{mine.expected_secondary_paid:.2f}",
            "expected_patient_responsibility": f"{mine.patient_responsibility:.2f}",
            "primary_allowed": f"{mine.primary_allowed:.2f}",
            "collectible_limit": f"{mine.collectible_limit:.2f}",
        } == published


def test_the_days_cob_order_denial_is_explained(day: Day) -> None:
    e = explain_claim(day.engine.claims["CLM-2026-0026"], day.engine.reference, day.engine.clock)
    assert e.status == "discrepancy"
    (dispute,) = e.discrepancies
    assert dispute.kind == "cob_order_dispute"
    assert "not the primary payer" in dispute.why
    assert any("COB order is settled" in note for note in e.notes)


def test_the_days_payer_mismatch_is_explained(day: Day) -> None:
    e = explain_claim(day.engine.claims["CLM-2026-0011"], day.engine.reference, day.engine.clock)
    (dispute,) = e.discrepancies
    assert "from HUMANA" in dispute.why
    assert "counts only as the actual payment" in dispute.why
    assert e.lines[0].actual_secondary_paid == Decimal("12.80")
    assert e.lines[0].expected_secondary_paid == Decimal("4.00")  # on AETNA's terms


def test_the_text_rendering_has_a_section_per_line_then_the_claim_then_the_actions(day: Day) -> None:
    e = explain_claim(day.engine.claims["CLM-2026-0013"], day.engine.reference, day.engine.clock)
    text = render_text(e)
    assert text.index("Line 1: ") < text.index("Line 2: ") < text.index("Claim totals") < text.index("Discrepancies")
    assert "secondary_underpaid (blocking): expected 14.00, actual 9.00, difference -5.00, lines 1" in text
    assert "action: Appeal, or ask the secondary to reprocess with the primary EOB." in text
    assert "= max(0, min(20.00, 90.00, min(100.00, 90.00) - 80.00))" in text


# ---- the command ------------------------------------------------------------------------------

DAY_ARGS = ["--replay", str(DAY), "--now", "2026-05-15T00:00:00Z"]


def test_cli_explains_a_claim_of_the_replay(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "CLM-2026-0001", *DAY_ARGS]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Claim CLM-2026-0001: ready\n")
    assert "AETNA's fee schedule for 99214" in out


def test_cli_json_is_the_explanation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "CLM-2026-0013", *DAY_ARGS, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    with DAY.open("rb") as lines:
        e = explain_from_messages(replay_messages(lines), "CLM-2026-0013", DAY_NOW)
    assert e is not None
    assert printed == e.model_dump(mode="json")
    assert ClaimExplanation.model_validate(printed) == e


def test_cli_claim_not_in_the_file_exits_1_naming_where_it_looked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "CLM-9999-9999", "--replay", str(DAY)]) == 1
    err = capsys.readouterr().err
    assert str(DAY) in err
    assert "42 claims" in err
    assert "CLM-9999-9999" not in err  # claim ids stay out of anything that may be logged


def test_cli_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "CLM-1", "--replay", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_unreachable_worker_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["explain", "CLM-1", "--worker", url]) == 2
    assert f"cannot reach the worker at {url}" in capsys.readouterr().err


def test_cli_now_with_a_worker_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "CLM-1", "--worker", "http://127.0.0.1:1", "--now", "2026-05-15T00:00:00Z"]) == 2
    assert "--now applies to --replay only" in capsys.readouterr().err


class _FakeWorker(BaseHTTPRequestHandler):
    """Answers as the worker's explanation page does, from `answers` by request path."""

    answers: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_GET(self) -> None:
        status, body = self.answers.get(self.path, (404, b"not a page"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_worker() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeWorker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_cli_worker_answers_are_told_apart(fake_worker: str, capsys: pytest.CaptureFixture[str]) -> None:
    e = explained(worked_messages(WORKED["1-article"])).explanation
    assert e is not None
    _FakeWorker.answers = {
        "/claims/CLM%2F1%20a/explanation": (200, json.dumps(e.model_dump(mode="json")).encode()),
        "/claims/gone/explanation": (404, json.dumps({"error": "claim_not_found", "message": "no claim"}).encode()),
        "/claims/busy/explanation": (503, json.dumps({"error": "not_ready", "message": "rebalancing"}).encode()),
    }
    assert main(["explain", "CLM/1 a", "--worker", fake_worker, "--json"]) == 0  # percent-encoded in the path
    assert ClaimExplanation.model_validate(json.loads(capsys.readouterr().out)) == e
    assert main(["explain", "gone", "--worker", fake_worker]) == 1
    assert main(["explain", "busy", "--worker", fake_worker]) == 2
    assert "answered 503: rebalancing" in capsys.readouterr().err
    assert main(["explain", "no-such-page", "--worker", fake_worker]) == 2  # a 404 that is not the page's


# ---- the text rendering of the claim's coverage (COVERAGE.md) -------------------------------------


def coverage_text(*messages: Message) -> str:
    e = explained(list(messages)).explanation
    assert e is not None
    return render_text(e)


def test_the_text_says_the_secondary_payer_comes_from_the_submission() -> None:
    text = coverage_text(
        message("claims.submitted", submission("SUB-1", secondary="CIGNA")),
        message("eob.primary", unstated(eob("P1"))),
    )
    assert "Secondary payer: CIGNA (from the claim as submitted)\n  terms (no profile: the defaults): " in text
    assert "Tertiary payer" not in text
    assert "Submitted 2026-03-03 09:00 UTC (original, event SUB-1)\n  payers in COB order: BCBS-TX (primary), " in text
    assert "    1       99214      2026-03-02        150.00       150.00\n" in text  # the same charge: no flag
    assert text.index("Secondary payer: CIGNA") < text.index("Submitted ") < text.index("Line 1: ")


def test_the_text_names_the_crossover_the_absence_and_the_secondary_eob_as_sources() -> None:
    crossover = coverage_text(message("eob.primary", eob("P1")))
    assert "Secondary payer: AETNA (named by the primary's EOB: a crossover)\n" in crossover
    assert "Submitted" not in crossover
    none = coverage_text(message("eob.primary", eob("P1", secondary_payer_id=None)))
    assert "Secondary payer: none (the primary's EOB says there is no secondary)\n" in none
    listed_none = coverage_text(message("claims.submitted", submission(secondary=None)))
    assert "Secondary payer: none (the claim as submitted lists no secondary)\n" in listed_none
    orphan = coverage_text(message("eob.secondary", eob("S1", payer_id="HUMANA", lines=[secondary_line()])))
    assert "Secondary payer: HUMANA (from the secondary's EOB: it adjudicated the claim as secondary)\n" in orphan


def test_the_text_says_when_nothing_tells_the_secondary_payer() -> None:
    text = coverage_text(message("eob.primary", unstated(eob("P1"))))
    assert "Secondary payer: unknown: nothing says whether the patient has a secondary payer" in text
    assert "  coverage_unknown (blocking), lines 1\n" in text
    assert "terms" not in text.split("Line 1:")[0]  # no secondary terms without a secondary payer


def test_the_text_shows_the_tertiary_payer_and_the_submitted_lines_beside_the_primarys() -> None:
    submitted = [submitted_line("1"), submitted_line("2", charge="60.00"), submitted_line("3", charge="40.00")]
    unpaid = {"allowed": None, "adjustments": []}
    primary = unstated(
        eob(
            "P1",
            lines=[
                line("1"),
                line("3", charge="45.00", paid="45.00", **unpaid),
                line("4", charge="10.00", paid="10.00", **unpaid),
            ],
        )
    )
    text = coverage_text(
        message("claims.submitted", submission("SUB-1", tertiary="TRICARE", lines=submitted)),
        message("eob.primary", primary),
    )
    assert "Tertiary payer: TRICARE (from the claim as submitted; shown, not reconciled)\n" in text
    assert "  payers in COB order: BCBS-TX (primary), AETNA (secondary), TRICARE (tertiary)\n" in text
    assert (
        "    line    procedure  service date   submitted  primary EOB\n"
        "    1       99214      2026-03-02        150.00       150.00\n"
        "    2       99214      2026-03-02         60.00            -  <- not on the primary's EOB\n"
        "    3       99214      2026-03-02         40.00        45.00  <- charge differs\n"
        "    4       99214                             -        10.00  <- not submitted\n"
    ) in text
    assert "  line_mismatch (blocking): expected 20.00, lines 3, 4\n" in text


def test_the_text_of_a_submitted_claim_without_its_primary_eob_compares_nothing() -> None:
    text = coverage_text(message("claims.submitted", submission("SUB-1", frequency="replacement")))
    assert "Submitted 2026-03-03 09:00 UTC (replacement, event SUB-1)\n" in text
    assert (
        "    1       99214      2026-03-02        150.00            -\n  no primary EOB yet to compare with\n" in text
    )


def test_a_claim_whose_coverage_is_unknown_says_its_figures_assume_no_secondary() -> None:
    """COVERAGE.md: the engine holds the claim; the explanation must not read as a settled bill."""
    run = Run()
    run.primary(unstated(eob("P1")))
    explained = explain_claim(run.engine.claims["CLM-1"], run.engine.reference)
    assert (explained.basis, explained.coverage_source, explained.billing_ready) == (
        "coverage_unknown",
        "unknown",
        False,
    )
    assert [d.kind for d in explained.discrepancies] == ["coverage_unknown"]
    assert any("nothing is billed until the coverage is known" in note for note in explained.notes)


def test_the_secondary_claim_that_stands_is_explained_with_the_primarys_figures() -> None:
    run = Run()
    run.submit(submission("S1"))
    run.primary(unstated(eob("P1")))
    explained = explain_claim(run.engine.claims["CLM-1"], run.engine.reference)
    assert explained.secondary_claim is not None
    assert (explained.secondary_claim.secondary_payer_id, explained.secondary_claim.primary_paid) == (
        "AETNA",
        Decimal("80.00"),
    )
    text = render_text(explained)
    assert "Secondary claim to AETNA (waiting for its EOB" in text
    assert "patient liability left         20.00  AMT*EAF in 2320" in text
