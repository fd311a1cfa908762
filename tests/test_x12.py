"""X12 835 remittances into EOB events (models.remittance, docs/X12.md): every mapped element, every
claim status code, crossovers, reversals and corrections through the engine, claim-level
adjustments, corrupt segments, wrong delimiters, truncated files, envelope counts and control
numbers, duplicate files, splitting into one-transaction messages, and the `convert` command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from remittance_support import converted, labels, reconciled

from cobstream.bench.remittance_speed import generate_835, measure_x12
from models.cob.claim import EobReceived
from models.cob.processor import Published
from models.remittance import (
    ConversionRejected,
    ConvertedEob,
    Item,
    PaymentNotice,
    ProviderAdjustment,
    TransactionMessage,
    convert_x12,
    split_transactions,
)
from models.remittance.decode import decode_eob

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "x12"
EXAMPLE = ROOT / "examples" / "remittance-2026-03-24.835"
CLI = [sys.executable, "-m", "cobstream.cli"]


def read(name: str) -> str:
    return (DATA / name).read_text()


def rejected(items: list[Item]) -> list[ConversionRejected]:
    return [i for i in items if isinstance(i, ConversionRejected)]


def by_claim(items: list[Item]) -> dict[str, Item]:
    """The last item per claim id (rejections included), for table-driven checks."""
    found: dict[str, Item] = {}
    for item in items:
        claim_id = item.key if isinstance(item, ConvertedEob) else getattr(item, "claim_id", None)
        if claim_id:
            found[claim_id] = item
    return found


ABSENT = "(absent)"


def secondary_of(item: ConvertedEob) -> str | None:
    """The event's `secondary_payer_id` as its JSON says it: a payer, None (null) or ABSENT."""
    value = item.value()
    assert "states_secondary" not in value  # never in the contract's JSON
    return value.get("secondary_payer_id", ABSENT)


def interchange(*claims: str, control: str = "000000999", payer: str = "REF*2U*BCBS-TX~") -> str:
    """A well-formed 835 interchange from BCBS-TX around these claim segments (counts and total computed)."""
    total = sum((Decimal(c.split("*")[4]) for c in claims if c.startswith("CLP*")), Decimal(0))
    body = [
        f"BPR*I*{total}*C*NON************20260324~",
        "TRN*1*TEST0001*1760000000~",
        "DTM*405*20260324~",
        "N1*PR*BLUE CROSS AND BLUE SHIELD OF TEXAS~",
        payer,
        "N1*PE*RIVERBEND FAMILY MEDICINE*XX*1234567893~",
        "LX*1~",
        *claims,
    ]
    return "\n".join(
        [
            "ISA*00*          *00*          *ZZ*BCBSTXSENDER   *ZZ*RIVERBEND01    "
            f"*260324*0700*^*00501*{control}*0*P*:~",
            f"GS*HP*BCBSTXSENDER*RIVERBEND01*20260324*0700*{int(control)}*X*005010X221A1~",
            "ST*835*0001~",
            *body,
            f"SE*{len(body) + 2}*0001~",
            f"GE*1*{int(control)}~",
            f"IEA*1*{control}~",
        ]
    )


def claim(claim_id: str, status: str = "1", *extra: str, charge: str = "150", paid: str = "80") -> list[str]:
    """A one-line claim: 99214 charged 150.00, allowed 100.00, CO-45 50.00, PR-2 20.00, paid 80.00."""
    return [
        f"CLP*{claim_id}*{status}*{charge}*{paid}*20*12*PCN-{claim_id}*11*1~",
        *extra,
        f"SVC*HC:99214*{charge}*{paid}**1~",
        "DTM*472*20260302~",
        "CAS*CO*45*50~",
        "CAS*PR*2*20~",
        "AMT*B6*100~",
    ]


def reconcile(*texts: str) -> list[Published]:
    return reconciled(convert_x12, texts)


# --- every mapped element -------------------------------------------------------------------


def test_every_mapped_element_reaches_the_event() -> None:
    items = convert_x12((DATA / "every_element.835").read_bytes())
    [event] = converted(items)
    value = event.value()
    assert re.fullmatch(r"835:UHCSENDER:000000501:501:0501:1:[0-9a-f]{8}", value.pop("event_id"))
    adj = lambda g, r, a: {"group": g, "reason": r, "amount": a}  # noqa: E731
    assert value == {
        "claim_id": "CLM-E-1",  # CLP01
        "payer_id": "UHC",  # REF*2U in loop 1000A
        "payer_name": "UNITEDHEALTHCARE",  # N1*PR N102
        "payer_claim_number": "UHC-PCN-1",  # CLP07
        "status": "processed",
        "adjudicated_at": "2026-03-25T00:00:00Z",  # DTM*405
        "secondary_payer_id": "MEDIGAP-G",  # NM1*TT NM109
        "lines": [
            {
                "line_id": "E1-1",  # REF*6R
                "procedure_code": "97110",  # SVC01-2, components split on ISA16 '>'
                "service_date": "2026-03-02",  # DTM*472
                "modifiers": ["GP", "59", "XU", "KX"],  # SVC01-3..6
                "remarks": ["N130", "M15", "MA01"],  # LQ*HE, then the claim's MOA remark
                "charge": "250.00",  # SVC02
                "paid": "150.00",  # SVC03
                "allowed": "200.00",  # AMT*B6
                "adjustments": [  # CAS triples, in order
                    adj("CO", "45", "40.00"),
                    adj("CO", "253", "2.50"),
                    adj("CO", "59", "7.50"),
                    adj("PR", "1", "25.00"),
                    adj("PR", "2", "20.00"),
                    adj("PR", "3", "5.00"),
                ],
            },
            {
                "line_id": "2",  # no REF*6R: the line's ordinal in its claim
                "procedure_code": "99214",
                "service_date": "2026-03-01",  # DTM*150 when there is no DTM*472
                "modifiers": [],
                "remarks": ["MA01"],
                "charge": "150.00",
                "paid": "62.50",
                "allowed": None,
                "adjustments": [  # six triples in one CAS segment, then another CAS
                    adj("CO", "45", "10.00"),
                    adj("CO", "59", "10.00"),
                    adj("CO", "97", "10.00"),
                    adj("CO", "B15", "10.00"),
                    adj("CO", "253", "2.50"),
                    adj("CO", "A1", "5.00"),
                    adj("PR", "2", "40.00"),
                ],
            },
        ],
        "source": {
            "format": "x12-835",
            "interchange_control_number": "000000501",
            "group_control_number": "501",
            "transaction_control_number": "0501",
            "segment_position": 18,
            "claim_status_code": "19",
            "trace_number": "EFT0501",
        },
    }
    assert event.topic == "eob.primary"
    [plb] = [i for i in items if isinstance(i, ProviderAdjustment)]
    assert (plb.provider_id, plb.reason_code, plb.reference, str(plb.amount), plb.position) == (
        "1234567893",
        "WO",
        "OVP-77",
        "12.5",
        37,
    )
    assert plb.fiscal_period_date.isoformat() == "2026-12-31"
    assert not [i for i in items if isinstance(i, PaymentNotice)]  # BPR02 200 = 212.50 - 12.50


def test_payer_falls_back_to_n1_pr_and_the_date_to_bpr16() -> None:
    text = interchange(*claim("C-1"), payer="N3*PO BOX 1~").replace(
        "N1*PR*BLUE CROSS AND BLUE SHIELD OF TEXAS~", "N1*PR*ACME HEALTH PLAN*XV*80840~"
    )
    text = text.replace("DTM*405*20260324~\n", "")
    text = re.sub(r"SE\*(\d+)\*", lambda m: f"SE*{int(m.group(1)) - 1}*", text)
    [event] = converted(convert_x12(text))
    assert (event.event.payer_id, event.event.payer_name) == ("80840", "ACME HEALTH PLAN")  # N104
    assert event.value()["adjudicated_at"] == "2026-03-24T00:00:00Z"  # BPR16
    text = text.replace("N1*PR*ACME HEALTH PLAN*XV*80840~", "N1*PR*ACME HEALTH PLAN~")
    assert converted(convert_x12(text))[0].event.payer_id == "ACME HEALTH PLAN"  # N102


# --- CLP02: every claim status code ---------------------------------------------------------


@pytest.mark.parametrize(
    ("claim_id", "expected"),
    [
        ("S-1", ("eob.primary", "processed", ABSENT)),  # no NM1*TT: the 835 says nothing of a secondary
        ("S-19", ("eob.primary", "processed", "AETNA")),
        ("S-19X", "forwarded to another payer, but no crossover carrier (NM1*TT) names it"),
        ("S-2", ("eob.secondary", "processed", None)),
        ("S-20", ("eob.secondary", "processed", None)),
        ("S-3", "processed as tertiary: a third payer is beyond"),
        ("S-21", "tertiary, forwarded: a third payer is beyond"),
        ("S-23", "not our claim, forwarded"),
        ("S-25", "predetermination pricing only"),
        ("S-7", "CLP02 '7' is not a claim status code"),
        ("S-4P", ("eob.primary", "denied", "AETNA")),  # crossover NM1*TT: this payer paid first
        ("S-4R", ("eob.primary", "denied", ABSENT)),  # corrected priority payer NM1*PR
        ("S-4S", ("eob.secondary", "denied", None)),  # OA-23: a prior payer's adjudication
        ("S-4M", ("eob.secondary", "denied", None)),  # RARC MA04
        ("S-4U", "does not say whether 62308 is the primary or the secondary payer"),
        ("S-4B", "points to both roles"),
        ("S-22", ("eob.primary", "processed", ABSENT)),  # the correction (the reversal is checked below)
    ],
)
def test_every_claim_status_code(claim_id: str, expected: tuple[str, str, str | None] | str) -> None:
    item = by_claim(convert_x12(read("status_codes.835")))[claim_id]
    if isinstance(expected, str):
        assert isinstance(item, ConversionRejected)
        assert expected in item.reason
        assert (item.segment_id, item.unit) == ("CLP", "claim")
    else:
        assert isinstance(item, ConvertedEob)
        assert (item.topic, item.event.status, secondary_of(item)) == expected


def test_a_primary_without_crossover_leaves_the_secondary_unstated() -> None:
    """CONTRACT.md: absent `secondary_payer_id` on eob.primary means the sender does not know the
    coverage; an 835 without NM1*TT says nothing of it (CLP02 1 is not "no secondary")."""
    items = by_claim(convert_x12(read("status_codes.835")))
    unstated, crossed = items["S-1"], items["S-19"]
    assert isinstance(unstated, ConvertedEob)
    assert isinstance(crossed, ConvertedEob)
    assert unstated.event.stated_secondary == (False, None)
    assert crossed.event.stated_secondary == (True, "AETNA")
    # What a consumer reads back from the JSON is what the converter meant.
    for item in (unstated, crossed):
        back = decode_eob("primary", orjson.dumps(item.value()))
        assert isinstance(back, EobReceived)
        assert back.eob.stated_secondary == item.event.stated_secondary


def test_a_reversal_takes_the_role_its_payer_holds_in_the_same_file() -> None:
    items = [i for i in converted(convert_x12(read("status_codes.835"))) if i.key == "S-22"]
    assert [(i.topic, i.event.status, str(i.event.lines[0].paid)) for i in items] == [
        ("eob.primary", "reversed", "-80.00"),
        ("eob.primary", "processed", "90.00"),
    ]


def test_known_roles_settle_a_lone_reversal_and_its_absence_is_a_clear_rejection() -> None:
    reversal = [
        "CLP*C-9*22*-150*-80*-20*12*PCN-C-9*11*1~",
        "SVC*HC:99214*-150*-80**-1~",
        "DTM*472*20260302~",
        "CAS*CO*45*-50~",
        "CAS*PR*2*-20~",
    ]
    text = interchange(*reversal)
    [alone] = rejected(convert_x12(text))
    assert alone.claim_id == "C-9"
    assert "Convert it together with the remittance that paid the claim" in alone.reason
    [event] = converted(convert_x12(text, known_roles={("BCBS-TX", "C-9"): "secondary"}))
    assert (event.topic, event.event.status) == ("eob.secondary", "reversed")


def test_the_convert_command_carries_roles_from_earlier_files_to_later_ones(tmp_path: Path) -> None:
    original = tmp_path / "a.835"
    original.write_text(interchange(*claim("C-9", "2"), control="000000001"))
    reversal = tmp_path / "b.835"
    body = ["CLP*C-9*22*-150*-80*-20*12*X*11*1~", "SVC*HC:99214*-150*-80**-1~", "DTM*472*20260302~"]
    reversal.write_text(interchange(*body, "CAS*CO*45*-50~", "CAS*PR*2*-20~", control="000000002"))
    done = subprocess.run([*CLI, "convert", "x12", str(original), str(reversal)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["topic"] for x in done.stdout.splitlines()] == ["eob.secondary", "eob.secondary"]
    alone = subprocess.run([*CLI, "convert", "x12", str(reversal)], capture_output=True, check=False)
    assert alone.returncode == 1


# --- reversal followed by a correction, through the engine ---------------------------------


def test_a_reversal_then_its_correction_reconcile_through_the_engine() -> None:
    before = reconcile(read("rc_1_original.835"), read("rc_2_secondary.835"))
    assert labels(before) == ["secondary.expected", "billing.ready:ready"]
    everything = reconcile(read("rc_1_original.835"), read("rc_2_secondary.835"), read("rc_3_reversal_correction.835"))
    after = everything[len(before) :]
    assert labels(after) == [
        "billing.ready:voided",  # the reversal (its role came from the correction in its file)
        "billing.discrepancy:primary_reversed",
        "secondary.expected",  # the correction: allowed 110.00, paid 88.00
        "billing.discrepancy:secondary_overpaid",  # the secondary's 10.00 is now 8.00 too much
    ]
    overpaid = after[-1].value
    assert (str(overpaid.expected_secondary_paid), str(overpaid.actual_secondary_paid)) == ("2.00", "10.00")


# --- claim-level adjustments and claims without service lines -----------------------------


def test_claim_level_adjustments() -> None:
    items = by_claim(convert_x12(read("claim_level.835")))
    whole = items["CL-1"]
    assert isinstance(whole, ConvertedEob)
    [line] = whole.value()["lines"]
    assert line == {
        "line_id": "CLAIM",
        "procedure_code": "CLAIM",
        "service_date": "2026-03-10",  # DTM*232
        "modifiers": [],
        "remarks": ["MA18"],  # MIA05
        "charge": "8450.00",
        "paid": "5200.00",
        "allowed": None,
        "adjustments": [
            {"group": "CO", "reason": "45", "amount": "2250.00"},
            {"group": "PR", "reason": "1", "amount": "1000.00"},
        ],
    }
    # A claim-level PR-1 on a claim with one service line: all of it on that line (COVERAGE.md section 3).
    apportioned = items["CL-2"]
    assert isinstance(apportioned, ConvertedEob)
    [line] = apportioned.value()["lines"]
    assert (line["charge"], line["paid"]) == ("200.00", "150.00")  # SVC03 170 less the share: CLP04
    assert line["adjustments"] == [
        {"group": "PR", "reason": "2", "amount": "30.00"},
        {"group": "PR", "reason": "1", "amount": "20.00", "apportioned": True},
    ]
    expectations = {
        "CL-3": ("CLP", 27, "needs its statement period (DTM*232)"),
        "CL-4": ("SVC", 32, "service line does not balance: SVC02 charge 100 - adjustments 15 = 85"),
        "CL-5": ("CLP", 35, "claim does not balance: CLP03 charge 100 - adjustments 20 = 80, but CLP04 paid is 70"),
    }
    for claim_id, (segment_id, position, reason) in expectations.items():
        item = items[claim_id]
        assert isinstance(item, ConversionRejected), claim_id
        assert (item.segment_id, item.position, item.role) == (segment_id, position, "primary")
        assert reason in item.reason
        assert item.original.startswith(f"CLP*{claim_id}*")


def lines_of(item: Item) -> list[tuple[str, str, list[tuple[str, str, str, bool]]]]:
    assert isinstance(item, ConvertedEob), item
    return [
        (
            line["line_id"],
            line["paid"],
            [(a["group"], a["reason"], a["amount"], "apportioned" in a) for a in line["adjustments"]],
        )
        for line in item.value()["lines"]
    ]


def test_claim_level_adjustments_are_apportioned_to_the_lines_by_paid_amount() -> None:
    items = by_claim(convert_x12(read("claim_level_apportioned.835")))
    # The guide's managed-care example: CLP 800/450, claim-level CO-A2 50, SVC 800 paid 500, PR-1 300.
    assert lines_of(items["5554555444"]) == [
        ("MC-1", "450.00", [("PR", "1", "300.00", False), ("CO", "A2", "50.00", True)])
    ]
    # 10.00 over three lines paid 100.00 each: 3.33 each and the cent left over to the first (a tie).
    assert lines_of(items["AP-3LINE"]) == [
        ("1", "96.66", [("CO", "45", "10.00", False), ("CO", "A2", "3.34", True)]),
        ("2", "96.67", [("CO", "45", "10.00", False), ("CO", "A2", "3.33", True)]),
        ("3", "96.67", [("CO", "45", "10.00", False), ("CO", "A2", "3.33", True)]),
    ]
    # A negative claim-level amount raises the lines' payments, 60:30.
    assert lines_of(items["AP-NEG"]) == [
        ("1", "64.00", [("CO", "45", "40.00", False), ("CO", "45", "-4.00", True)]),
        ("2", "32.00", [("CO", "45", "20.00", False), ("CO", "45", "-2.00", True)]),
    ]
    clp04 = {"5554555444": "450.00", "AP-3LINE": "290.00", "AP-NEG": "96.00"}
    for claim_id, paid in clp04.items():
        item = items[claim_id]
        assert isinstance(item, ConvertedEob)
        assert item.event.total_paid == Decimal(paid)  # the lines' paid amounts add up to CLP04


def test_lines_that_do_not_add_up_to_clp04_are_refused_with_the_numbers() -> None:
    uneven = by_claim(convert_x12(read("claim_level_apportioned.835")))["AP-UNEVEN"]
    assert isinstance(uneven, ConversionRejected)
    assert (uneven.segment_id, uneven.position) == ("CLP", 42)
    assert uneven.reason == (
        "the service lines do not add up to the claim: their paid amounts (SVC03) after the claim-level adjustments "
        "(CAS in loop 2100) add up to 50.00, not CLP04 100, and their charges (SVC02) to 150, against CLP03 200: a "
        "line is missing from the claim's totals or added to them; ask the payer for a corrected remittance"
    )


def test_the_guides_cob_example_with_a_negative_adjustment_converts_and_reconciles() -> None:
    """CLP02 2, SVC 541.00 paid 34.00, OA-23 516.00 and OA-94 -9.00, AMT*B6 550.00 (issue 16 item 1)."""
    cob = by_claim(convert_x12(read("claim_level_apportioned.835")))["CLM-GUIDE-COB"]
    assert isinstance(cob, ConvertedEob)
    assert cob.topic == "eob.secondary"
    assert lines_of(cob) == [("1", "34.00", [("OA", "23", "516.00", False), ("OA", "94", "-9.00", False)])]
    assert cob.value()["lines"][0]["allowed"] == "550.00"


# --- corrupt segments, wrong delimiters, truncated files -----------------------------------


def test_a_corrupt_segment_rejects_its_claim_and_the_others_convert() -> None:
    items = convert_x12(read("corrupt_segment.835"))
    assert [e.key for e in converted(items)] == ["CX-1", "CX-4"]
    garbled, bad_amount = rejected(items)
    assert (garbled.claim_id, garbled.segment_id, garbled.position, garbled.where) == ("CX-2", None, 21, "segment 21")
    assert garbled.topic == "eob.primary"  # CLP02 1 says so, even though the claim cannot be read
    assert "is not an X12 segment: it begins 'C#S*PR*2*20'" in garbled.reason
    assert "C#S*PR*2*20~" in garbled.original
    assert (bad_amount.claim_id, bad_amount.where) == ("CX-3", "CAS segment 25")
    assert bad_amount.reason == "CAS03 (adjustment amount) '2O' is not a decimal amount"
    assert bad_amount.rejected().error == "CAS segment 25: CAS03 (adjustment amount) '2O' is not a decimal amount"


def test_a_segment_that_does_not_belong_in_a_claim_rejects_it() -> None:
    items = convert_x12(interchange(*claim("C-1"), *claim("C-2"), "N1*PE*SOMEONE~", *claim("C-3")))
    assert [e.key for e in converted(items)] == ["C-1", "C-3"]
    [bad] = rejected(items)
    assert (bad.claim_id, bad.where) == ("C-2", "N1 segment 23")
    assert "N1 is not a segment of a service payment (loop 2110)" in bad.reason


def test_a_fault_in_the_header_rejects_its_transaction() -> None:
    text = interchange(*claim("C-1")).replace("N1*PR*BLUE CROSS AND BLUE SHIELD OF TEXAS~", "N1*XX*NOBODY~")
    [bad] = convert_x12(text)
    assert isinstance(bad, ConversionRejected)
    assert (bad.unit, bad.where) == ("transaction", "ST segment 3")
    assert "no payer identification (loop 1000A, N1*PR)" in bad.reason


def test_wrong_delimiters_reject_the_interchange_with_the_reason() -> None:
    [bad] = convert_x12(read("wrong_delimiters.835"))
    assert isinstance(bad, ConversionRejected)
    assert (bad.unit, bad.position) == ("interchange", 2)
    assert "runs across a line break" in bad.reason
    assert "does not use the delimiters its ISA declares (element '*', segment terminator '~')" in bad.reason
    text = EXAMPLE.read_text()
    [bad] = convert_x12(text[:106] + text[106:].replace("*", "|"))
    assert "it begins 'GS|HP|AVAILI'" in bad.reason


@pytest.mark.parametrize(
    ("isa", "reason"),
    [
        ("ISA*00*    *00*", "must be exactly 106 characters"),
        (
            "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
            "*260324*0700*^*00501*000000001*0*P*~~",
            "clash",
        ),
    ],
)
def test_an_unreadable_isa_rejects_the_interchange(isa: str, reason: str) -> None:
    [bad] = convert_x12(isa + "\nGS*HP*A*B*20260324*0700*1*X*005010X221A1~\n")
    assert isinstance(bad, ConversionRejected)
    assert (bad.unit, bad.where) == ("interchange", "ISA segment 1")
    assert reason in bad.reason


def test_a_truncated_file_is_one_clear_rejection() -> None:
    [bad] = convert_x12(read("truncated.835"))
    assert isinstance(bad, ConversionRejected)
    assert bad.unit == "interchange"
    assert bad.reason == (
        "the file ends at segment 25 inside transaction 0901 (ST segment 3), before its SE, GE and IEA: "
        "the interchange is truncated; its last segment is cut off"
    )
    whole = EXAMPLE.read_text()
    [bad] = convert_x12(whole[: whole.index("IEA*")])
    assert isinstance(bad, ConversionRejected)
    assert "before the IEA (interchange trailer): the interchange is truncated" in bad.reason
    [bad] = convert_x12(whole[: whole.index("CLP*CLM-2026-0103*2*")])  # in the second transaction
    assert isinstance(bad, ConversionRejected)
    assert "inside transaction 0002" in bad.reason  # and nothing of the first transaction converts


# --- envelope counts and control numbers ---------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "unit", "where", "reason"),
    [
        ("IEA*1*000004127", "IEA*2*000004127", "interchange", "IEA segment 160", "IEA01 says '2' functional groups"),
        ("IEA*1*000004127", "IEA*1*000004128", "interchange", "IEA segment 160", "does not match the ISA13"),
        ("GE*2*4127", "GE*3*4127", "group", "GE segment 159", "GE01 says '3' transaction sets, the group has 2"),
        ("GE*2*4127", "GE*2*4128", "group", "GE segment 159", "GE02 '4128' does not match the GS06"),
        ("*00501*000004127*", "*00401*000004127*", "interchange", "ISA segment 1", "only 5010 835s"),
        ("*X*005010X221A1~", "*X*004010X091A1~", "group", "GS segment 2", "GS08 version '004010X091A1'"),
        ("GS*HP*", "GS*HC*", "group", "GS segment 2", "GS01 'HC' is not HP"),
    ],
)
def test_an_envelope_fault_rejects_its_interchange_or_group(
    old: str, new: str, unit: str, where: str, reason: str
) -> None:
    text = EXAMPLE.read_text()
    assert old in text
    [bad] = convert_x12(text.replace(old, new, 1))
    assert isinstance(bad, ConversionRejected)
    assert (bad.unit, bad.where) == (unit, where)
    assert reason in bad.reason
    assert [type(x) for x in split_transactions(text.replace(old, new, 1))] == [ConversionRejected]


@pytest.mark.parametrize(
    ("old", "new", "where", "reason"),
    [
        ("SE*45*0002", "SE*44*0002", "SE segment 158", "SE01 says '44' segments, the transaction has 45"),
        ("SE*45*0002", "SE*45*0003", "SE segment 158", "SE02 '0003' does not match the ST02 control number '0002'"),
        ("ST*835*0002", "ST*837*0002", "ST segment 114", "ST01 '837' is not 835"),
    ],
)
def test_a_transaction_fault_rejects_that_transaction_only(old: str, new: str, where: str, reason: str) -> None:
    items = convert_x12(EXAMPLE.read_text().replace(old, new))
    [bad] = rejected(items)
    assert (bad.unit, bad.where) == ("transaction", where)
    assert reason in bad.reason
    assert {e.event.payer_id for e in converted(items)} == {"BCBS-TX"}  # transaction 0001 still converts
    assert len(converted(items)) == 8


def test_a_transaction_without_its_se_is_rejected() -> None:
    text = EXAMPLE.read_text().replace("SE*111*0001~\n", "")
    items = convert_x12(text)
    [bad] = rejected(items)
    assert (bad.unit, bad.where) == ("transaction", "ST segment 3")
    assert "transaction 0001 has no SE" in bad.reason
    assert len(converted(items)) == 3  # the AETNA transaction


# --- the same file twice, control numbers reused -------------------------------------------


def test_a_file_converted_twice_gives_the_same_event_ids_and_replays_as_duplicates() -> None:
    data = EXAMPLE.read_bytes()
    first, second = converted(convert_x12(data)), converted(convert_x12(data))
    assert [e.event.event_id for e in first] == [e.event.event_id for e in second]
    assert len({e.event.event_id for e in first}) == len(first) == 11
    once = reconcile(data.decode())
    twice = reconcile(data.decode(), data.decode())
    assert labels(twice) == labels(once)  # the second delivery is recognised and changes nothing


def test_a_control_number_reused_for_other_content_gives_new_ids() -> None:
    text = EXAMPLE.read_text()
    original = [e.event.event_id for e in converted(convert_x12(text))]
    changed = [e.event.event_id for e in converted(convert_x12(text.replace("*26083000102*", "*26083000999*")))]
    assert [a == b for a, b in zip(original, changed, strict=True)] == [True, False, *[True] * 9]


# --- splitting into one-transaction messages, bare transactions, several interchanges ------


def test_split_transactions_gives_standalone_messages_with_the_same_events() -> None:
    data = EXAMPLE.read_bytes()
    messages = split_transactions(data)
    assert all(isinstance(m, TransactionMessage) for m in messages)
    assert [(m.transaction_control_number, m.st_position) for m in messages] == [("0001", 3), ("0002", 114)]
    for message in messages:
        text = message.data.decode()
        assert text.startswith("ISA*00*")
        assert text.rstrip().endswith("IEA*1*000004127~")
        assert "GE*1*4127~" in text
    whole = [e.replay_line() for e in converted(convert_x12(data))]
    parts = [e.replay_line() for m in messages for e in converted(convert_x12(m.data))]
    for line in whole + parts:
        line["value"]["source"].pop("segment_position")
    assert parts == whole


def test_a_bare_transaction_converts_with_trace_number_ids() -> None:
    text = interchange(*claim("C-1"))
    bare = text[text.index("ST*835") : text.index("GE*")]
    [event] = converted(convert_x12(bare))
    assert re.fullmatch(r"835:TRN:1760000000:TEST0001:0001:1:[0-9a-f]{8}", event.event.event_id)
    assert event.value()["lines"][0]["procedure_code"] == "99214"


def bare(text: str) -> str:
    return text[text.index("ST*835") : text.index("GE*")]


def test_bare_transactions_one_after_the_other_convert_each_on_its_own() -> None:
    """A file of ST..SE transactions without an envelope: each is checked and converted by itself,
    and the role of a denial in one comes from a payment in another."""
    first = bare(interchange(*claim("C-1")))
    denial = ["CLP*C-1*4*150*0**12*PCN-C-1D*11*1~", "SVC*HC:99214*150*0**1~", "DTM*472*20260302~", "CAS*CO*96*150~"]
    second = bare(interchange(*claim("C-2"), *denial)).replace("TEST0001", "TEST0002")
    broken = bare(interchange(*claim("C-3"))).replace("SE*", "SE*9")  # SE01 no longer counts its segments
    items = convert_x12(first + second + broken)
    assert [(e.key, e.topic, e.event.status) for e in converted(items)] == [
        ("C-1", "eob.primary", "processed"),
        ("C-2", "eob.primary", "processed"),
        ("C-1", "eob.primary", "denied"),  # the role of C-1's payment in the first transaction
    ]
    [wrong_count] = rejected(items)
    assert wrong_count.unit == "transaction"
    assert "SE01 says '9" in wrong_count.reason


def test_segments_between_bare_transactions_are_rejected_and_the_transactions_still_convert() -> None:
    one = bare(interchange(*claim("C-1")))
    two = bare(interchange(*claim("C-2"))).replace("TEST0001", "TEST0002")
    items = convert_x12(one + "REF*EV*STRAY~\nNTE*ADD*LOST~\n" + two)
    assert [e.key for e in converted(items)] == ["C-1", "C-2"]
    [stray] = rejected(items)
    assert (stray.unit, stray.segment_id, stray.reason) == (
        "file",
        "REF",
        "2 segment(s) after an SE and before any ST belong to no transaction",
    )


def test_several_interchanges_in_one_file_and_trailing_garbage() -> None:
    text = interchange(*claim("C-1"), control="000000001") + "\n" + interchange(*claim("C-2"), control="000000002")
    assert [e.key for e in converted(convert_x12(text))] == ["C-1", "C-2"]
    *_, garbage = convert_x12(text + "\nHELLO")
    assert isinstance(garbage, ConversionRejected)
    assert "instead of another ISA" in garbage.reason


# --- provider adjustments, payment totals, money, the contract ----------------------------


def test_provider_adjustments_are_reported_not_dropped_and_a_bad_one_is_rejected() -> None:
    items = convert_x12(EXAMPLE.read_bytes())
    adjustments = [i for i in items if isinstance(i, ProviderAdjustment)]
    assert [(a.reason_code, a.reference, str(a.amount), a.payer_id) for a in adjustments] == [
        ("L6", "INTEREST", "-1.25", "BCBS-TX"),
        ("WO", "26010000777", "35", "BCBS-TX"),
    ]
    assert adjustments[1].describe() == (
        "provider adjustment WO 26010000777: 35.00 withheld from provider 1234567893 by BCBS-TX (not a claim event)"
    )
    broken = EXAMPLE.read_text().replace("WO:26010000777*35~", "WO:26010000777*3x5~")
    [bad] = rejected(convert_x12(broken))
    assert (bad.unit, bad.where) == ("provider adjustment", "PLB segment 112")


def test_a_payment_that_does_not_add_up_is_a_notice_and_its_claims_still_convert() -> None:
    items = convert_x12(EXAMPLE.read_text().replace("BPR*I*5526.35*", "BPR*I*5500*"))
    [notice] = [i for i in items if isinstance(i, PaymentNotice)]
    assert notice.where == "BPR segment 4"
    assert "BPR02 total payment 5500.00 is not the claim payments 5560.10 less the provider adjustments 33.75" in (
        notice.message
    )
    assert len(converted(items)) == 11


def test_money_is_read_exactly() -> None:
    lines = [
        "CLP*C-1*1*100.1*80.1*20*12*P*11*1~",
        "SVC*HC:99213*100.1*80.1**1~",
        "DTM*472*20260302~",
        "CAS*PR*2*20~",
        "CAS*CO*45*.00~",
        "CLP*C-2*1*100.005*80.005*20*12*P*11*1~",
        "SVC*HC:99213*100.005*80.005**1~",
        "DTM*472*20260302~",
        "CAS*PR*2*20~",
    ]
    first, second = convert_x12(interchange(*lines))
    assert isinstance(first, ConvertedEob)
    line = first.value()["lines"][0]
    assert (line["charge"], line["paid"], line["adjustments"][1]["amount"]) == ("100.10", "80.10", "0.00")
    assert isinstance(second, ConversionRejected)
    assert second.where == "SVC segment 17"
    assert "has more than two decimals of value" in second.reason


def test_what_the_contract_refuses_is_a_rejection_naming_the_segment() -> None:
    twice = ["REF*6R*SAME~"]
    items = convert_x12(
        interchange("CLP*C-1*1*300*160*40*12*P*11*1~", *claim("x")[1:], *twice, *claim("x")[1:], *twice)
    )
    [bad] = items
    assert isinstance(bad, ConversionRejected)
    assert bad.where == "SVC segment 18"
    assert "lines[1].line_id: 'SAME' appears twice in this EOB" in bad.reason


def test_the_events_carry_no_patient_names_or_member_ids() -> None:
    text = "\n".join(orjson.dumps(e.replay_line()).decode() for e in converted(convert_x12(EXAMPLE.read_bytes())))
    for private in ("SAMPLE", "PATIENT", "XJB000000101", "W000000101", "LANE", "MORGAN"):
        assert private not in text


# --- the example remittance ------------------------------------------------------------------


def test_the_example_remittance_reconciles() -> None:
    outcomes = reconcile(EXAMPLE.read_text())
    final: dict[str, Any] = {}
    for e in outcomes:
        final[e.key] = e.value
    assert {k: getattr(v, "kind", None) or getattr(v, "status", None) or "expected" for k, v in final.items()} == {
        "CLM-2026-0101": "ready",
        # Paid as primary without a crossover (NM1*TT): the 835 does not say whether there is a
        # secondary, and the remittance alone brings no submission (COVERAGE.md section 1).
        "CLM-2026-0102": "coverage_unknown",
        "CLM-2026-0103": "secondary_underpaid",
        "CLM-2026-0104": "cob_order_dispute",
        "CLM-2026-0105": "expected",  # reversal (nothing to withdraw), then the correction
        "CLM-2026-0106": "coverage_unknown",
        "CLM-2026-0108": "missing_primary_eob_denial",
    }
    ready = final["CLM-2026-0101"]
    assert (str(ready.secondary_paid), str(ready.patient_responsibility), str(ready.write_off)) == (
        "10.00",
        "0.00",
        "60.00",
    )


@pytest.mark.parametrize(
    "path",
    [
        EXAMPLE,
        *(
            DATA / name
            for name in (
                "every_element.835",
                "claim_level.835",
                "claim_level_apportioned.835",
                "rc_1_original.835",
                "rc_2_secondary.835",
                "rc_3_reversal_correction.835",
            )
        ),
    ],
    ids=lambda p: p.name,
)
def test_the_example_and_fixtures_are_valid_to_an_independent_835_validator(path: Path) -> None:
    """pyx12 checks every segment against the 005010X221A1 guide (not the balancing, which we do)."""
    x12n_document = pytest.importorskip("pyx12.x12n_document")
    params = pytest.importorskip("pyx12.params")
    assert x12n_document.x12n_document(
        param=params.params(),
        src_file=str(path),
        fd_997=None,
        fd_html=None,
        fd_xmldoc=None,
        xslt_files=None,
        map_path=None,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 5000), st.integers(0, 3), st.sampled_from("*~:^|\n0123456789-.ACGIS \x00é")),
        min_size=1,
        max_size=6,
    )
)
def test_damaged_remittances_never_crash_the_converter(edits: list[tuple[int, int, str]]) -> None:
    """Whatever the damage, every item is an event, a rejection or a report; nothing raises."""
    text = EXAMPLE.read_text()
    for offset, removed, inserted in edits:
        at = offset % len(text)
        text = text[:at] + inserted + text[at + removed :]
    items = convert_x12(text)
    assert items
    assert all(isinstance(i, ConvertedEob | ConversionRejected | ProviderAdjustment | PaymentNotice) for i in items)
    split_transactions(text)


# --- the command -----------------------------------------------------------------------------


def test_convert_piped_into_replay_reconciles_the_remittance() -> None:
    convert = subprocess.run([*CLI, "convert", "x12", str(EXAMPLE)], capture_output=True, check=False)
    assert convert.returncode == 0
    assert convert.stderr.decode().splitlines()[-1] == (
        "converted 11 EOB events from 1 file(s); 0 rejected, 2 reported (not claim events)"
    )
    replay = subprocess.run([*CLI, "replay", "-"], input=convert.stdout, capture_output=True, check=False)
    events = [json.loads(x) for x in replay.stdout.splitlines()]
    # CLM-2026-0101 only: 0102 and 0106 were paid without a crossover and wait for their coverage
    assert [e["topic"] for e in events].count("billing.ready") == 1
    assert [e["key"] for e in events if e["value"].get("kind") == "coverage_unknown"] == [
        "CLM-2026-0102",
        "CLM-2026-0106",
    ]
    assert not [e for e in events if e["topic"] == "eob.dead-letter"]


def test_convert_reports_rejections_and_writes_them_as_dead_letters(tmp_path: Path) -> None:
    letters = tmp_path / "dead.jsonl"
    source = DATA / "corrupt_segment.835"
    done = subprocess.run(
        [*CLI, "convert", "x12", "--dead-letters", str(letters), str(source)], capture_output=True, check=False
    )
    assert done.returncode == 1
    assert [json.loads(x)["key"] for x in done.stdout.splitlines()] == ["CX-1", "CX-4"]
    err = done.stderr.decode().splitlines()
    reason = "CAS segment 25: CAS03 (adjustment amount) '2O' is not a decimal amount"
    assert f"{source}: rejected claim CX-3 (eob.primary): {reason}" in err
    [_, dead] = [json.loads(x) for x in letters.read_text().splitlines()]
    assert dead["topic"] == "eob.dead-letter"
    assert dead["value"]["error"] == f"{source}: CAS segment 25: CAS03 (adjustment amount) '2O' is not a decimal amount"
    assert (dead["value"]["claim_id"], dead["value"]["source_topic"], dead["value"]["offset"]) == (
        "CX-3",
        "eob.primary",
        25,
    )
    assert dead["value"]["raw"].startswith("CLP*CX-3*1*100*80*20*12*A3*11*1~")


def test_convert_exit_status_2_on_unusable_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a remittance")
    missing = subprocess.run([*CLI, "convert", "x12", str(tmp_path / "nope.835")], capture_output=True, check=False)
    assert missing.returncode == 2
    other = subprocess.run(
        [*CLI, "convert", "x12", str(tmp_path / "notes.txt"), str(EXAMPLE)], capture_output=True, check=False
    )
    assert other.returncode == 2
    assert len(other.stdout.splitlines()) == 11  # the usable file is still converted
    assert "not an X12 835 or 837: the data begins 'not a remitt'" in other.stderr.decode()
    (tmp_path / "tail.835").write_text(EXAMPLE.read_text() + "\nTRAILING NOTES")
    tail = subprocess.run([*CLI, "convert", "x12", str(tmp_path / "tail.835")], capture_output=True, check=False)
    assert tail.returncode == 1  # the interchange converts; the text after its IEA is rejected
    assert len(tail.stdout.splitlines()) == 11
    assert "instead of another ISA" in tail.stderr.decode()


# --- speed -------------------------------------------------------------------------------------


def test_the_speed_measurement_converts_every_generated_claim() -> None:
    assert len(converted(convert_x12(generate_835(30, lines_per_claim=3)))) == 30
    result = measure_x12(40, repeats=1)
    assert (result["claims"], result["converted"]) == (40, 40)
    assert result["claims_per_second"] > 0
