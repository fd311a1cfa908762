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

from cobstream.bench.remittance_speed import measure_fhir
from models.cob.processor import Published
from models.remittance import ConversionRejected, ConvertedEob, Item, convert_fhir

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "fhir"
EXAMPLE = ROOT / "examples" / "eob-fhir-bundle.json"
CLI = [sys.executable, "-m", "cobstream.cli"]


def rejected(items: list[Item]) -> list[ConversionRejected]:
    return [i for i in items if isinstance(i, ConversionRejected)]


def adj(group: str, reason: str, amount: str) -> dict[str, str]:
    return {"group": group, "reason": reason, "amount": amount}


HL7 = "http://terminology.hl7.org/CodeSystem/adjudication"
CARIN = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
DISCRIMINATOR = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudicationDiscriminator"
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"
RARC = "https://x12.org/codes/remittance-advice-remark-codes"
CARIN_CODES = {"coinsurance", "noncovered", "priorpayerpaid", "paidtoprovider", "memberliability", "paidtopatient"}


def category(
    code: str, value: Any = None, system: str | None = None, reason: tuple[str, str] | None = None
) -> dict[str, Any]:
    """An adjudication entry in its documented code system (CARIN's codes in C4BBAdjudication)."""
    entry: dict[str, Any] = {
        "category": {"coding": [{"system": system or (CARIN if code in CARIN_CODES else HL7), "code": code}]}
    }
    if value is not None:
        entry["amount"] = {"value": value}
    if reason:
        entry["reason"] = {"coding": [{"system": reason[0], "code": reason[1]}]}
    return entry


def eob(**changes: Any) -> dict[str, Any]:
    """A primary EOB with one item: submitted 150, eligible 100, coinsurance 20, benefit 80, no secondary."""
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
                "adjudication": [
                    category("submitted", 150),
                    category("eligible", 100),
                    category("coinsurance", 20),
                    category("benefit", 80),
                ],
            }
        ],
    }
    resource.update(changes)
    return resource


def one(resource: dict[str, Any]) -> Item:
    [item] = convert_fhir(json.dumps(resource))
    return item


def reconcile(*data: bytes) -> list[Published]:
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
                    adj("PR", "2", "5.00"),  # CARIN coinsurance
                    adj("CO", "45", "50.00"),  # submitted - eligible
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
    # CARIN noncovered 8.50 with the denial reason 96; memberliability 0: the provider's write-off (CO)
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


@pytest.mark.parametrize("focal", [{}, {"focal": True}])
def test_a_single_insurance_is_the_primary_and_states_no_secondary(focal: dict[str, Any]) -> None:
    """A payer's EOB need not list the patient's other coverages: a lone `insurance` entry says
    nothing of a secondary, so `secondary_payer_id` is absent (not null: null would say "none")."""
    item = one(eob(insurance=[{"coverage": {"display": "PPO"}, **focal}]))
    assert isinstance(item, ConvertedEob)
    assert (item.topic, item.event.stated_secondary) == ("eob.primary", (False, None))
    value = item.value()
    assert "secondary_payer_id" not in value
    assert "states_secondary" not in value


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
        (
            [category("submitted", 50), category("benefit", 80)],
            "does not balance from what the EOB says: submitted 50 - adjustments (none) = 50, but paid is 80",
        ),
        ([category("benefit", 80)], "no submitted amount"),
        ([category("submitted", 150)], "no paid amount"),
        ([category("submitted", 150), category("benefit", "lots")], ".amount.value: must be a decimal number"),
        ([category("submitted", 80.125), category("benefit", 80.125)], "has more than two decimals of value"),
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


def test_a_line_that_does_not_balance_is_refused_with_its_numbers_not_made_to_balance() -> None:
    """Issue 16 item 3: no invented CO-45, PR-2 or OA-23 for what the EOB leaves unexplained."""
    plain = one(item_with(category("submitted", 150), category("deductible", 20), category("benefit", 80)))
    assert isinstance(plain, ConversionRejected)
    assert plain.reason == (
        "item[0]: does not balance from what the EOB says: submitted 150 - adjustments (PR-1 20) = 130, "
        "but paid is 80; no adjustment is invented for the 50 left"
    )
    lines = item_with(category("submitted", 150), category("eligible", 90), category("benefit", 10))["item"]
    for insurance in ([{"focal": True}], [{"focal": False}, {"focal": True}]):  # neither PR-2 nor OA-23 is guessed
        item = one(eob(item=lines, insurance=insurance))
        assert isinstance(item, ConversionRejected)
        assert "submitted 150 - adjustments (CO-45 60) = 90, but paid is 10; no adjustment is invented for the 80" in (
            item.reason
        )


def test_noncovered_takes_its_carc_and_its_group_from_memberliability() -> None:
    denial = category("denialreason", system=DISCRIMINATOR, reason=(CARC, "204"))
    base = [category("submitted", 150), category("benefit", 0), category("noncovered", 150), denial]
    written_off = one({**item_with(*base, category("memberliability", 0)), "outcome": "error"})
    assert isinstance(written_off, ConvertedEob)
    assert (written_off.event.status, written_off.value()["lines"][0]["adjustments"]) == (
        "denied",
        [adj("CO", "204", "150.00")],
    )
    owed = one(item_with(*base, category("memberliability", 150)))
    assert isinstance(owed, ConvertedEob)
    assert owed.value()["lines"][0]["adjustments"] == [adj("PR", "204", "150.00")]
    unsaid = one(item_with(*base))
    assert isinstance(unsaid, ConversionRejected)
    assert unsaid.reason == (
        "item[0].adjudication[2]: noncovered 150: whether the patient owes it (PR) or the provider writes it off "
        "(CO) is not said; the EOB needs memberliability"
    )
    split = one(item_with(*base, category("memberliability", 40)))
    assert isinstance(split, ConversionRejected)
    assert "memberliability 40 less deductible, copay and coinsurance 0 leaves 40, neither" in split.reason
    no_reason = one(item_with(*base[:3], category("memberliability", 0)))
    assert isinstance(no_reason, ConversionRejected)
    assert no_reason.reason.endswith("noncovered 150 needs one CARC as its reason (adjustmentreason); 0 given")


def test_a_carc_without_an_amount_is_kept_as_oa_zero_and_a_rarc_as_a_remark() -> None:
    item = one(
        item_with(
            category("submitted", 150),
            category("eligible", 100),
            category("benefit", 100, reason=(RARC, "N130")),
            category("adjustmentreason", system=DISCRIMINATOR, reason=(CARC, "22")),
        )
    )
    assert isinstance(item, ConvertedEob)
    line = item.value()["lines"][0]
    assert (line["adjustments"], line["remarks"]) == ([adj("CO", "45", "50.00"), adj("OA", "22", "0.00")], ["N130"])


# --- code systems (issue 16 item 3) ---------------------------------------------------------------

BLUE_BUTTON = "https://bluebutton.cms.gov/resources/codesystem/adjudication"
VARIABLES = "https://bluebutton.cms.gov/resources/variables"


def blue_button(code: str, variable: str, value: Any) -> dict[str, Any]:
    """A CMS Blue Button 2.0 adjudication: a CARIN/HL7 category narrowed by a Blue Button variable."""
    entry = category(code, value)
    entry["category"]["coding"].append({"system": BLUE_BUTTON, "code": f"{VARIABLES}/{variable}"})
    return entry


def test_three_submitted_amounts_are_refused_with_their_numbers_not_added() -> None:
    """The Blue Button outpatient line: a rate, the total charge and a payment, all 'submitted'."""
    item = one(
        item_with(
            category("submitted", "5.00"),
            category("submitted", "999.85"),
            category("submitted", "5000.00"),
            category("benefit", 0),
        )
    )
    assert isinstance(item, ConversionRejected)
    assert item.reason == (
        "item[0].adjudication[2]: 3 amounts of category 'submitted': 5.00 (item[0].adjudication[0]), "
        "999.85 (item[0].adjudication[1]), 5000.00 (item[0].adjudication[2]); they are not added up "
        "(no guide says they add)"
    )


def test_a_category_narrowed_by_another_systems_coding_is_refused() -> None:
    item = one(
        item_with(
            blue_button("submitted", "rev_cntr_rate_amt", "5.00"),
            category("eligible", 100),
            category("benefit", 100),
        )
    )
    assert isinstance(item, ConversionRejected)
    assert item.reason == (
        f"item[0].adjudication[0].category: 'submitted' is also coded {BLUE_BUTTON}#{VARIABLES}/rev_cntr_rate_amt, "
        "which narrows what the amount is: the amount is refused rather than read as 'submitted'"
    )


def test_a_category_only_in_another_system_is_not_read_and_named_when_the_line_fails() -> None:
    other = {"category": {"coding": [{"system": BLUE_BUTTON, "code": f"{VARIABLES}/line_bene_ptb_ddctbl_amt"}]}}
    balanced = one(item_with(category("submitted", 100), {**other, "amount": {"value": 0}}, category("benefit", 100)))
    assert isinstance(balanced, ConvertedEob)
    assert balanced.value()["lines"][0]["adjustments"] == []
    short = one(item_with(category("submitted", 100), {**other, "amount": {"value": 20}}, category("benefit", 80)))
    assert isinstance(short, ConversionRejected)
    assert short.reason.endswith(
        f"no adjustment is invented for the 20 left (adjudications in other code systems, not read: "
        f"{BLUE_BUTTON}#{VARIABLES}/line_bene_ptb_ddctbl_amt 20)"
    )


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (
            {"category": {"coding": [{"code": "submitted"}]}, "amount": {"value": 150}},
            "item[0].adjudication[3].category.coding[0]: 'submitted' has no system",
        ),
        (category("denialreason", 0), f"'denialreason' is not a category of {HL7} this converter reads"),
        (
            {"category": {"coding": [{"system": HL7, "code": "submitted"}, {"system": HL7, "code": "eligible"}]}},
            "codes submitted and eligible at once: which amount it is is unsure",
        ),
        (category("paidtopatient", 20), "paidtopatient 20: money whose place in the provider's remittance"),
        (
            category("adjustmentreason", 20, system=DISCRIMINATOR, reason=(CARC, "45")),
            "adjustmentreason carries an amount (20): which adjustment it is, is not said",
        ),
        (
            category("deductible", 0, reason=("https://example.org/codes", "0")),
            None,  # a reason in another system is not read: the line converts
        ),
        (
            {**category("denialreason", system=DISCRIMINATOR), "reason": {"coding": [{"code": "96"}]}},
            "'96' has no system: give https://x12.org/codes/claim-adjustment-reason-codes",
        ),
    ],
)
def test_categories_and_reasons_only_from_their_code_systems(entry: dict[str, Any], reason: str | None) -> None:
    item = one(item_with(category("submitted", 150), category("eligible", 100), category("benefit", 100), entry))
    if reason is None:
        assert isinstance(item, ConvertedEob)
        assert item.value()["lines"][0]["adjustments"] == [adj("CO", "45", "50.00")]  # no CARC '0' from it
    else:
        assert isinstance(item, ConversionRejected)
        assert reason in item.reason


def test_a_denial_code_from_a_cms_variable_system_never_becomes_a_carc() -> None:
    denial = {
        "category": {"coding": [{"system": DISCRIMINATOR, "code": "denialreason"}]},
        "reason": {"coding": [{"system": f"{VARIABLES}/carr_line_rdcd_pmt_phys_astn_c", "code": "0"}]},
    }
    item = one(item_with(category("submitted", 150), category("eligible", 100), category("benefit", 100), denial))
    assert isinstance(item, ConvertedEob)
    assert [a["reason"] for a in item.value()["lines"][0]["adjustments"]] == ["45"]


def test_benefit_and_paidtoprovider_must_agree() -> None:
    same = one(item_with(category("submitted", 100), category("benefit", 100), category("paidtoprovider", 100)))
    assert isinstance(same, ConvertedEob)
    differ = one(item_with(category("submitted", 100), category("benefit", 100), category("paidtoprovider", 90)))
    assert isinstance(differ, ConversionRejected)
    assert differ.reason == "item[0]: benefit 100 and paidtoprovider 90 differ: what the provider was paid is unsure"


def test_co_45_is_not_derived_out_of_network() -> None:
    network = {
        "sequence": 1,
        "category": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType",
                    "code": "benefitpaymentstatus",
                }
            ]
        },
        "code": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBPayerAdjudicationStatus",
                    "code": "outofnetwork",
                }
            ]
        },
    }
    item = one({**eob(), "supportingInfo": [network]})
    assert isinstance(item, ConversionRejected)
    assert item.reason.startswith(
        "item[0]: out of network (C4BBPayerAdjudicationStatus outofnetwork): submitted 150 - eligible 100 = 50 "
        "may be the patient's (balance billing) or written off"
    )
    in_network = one({**eob(), "supportingInfo": [{**network, "code": {"coding": [{"code": "innetwork"}]}}]})
    assert isinstance(in_network, ConvertedEob)
    as_category = item_with(*eob()["item"][0]["adjudication"], {"category": network["code"]})  # CARIN STU1's way
    stu1 = one(as_category)
    assert isinstance(stu1, ConversionRejected)
    assert stu1.reason.startswith("item[0]: out of network (C4BBPayerAdjudicationStatus outofnetwork)")


def test_negative_amounts_convert_where_the_contract_allows_them() -> None:
    """A credit line on a reversed EOB; an allowed amount above the charge gives a negative CO-45."""
    credit = item_with(
        category("submitted", -150), category("eligible", -100), category("benefit", -80), category("coinsurance", -20)
    )
    reversed_ = one({**credit, "status": "cancelled"})
    assert isinstance(reversed_, ConvertedEob)
    assert reversed_.value()["lines"][0]["adjustments"] == [adj("PR", "2", "-20.00"), adj("CO", "45", "-50.00")]
    above = one(item_with(category("submitted", 100), category("eligible", 110), category("benefit", 110)))
    assert (
        isinstance(above, ConvertedEob) or "must not be negative" in above.reason
    )  # models/contract/events.py decides
    if isinstance(above, ConvertedEob):
        assert above.value()["lines"][0]["adjustments"] == [adj("CO", "45", "-10.00")]


# --- the join key (issue 16 item 4) ---------------------------------------------------------------


def test_the_provider_claim_id_from_claim_identifier_or_the_claim_in_the_file() -> None:
    claim = {
        "resourceType": "Claim",
        "id": "c-1",
        "identifier": [{"system": "https://riverbend.example/claims", "value": "CLM-9"}],
    }
    contained = one({**eob(claim={"reference": "#c-1"}), "contained": [claim]})
    assert isinstance(contained, ConvertedEob)
    assert contained.event.claim_id == "CLM-9"
    elsewhere = one(eob(claim={"reference": "Claim/c-1"}))
    assert isinstance(elsewhere, ConversionRejected)
    assert elsewhere.reason.startswith(
        "claim.reference: names a Claim that is not in the file, and the id in a reference"
    )


def test_a_member_facing_eob_without_the_providers_claim_id_is_refused_and_says_why() -> None:
    payer_only = eob(identifier=[{"type": {"coding": [{"code": "uc"}]}, "value": "PAYER-123"}])
    del payer_only["claim"]
    item = one(payer_only)
    assert isinstance(item, ConversionRejected)
    assert item.reason.startswith("claim: no provider's claim id (claim.identifier, CLP01's equivalent)")
    assert "Member-facing EOBs (CARIN Blue Button, CMS Blue Button 2.0) carry only that" in item.reason


def test_an_institutional_eob_whose_items_carry_no_amounts_is_one_claim_line_from_the_header() -> None:
    header_only = eob(
        item=[
            {
                "sequence": 1,
                "revenue": {"coding": [{"code": "0450"}]},
                "productOrService": {"coding": [{"code": "99284"}]},
            }
        ],
        billablePeriod={"start": "2026-03-01", "end": "2026-03-03"},
        total=[
            category("submitted", 1200),
            category("eligible", 900),
            category("deductible", 100),
            category("benefit", 800),
        ],
    )
    item = one(header_only)
    assert isinstance(item, ConvertedEob)
    [line] = item.value()["lines"]
    assert (line["line_id"], line["service_date"], line["charge"], line["paid"]) == (
        "CLAIM",
        "2026-03-01",
        "1200.00",
        "800.00",
    )
    assert line["adjustments"] == [adj("PR", "1", "100.00"), adj("CO", "45", "300.00")]
    twice = one({**header_only, "adjudication": [category("benefit", 800)]})
    assert isinstance(twice, ConversionRejected)
    assert "2 amounts of category 'benefit': 800 (adjudication[0]), 800 (total[3])" in twice.reason


# --- identity -----------------------------------------------------------------------------------


def test_the_same_file_twice_gives_the_same_event_ids_and_a_changed_resource_a_new_one() -> None:
    data = (DATA / "reversal_correction.ndjson").read_bytes()
    ids = [e.event.event_id for e in converted(convert_fhir(data))]
    assert ids == [e.event.event_id for e in converted(convert_fhir(data))]
    assert len(set(ids)) == 4  # the cancelled version of eob-rc-1 is a new event
    changed = copy.deepcopy(eob())
    changed["item"][0]["adjudication"][3] = category("benefit", 79)
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


# --- the public corpus, given what a provider-facing feed would add (tests/data/corpus/fhir) -------

CORPUS = ROOT / "tests" / "data" / "corpus" / "fhir"
PROVIDERS_CLAIM = {"claim": {"identifier": {"value": "PCN-1"}}}


def corpus_eob(name: str, **changes: Any) -> dict[str, Any]:
    """A corpus EOB as a payer-to-provider feed would send it: the same resource plus `changes`."""
    resource = json.loads((CORPUS / name).read_text())
    return {**resource, **changes}


def test_a_carin_professional_eob_given_the_providers_claim_id_converts_from_its_stated_amounts() -> None:
    item = one(corpus_eob("carin-bb--ExplanationOfBenefit_EOBProfessionalEx1.json", **PROVIDERS_CLAIM))
    assert isinstance(item, ConvertedEob)
    value = item.value()
    assert (value["claim_id"], value["payer_id"], value["payer_claim_number"]) == (
        "PCN-1",
        "PayerOrgEx1",
        "XXXYYYZZZ123456",
    )
    [line] = value["lines"]
    assert (line["charge"], line["paid"], line["allowed"]) == ("96.40", "29.46", "43.46")
    # copay 14.00 and submitted - eligible; the innetwork status coded as a category is not an amount
    assert line["adjustments"] == [adj("PR", "3", "14.00"), adj("CO", "45", "52.94")]


@pytest.mark.parametrize(
    ("name", "changes", "reason"),
    [
        (  # CMS Blue Button's "Line Primary Payer Allowed Charge Amount" coded next to HL7's eligible
            "carin-bb--ExplanationOfBenefit_OutpatientEOBExample1.json",
            PROVIDERS_CLAIM,
            "item[0].adjudication[2].category: 'eligible' is also coded https://bluebutton.cms.gov/resources/"
            "codesystem/adjudication#https://bluebutton.cms.gov/resources/variables/line_prmry_alowd_chrg_amt",
        ),
        (  # the header says submitted 2650 and paid 620, the totals and the items 84.4 and 56.52
            "carin-bb--ExplanationOfBenefit_88897664101-HNXXXZZZWWW546879.json",
            PROVIDERS_CLAIM,
            "total[0]: 2 amounts of category 'submitted': 2650 (adjudication[1]), 84.4 (total[0])",
        ),
        (  # items without amounts: the claim-level line from the totals, whose "allowed" is not an HL7 code
            "carin-bb--connDmdEOBInpatient1.json",
            {**PROVIDERS_CLAIM, "insurer": {"identifier": {"value": "PAYER"}}, "insurance": [{"focal": True}]},
            f"total[1].category.coding[0]: 'allowed' is not a category of {HL7} this converter reads",
        ),
        (  # item 4: noncovered 224.11 with no CARC saying why
            "carin-bb--ExplanationOfBenefit_ProfessionalEOBExample1.json",
            PROVIDERS_CLAIM,
            "item[3].adjudication[5]: noncovered 224.11 needs one CARC as its reason (adjustmentreason); 0 given",
        ),
    ],
)
def test_corpus_eobs_given_a_claim_id_are_refused_where_the_reading_is_unsure(
    name: str, changes: dict[str, Any], reason: str
) -> None:
    item = one(corpus_eob(name, **changes))
    assert isinstance(item, ConversionRejected)
    assert item.reason.startswith(reason)


def test_item_amounts_must_add_up_to_the_eobs_totals() -> None:
    agreeing = one(eob(total=[category("submitted", 150), category("benefit", 80)]))
    assert isinstance(agreeing, ConvertedEob)
    claim_level = one(eob(total=[category("submitted", 150), category("benefit", 95)]))
    assert isinstance(claim_level, ConversionRejected)
    assert claim_level.reason == (
        "total[1]: benefit 95 for the claim, but the items' benefit amounts add up to 80: "
        "a claim-level amount the items do not carry cannot be placed on a line"
    )


def test_a_header_carc_applies_to_every_line() -> None:
    item = one(eob(adjudication=[category("adjustmentreason", system=DISCRIMINATOR, reason=(CARC, "22"))]))
    assert isinstance(item, ConvertedEob)
    assert item.value()["lines"][0]["adjustments"][-1] == adj("OA", "22", "0.00")


def test_an_only_insurance_marked_not_focal_names_no_adjudicated_coverage() -> None:
    item = one(eob(insurance=[{"focal": False, "coverage": {"display": "PPO"}}]))
    assert isinstance(item, ConversionRejected)
    assert item.reason.startswith(
        "insurance[0].focal: is not true: the EOB names no coverage as the one it adjudicates"
    )


def test_credit_lines_convert_on_a_reversed_eob_only() -> None:
    """ProfessionalEOBExample1's items 1-3: 75710 charged 68.80, credited -68.80, charged again."""
    sample = corpus_eob("carin-bb--ExplanationOfBenefit_ProfessionalEOBExample1.json", **PROVIDERS_CLAIM)
    first_three = {**sample, "item": sample["item"][:3], "total": []}
    processed = one(first_three)
    assert isinstance(processed, ConversionRejected)
    assert processed.reason.startswith("item[1]: the contract refuses this EOB: lines[1].charge: must not be negative")
    reversed_ = one({**first_three, "status": "cancelled"})
    assert isinstance(reversed_, ConvertedEob)
    assert [(x["charge"], x["paid"], x["adjustments"]) for x in reversed_.value()["lines"]] == [
        ("68.80", "34.80", [adj("CO", "45", "34.00")]),
        ("-68.80", "-34.80", [adj("CO", "45", "-34.00")]),
        ("68.80", "34.80", [adj("CO", "45", "34.00")]),
    ]
