"""FHIR R4 ExplanationOfBenefit into EOB events (models.remittance.fhir, docs/FHIR.md): one resource,
a Bundle or NDJSON; the order of payers from insurance.focal; amounts and adjustments from the
adjudication categories; reversals from status; rejections that name the resource and the reason."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from remittance_support import converted, labels, reconciled

from cobstream.engine import Emitted
from cobstream.remittance_speed import measure_fhir
from models.remittance import ConversionRejected, ConvertedEob, Item, convert_fhir

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "fhir"
EXAMPLE = ROOT / "examples" / "eob-fhir-bundle.json"
CLI = [sys.executable, "-m", "cobstream.cli"]


def rejected(items: list[Item]) -> list[ConversionRejected]:
    return [i for i in items if isinstance(i, ConversionRejected)]


def adj(group: str, reason: str, amount: str) -> dict[str, str]:
    return {"group": group, "reason": reason, "amount": amount}


def category(code: str, value: Any) -> dict[str, Any]:
    return {"category": {"coding": [{"code": code}]}, "amount": {"value": value}}


def eob(**changes: Any) -> dict[str, Any]:
    """A primary EOB with one item: submitted 150, eligible 100, benefit 80, no secondary."""
    resource = {
        "resourceType": "ExplanationOfBenefit",
        "id": "eob-t-1",
        "status": "active",
        "use": "claim",
        "outcome": "complete",
        "created": "2026-03-23T10:00:00Z",
        "insurer": {"identifier": {"value": "BCBS-TX"}},
        "claim": {"identifier": {"value": "CLM-T-1"}},
        "insurance": [{"focal": True, "coverage": {"display": "PPO"}}],
        "item": [
            {
                "sequence": 1,
                "productOrService": {"coding": [{"code": "99214"}]},
                "servicedDate": "2026-03-02",
                "adjudication": [category("submitted", 150), category("eligible", 100), category("benefit", 80)],
            }
        ],
    }
    resource.update(changes)
    return resource


def one(resource: dict[str, Any]) -> Item:
    [item] = convert_fhir(json.dumps(resource))
    return item


def reconcile(*data: bytes) -> list[Emitted]:
    return reconciled(convert_fhir, data)


# --- every mapped element -------------------------------------------------------------------


def test_every_mapped_element_of_a_primary_eob_in_a_bundle() -> None:
    primary, _ = convert_fhir((DATA / "article_bundle.json").read_bytes())
    assert isinstance(primary, ConvertedEob)
    value = primary.value()
    assert re.fullmatch(r"fhir:BCBS-TX:eob-f-1-primary:3:[0-9a-f]{8}", value.pop("event_id"))  # id, meta.versionId
    assert value == {
        "claim_id": "CLM-F-1",  # claim.identifier
        "payer_id": "BCBS-TX",  # insurer -> Organization.identifier
        "payer_name": "Blue Cross and Blue Shield of Texas",  # insurer.display
        "payer_claim_number": "UC-BCBS-0301",  # identifier of type uc
        "status": "processed",  # status active, outcome complete
        "adjudicated_at": "2026-03-23T19:05:00Z",  # created, to UTC
        "secondary_payer_id": "AETNA",  # insurance[1] -> Coverage (fullUrl) -> payor -> Organization (fullUrl)
        "lines": [
            {
                "line_id": "1",  # sequence
                "procedure_code": "99214",  # productOrService
                "service_date": "2026-03-02",  # servicedDate
                "modifiers": ["25"],  # modifier
                "remarks": ["N130"],  # a RARC given as an adjudication reason
                "charge": "150.00",  # submitted
                "paid": "80.00",  # benefit
                "allowed": "100.00",  # eligible
                "adjustments": [
                    adj("PR", "1", "10.00"),  # deductible
                    adj("PR", "3", "5.00"),  # copay
                    adj("CO", "45", "50.00"),  # submitted - eligible
                    adj("PR", "2", "5.00"),  # the rest of eligible: the patient's coinsurance on a primary
                ],
            },
            {
                "line_id": "2",
                "procedure_code": "36415",
                "service_date": "2026-03-02",  # servicedPeriod.start
                "modifiers": [],
                "remarks": [],
                "charge": "25.00",
                "paid": "8.50",
                "allowed": "8.50",
                "adjustments": [adj("CO", "45", "16.50")],
            },
        ],
        "source": {"format": "fhir-r4", "resource_id": "eob-f-1-primary", "version_id": "3", "location": "entry 5"},
    }


def test_the_focal_insurance_second_in_the_list_is_the_secondary_payer() -> None:
    _, secondary = convert_fhir((DATA / "article_bundle.json").read_bytes())
    assert isinstance(secondary, ConvertedEob)
    assert secondary.topic == "eob.secondary"
    value = secondary.value()
    assert (value["claim_id"], value["payer_id"], value["adjudicated_at"]) == (
        "CLM-F-1",
        "AETNA",
        "2026-03-24T00:00:00Z",
    )
    first, second = value["lines"]
    assert first["adjustments"] == [adj("OA", "23", "80.00"), adj("CO", "45", "60.00")]  # CARIN priorpayerpaid
    assert (second["paid"], second["adjustments"]) == ("0.00", [adj("CO", "45", "16.50"), adj("CO", "96", "8.50")])


def test_the_article_claim_reconciles_from_fhir() -> None:
    outcomes = reconcile((DATA / "article_bundle.json").read_bytes())
    assert labels(outcomes) == ["secondary.expected", "billing.ready:ready"]
    ready = outcomes[-1].value
    # line 1 as the article (10.00 due and paid, the patient's 20.00 covered up to Aetna's 90.00 allowable);
    # line 2 (36415) was denied CO-96 by the secondary and left the patient nothing after the primary
    assert [(str(x.secondary_paid), str(x.patient_responsibility), str(x.write_off)) for x in ready.lines] == [
        ("10.00", "0.00", "60.00"),
        ("0.00", "0.00", "16.50"),
    ]


def test_an_eob_without_items_is_one_claim_line_from_its_totals() -> None:
    [item] = convert_fhir((DATA / "claim_totals.json").read_bytes())
    assert isinstance(item, ConvertedEob)
    value = item.value()
    assert value["secondary_payer_id"] == "TXMCD"  # a contained Coverage (#medicaid)
    assert value["payer_id"] == "UHC"  # insurer.reference's id when no Organization is in the file
    assert value["lines"] == [
        {
            "line_id": "CLAIM",
            "procedure_code": "CLAIM",
            "service_date": "2026-03-10",  # billablePeriod.start
            "modifiers": [],
            "remarks": [],
            "charge": "8450.00",
            "paid": "5200.00",
            "allowed": "6200.00",
            "adjustments": [adj("PR", "1", "1000.00"), adj("CO", "45", "2250.00")],
        }
    ]


# --- NDJSON, corrupt lines --------------------------------------------------------------------


def test_a_corrupt_ndjson_line_is_rejected_and_the_others_convert() -> None:
    items = convert_fhir((DATA / "corrupt_line.ndjson").read_bytes())
    assert [e.key for e in converted(items)] == ["CLM-CL-1", "CLM-CL-4"]
    broken, unordered = rejected(items)
    assert (broken.where, broken.position, broken.unit, broken.claim_id) == ("line 2", 2, "resource", None)
    assert broken.reason.startswith("not JSON: Unterminated string")
    assert (unordered.where, unordered.claim_id) == ("ExplanationOfBenefit eob-cl-3 (line 3)", "CLM-CL-3")
    assert unordered.reason == "insurance: exactly one entry must be focal, 0 are: the payer's place is unknown"
    [first, fourth] = converted(items)
    assert first.value()["lines"][0]["adjustments"] == [adj("PR", "3", "25.00"), adj("CO", "45", "30.00")]
    assert fourth.value()["lines"][0]["adjustments"] == [adj("PR", "1", "70.00"), adj("CO", "45", "30.00")]


def test_a_file_that_is_not_json_is_unusable() -> None:
    [bad] = convert_fhir(b"ISA*00*")
    assert isinstance(bad, ConversionRejected)
    assert (bad.unit, bad.where) == ("file", "the file")


# --- the order of payers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("insurance", "reason"),
    [
        ([], "insurance: at least one insurance entry is required"),
        ([{"focal": True}, {"focal": True}], "insurance: exactly one entry must be focal, 2 are"),
        ([{"focal": False}, {"focal": False}, {"focal": True}], "insurance[2]: a third or later payer is beyond"),
        (
            [{"focal": True}, {"focal": False, "coverage": {"reference": "Coverage/elsewhere"}}],
            "insurance[1].coverage: names the next coverage, but no Coverage with a payor for it is in the file",
        ),
    ],
)
def test_an_unknown_place_in_the_order_is_a_rejection(insurance: list[dict[str, Any]], reason: str) -> None:
    item = one(eob(insurance=insurance))
    assert isinstance(item, ConversionRejected)
    assert item.reason.startswith(reason)
    assert (item.claim_id, item.segment_id) == ("CLM-T-1", "ExplanationOfBenefit")


def test_a_single_insurance_without_focal_is_the_primary_with_no_secondary() -> None:
    item = one(eob(insurance=[{"coverage": {"display": "PPO"}}]))
    assert isinstance(item, ConvertedEob)
    assert (item.topic, item.event.secondary_payer_id) == ("eob.primary", None)


# --- status, outcome, use ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"status": "cancelled"}, "reversed"),
        ({"status": "entered-in-error"}, "reversed"),
        ({"outcome": "error"}, "denied"),
        ({"outcome": "partial"}, "processed"),
        ({"status": "draft"}, "status: 'draft': only active, cancelled or entered-in-error EOBs are final"),
        ({"outcome": "queued"}, "outcome: 'queued': the claim is not adjudicated (complete, partial or error)"),
        ({"use": "predetermination"}, "use: 'predetermination' is not a claim adjudication (use must be 'claim')"),
    ],
)
def test_status_outcome_and_use(changes: dict[str, Any], expected: str) -> None:
    item = one(eob(**changes))
    if isinstance(item, ConvertedEob):
        assert item.event.status == expected
    else:
        assert item.reason == expected


def test_a_reversal_then_its_correction_reconcile_through_the_engine() -> None:
    outcomes = reconcile((DATA / "reversal_correction.ndjson").read_bytes())
    assert labels(outcomes) == [
        "secondary.expected",
        "billing.ready:ready",
        "billing.ready:voided",  # status cancelled: the primary withdrawn
        "billing.discrepancy:primary_reversed",
        "secondary.expected",  # the corrected EOB: eligible 110.00, benefit 88.00
        "billing.discrepancy:secondary_overpaid",
    ]


# --- amounts ------------------------------------------------------------------------------------


def item_with(*adjudication: dict[str, Any]) -> dict[str, Any]:
    resource = eob()
    resource["item"][0]["adjudication"] = list(adjudication)
    return resource


@pytest.mark.parametrize(
    ("adjudication", "reason"),
    [
        ([category("submitted", 50), category("benefit", 80)], "does not balance: submitted 50 is less than paid 80"),
        ([category("benefit", 80)], "no submitted amount"),
        ([category("submitted", 150)], "no paid amount"),
        ([category("submitted", 150), category("benefit", "lots")], ".amount.value: must be a decimal number"),
        ([category("submitted", 150), category("benefit", 80.125)], "has more than two decimals of value"),
    ],
)
def test_amounts_that_cannot_be_used_are_rejections(adjudication: list[dict[str, Any]], reason: str) -> None:
    item = one(item_with(*adjudication))
    assert isinstance(item, ConversionRejected)
    assert item.reason.startswith("item[0]")
    assert reason in item.reason


def test_money_is_read_from_its_literal_text_and_only_in_dollars() -> None:
    text = json.dumps(item_with(category("submitted", 1), category("benefit", 1))).replace(
        '"value": 1}', '"value": 0.10000000000000001}', 1
    )
    [item] = convert_fhir(text)
    assert isinstance(item, ConversionRejected)  # 0.10000000000000001 is not 0.10, whatever a float says
    euros = item_with(category("submitted", 150), category("benefit", 150))
    euros["item"][0]["adjudication"][1]["amount"]["currency"] = "EUR"
    rejection = one(euros)
    assert isinstance(rejection, ConversionRejected)
    assert rejection.reason == "item[0].adjudication[1].amount.currency: 'EUR' is not USD"


def test_no_eligible_amount_puts_the_unexplained_rest_on_co_45_or_the_payers_reason() -> None:
    plain = one(item_with(category("submitted", 150), category("deductible", 20), category("benefit", 80)))
    assert isinstance(plain, ConvertedEob)
    assert plain.value()["lines"][0]["adjustments"] == [adj("PR", "1", "20.00"), adj("CO", "45", "50.00")]
    reason = {"coding": [{"system": "https://x12.org/codes/claim-adjustment-reason-codes", "code": "204"}]}
    denied = item_with(
        category("submitted", 150),
        category("benefit", 0),
        {"category": {"coding": [{"code": "denialreason"}]}, "reason": reason},
    )
    item = one({**denied, "outcome": "error"})
    assert isinstance(item, ConvertedEob)
    assert (item.event.status, item.value()["lines"][0]["adjustments"]) == ("denied", [adj("CO", "204", "150.00")])


def test_the_unitemised_rest_of_eligible_is_coinsurance_on_a_primary_and_the_prior_payer_on_a_secondary() -> None:
    lines = item_with(category("submitted", 150), category("eligible", 90), category("benefit", 10))["item"]
    primary = one(eob(item=lines))
    secondary = one(eob(item=lines, insurance=[{"focal": False}, {"focal": True}]))
    assert isinstance(primary, ConvertedEob)
    assert isinstance(secondary, ConvertedEob)
    assert primary.value()["lines"][0]["adjustments"] == [adj("CO", "45", "60.00"), adj("PR", "2", "80.00")]
    assert secondary.value()["lines"][0]["adjustments"] == [adj("CO", "45", "60.00"), adj("OA", "23", "80.00")]


# --- identity -----------------------------------------------------------------------------------


def test_the_same_file_twice_gives_the_same_event_ids_and_a_changed_resource_a_new_one() -> None:
    data = (DATA / "reversal_correction.ndjson").read_bytes()
    ids = [e.event.event_id for e in converted(convert_fhir(data))]
    assert ids == [e.event.event_id for e in converted(convert_fhir(data))]
    assert len(set(ids)) == 4  # the cancelled version of eob-rc-1 is a new event
    changed = copy.deepcopy(eob())
    changed["item"][0]["adjudication"][2] = category("benefit", 79)
    changed["item"][0]["adjudication"].append(category("deductible", 1))
    assert one(eob()).event.event_id != one(changed).event.event_id  # type: ignore[union-attr]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in children:
        found += _paths(child, (*path, key))
    return found


ARTICLE = json.loads((DATA / "article_bundle.json").read_text())
ARTICLE_PATHS = _paths(ARTICLE)[1:]
ODD_VALUES = [None, 1, -1.5, True, "x", "2026-13-45", "#x", [], {}, [1], [[]], {"a": 1}, {"reference": 5}]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ARTICLE_PATHS), st.sampled_from(ODD_VALUES)), min_size=1, max_size=3))
def test_odd_shapes_never_crash_the_converter(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    """Any element replaced by a value of the wrong shape: an event or a rejection, never an exception."""
    bundle = copy.deepcopy(ARTICLE)
    for path, value in changes:
        target = bundle
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = copy.deepcopy(value)
        except (KeyError, IndexError, TypeError):
            continue
    items = convert_fhir(json.dumps(bundle))
    assert all(isinstance(i, ConvertedEob | ConversionRejected) for i in items)


# --- the command and the example ------------------------------------------------------------------


def test_convert_fhir_example_piped_into_replay() -> None:
    convert = subprocess.run([*CLI, "convert", "fhir", str(EXAMPLE)], capture_output=True, check=False)
    assert convert.returncode == 0, convert.stderr
    lines = [json.loads(x) for x in convert.stdout.splitlines()]
    assert [(x["topic"], x["key"], x["value"]["status"]) for x in lines] == [
        ("eob.primary", "CLM-2026-0201", "processed"),
        ("eob.secondary", "CLM-2026-0201", "processed"),
        ("eob.primary", "CLM-2026-0202", "processed"),
        ("eob.primary", "CLM-2026-0202", "reversed"),
        ("eob.primary", "CLM-2026-0202", "processed"),
        ("eob.secondary", "CLM-2026-0203", "denied"),
    ]
    replay = subprocess.run([*CLI, "replay", "-"], input=convert.stdout, capture_output=True, check=False)
    ready = [json.loads(x)["value"] for x in replay.stdout.splitlines() if json.loads(x)["topic"] == "billing.ready"]
    assert [(r["claim_id"], r["secondary_paid"], r["patient_responsibility"], r["write_off"]) for r in ready] == [
        ("CLM-2026-0201", "10.00", "0.00", "60.00")
    ]


def test_convert_fhir_exit_status(tmp_path: Path) -> None:
    bad = subprocess.run([*CLI, "convert", "fhir", str(DATA / "corrupt_line.ndjson")], capture_output=True, check=False)
    assert bad.returncode == 1
    err = bad.stderr.decode()
    assert "corrupt_line.ndjson: rejected resource: line 2: not JSON" in err
    assert "corrupt_line.ndjson: rejected claim CLM-CL-3: ExplanationOfBenefit eob-cl-3 (line 3): insurance:" in err
    (tmp_path / "x.json").write_text("not json")
    unusable = subprocess.run([*CLI, "convert", "fhir", str(tmp_path / "x.json")], capture_output=True, check=False)
    assert unusable.returncode == 2


def test_the_speed_measurement_converts_every_generated_eob() -> None:
    result = measure_fhir(25, repeats=1)
    assert (result["claims"], result["converted"]) == (25, 25)
