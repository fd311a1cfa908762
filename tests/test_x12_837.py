"""X12 837P and 837I claims into `ClaimSubmission` events (models.remittance.x12_837, docs/X12.md
"837P/837I: claims as submitted"): the fixtures against an independent validator, the coverage from
the SBR loops (two payers, three, a patient loop, the 837 sent to the secondary), frequencies,
837I revenue codes, line ids and dates, every refusal with its exact reason, envelopes and bare
transactions, event ids, the `convert` command with an 835 denial whose role the 837 settles, the
producer's split, and the speed measurement."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cobstream.bench.remittance_speed import generate_837, measure_837
from cobstream.commands.produce import X12_SUFFIXES
from cobstream.shared.kafka_io import remittance_lines
from models.cob.claim import SubmissionReceived
from models.contract.topics import REMITTANCE_X12, SUBMITTED
from models.remittance import (
    ConversionRejected,
    ConvertedEob,
    ConvertedSubmission,
    Item,
    PaymentNotice,
    ProviderAdjustment,
    TransactionMessage,
    convert_x12,
    split_transactions,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "x12_837"
CLI = [sys.executable, "-m", "cobstream.cli"]
FIXTURES = sorted(DATA.glob("*.837"))
TWO_PAYERS = DATA / "837p_two_payers.837"
DENIAL = DATA / "aetna_denial.835"


def read(name: str) -> str:
    return (DATA / name).read_text()


def submissions(items: list[Item]) -> dict[str, ConvertedSubmission]:
    return {i.key: i for i in items if isinstance(i, ConvertedSubmission)}


def rejections(items: list[Item]) -> dict[str | None, ConversionRejected]:
    return {i.claim_id: i for i in items if isinstance(i, ConversionRejected)}


def recount(text: str) -> str:
    """SE01 recomputed after a test removed or added segments (one segment a line)."""
    lines, out, st_at = text.splitlines(), [], 0
    for line in lines:
        if line.startswith("ST*"):
            st_at = len(out)
        out.append(re.sub(r"^SE\*\d+\*", f"SE*{len(out) - st_at + 1}*", line) if line.startswith("SE*") else line)
    return "\n".join(out) + "\n"


def bare(text: str) -> str:
    """The transactions of an interchange without their envelope (ISA, GS, GE, IEA)."""
    return "".join(f"{line}\n" for line in text.splitlines() if line[:3] not in ("ISA", "GS*", "GE*", "IEA"))


def coverage(item: ConvertedSubmission) -> list[tuple[str, str]]:
    return [(entry.payer_id, entry.role) for entry in item.submission.coverage]


# --- the fixtures are valid 837s ------------------------------------------------------------------


@pytest.mark.parametrize("path", [*FIXTURES, DENIAL], ids=lambda p: p.name)
def test_the_fixtures_are_valid_to_an_independent_validator(path: Path) -> None:
    """pyx12 checks every segment against 005010X222A1 / 005010X223A2 (005010X221A1 for the 835):
    the refusals below are the system's own rules (two payers, three frequencies, the total), not
    faults of the 837."""
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


def test_the_bench_837_is_valid_to_the_validator(tmp_path: Path) -> None:
    x12n_document = pytest.importorskip("pyx12.x12n_document")
    params = pytest.importorskip("pyx12.params")
    (tmp_path / "bench.837").write_bytes(generate_837(3))
    assert x12n_document.x12n_document(params.params(), str(tmp_path / "bench.837"), None, None, None)


# --- the mapping ----------------------------------------------------------------------------------


def test_a_two_payer_837p_claim_becomes_its_submission() -> None:
    found = submissions(convert_x12(TWO_PAYERS.read_bytes()))
    assert list(found) == ["CLM-2026-0101", "CLM-2026-0102", "CLM-2026-0110"]  # file order
    item = found["CLM-2026-0101"]
    assert (item.topic, item.key) == ("claims.submitted", "CLM-2026-0101")
    assert item.value() == {
        "event_id": "837:RIVERBEND01:000000101:101:0001:1:CLM-2026-0101:277e0ae8",
        "claim_id": "CLM-2026-0101",
        "submitted_at": "2026-03-20T10:15:30Z",  # BHT04 + BHT05 (HHMMSS), read as UTC
        "frequency": "original",
        "coverage": [{"payer_id": "BCBS-TX", "role": "primary"}, {"payer_id": "AETNA", "role": "secondary"}],
        "lines": [
            {
                "line_id": "0101-1",
                "procedure_code": "99214",
                "modifiers": [],
                "service_date": "2026-03-02",
                "charge": "150.00",
            }
        ],
        "source": {
            "format": "x12-837P",
            "interchange_control_number": "000000101",
            "group_control_number": "101",
            "transaction_control_number": "0001",
            "segment_position": 20,
            "claim_frequency_code": "1",
            "batch_reference": "RB20260320A",
        },
    }
    assert item.replay_line() == {"topic": "claims.submitted", "key": "CLM-2026-0101", "value": item.value()}
    assert item.received() == SubmissionReceived(item.submission)
    assert item.roles() == {("BCBS-TX", "CLM-2026-0101"): "primary", ("AETNA", "CLM-2026-0101"): "secondary"}
    # The claim without a 2320 loop lists its one payer.
    assert coverage(found["CLM-2026-0102"]) == [("BCBS-TX", "primary")]


def test_line_ids_come_from_ref_6r_else_the_lx_number_and_dates_from_dtp_472() -> None:
    found = submissions(convert_x12(TWO_PAYERS.read_bytes()))
    with_ref, without = found["CLM-2026-0102"].submission, found["CLM-2026-0110"].submission
    assert with_ref.line_ids == ["0102-1", "0102-2"]
    assert without.line_ids == ["1", "2"]  # LX01, as the 835 reader numbers lines without REF*6R
    assert [(line.procedure_code, line.modifiers) for line in without.lines] == [("99213", ("25",)), ("93000", ())]
    # DTP*472 RD8 20260304-20260305: the period's start; D8: the date.
    assert [line.service_date for line in without.lines] == [date(2026, 3, 4), date(2026, 3, 4)]
    assert [line.charge for line in without.lines] == [Decimal("110.00"), Decimal("45.00")]


def test_a_three_payer_claim_keeps_its_tertiary() -> None:
    [item] = convert_x12(read("837p_tertiary.837"))
    assert isinstance(item, ConvertedSubmission)
    assert coverage(item) == [("BCBS-TX", "primary"), ("AETNA", "secondary"), ("CIGNA", "tertiary")]
    assert [line.modifiers for line in item.submission.lines] == [("GP", "59"), ("GP",)]
    assert item.roles() == {("BCBS-TX", "CLM-2026-0201"): "primary", ("AETNA", "CLM-2026-0201"): "secondary"}


def test_a_patient_loop_and_an_837_sent_to_the_secondary() -> None:
    """HL 3 (2000C, patient) under HL 2 (2000B, subscriber): the claim takes its subscriber's SBR
    (S: this 837 goes to AETNA as secondary) and its 2320 names the primary."""
    [item] = convert_x12(read("837p_patient_loop.837"))
    assert isinstance(item, ConvertedSubmission)
    assert coverage(item) == [("BCBS-TX", "primary"), ("AETNA", "secondary")]  # in COB order
    assert item.submission.submitted_at == datetime(2026, 3, 22, 14, 0, tzinfo=UTC)  # BHT05 HHMM


def test_a_replacement_and_a_void() -> None:
    found = submissions(convert_x12(read("837p_replacement_void.837")))
    replacement, void = found["CLM-2026-0101"], found["CLM-2026-0102"]
    assert (replacement.submission.frequency, void.submission.frequency) == ("replacement", "void")
    assert coverage(replacement) == [("BCBS-TX", "primary"), ("UHC", "secondary")]  # the new secondary
    assert (replacement.source["claim_frequency_code"], void.source["claim_frequency_code"]) == ("7", "8")


def test_an_837i_with_revenue_codes() -> None:
    [item] = convert_x12(read("837i_revenue_codes.837"))
    assert isinstance(item, ConvertedSubmission)
    submission = item.submission
    assert item.source["format"] == "x12-837I"
    assert submission.submitted_at == datetime(2026, 3, 27, 22, 15, 7, tzinfo=UTC)
    assert coverage(item) == [("BCBS-TX", "primary"), ("AETNA", "secondary")]
    lines = [
        (line.line_id, line.procedure_code, line.modifiers, line.service_date, line.charge) for line in submission.lines
    ]
    assert lines == [
        ("0601-1", "99284", ("25",), date(2026, 3, 6), Decimal("850.00")),  # SV202 HC:99284:25
        ("0601-2", "80053", (), date(2026, 3, 6), Decimal("145.50")),
        # No SV202: the revenue code (SV201) is the code; no DTP*472: the statement period's start (DTP*434).
        ("3", "0250", (), date(2026, 3, 6), Decimal("30.00")),
    ]


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim_id", "where", "reason"),
    [
        (
            "R-FOURTH",
            "SBR segment 26",
            "SBR01 A (payer responsibility four) in loop 2320: the system reconciles two payers (primary and "
            "secondary) and keeps a tertiary; a claim with a payer beyond those is not taken: bill and post it by hand",
        ),
        (
            "R-CORRECTED",
            "CLM segment 33",
            "CLM05-3 6, corrected claim: whether it replaces the claim billed earlier or adjusts part of it is not "
            "said; a replacement is 7, a void 8; only 1 (original), 7 (replacement of prior claim) and 8 "
            "(void/cancel of prior claim) are taken",
        ),
        (
            "R-TOTAL",
            "CLM segment 39",
            "CLM02 total claim charge 200.00 is not the sum of the service lines' charges 175.00: a line is missing "
            "from the claim or its total is wrong",
        ),
    ],
)
def test_a_refused_claim_says_why_and_the_rest_converts(claim_id: str, where: str, reason: str) -> None:
    items = convert_x12(read("837p_refused.837"))
    refused = rejections(items)[claim_id]
    assert (refused.unit, refused.where, refused.reason) == ("claim", where, reason)
    assert refused.topic == SUBMITTED  # its dead letter's source topic
    assert refused.original.startswith("HL*2*1*22*0~\nSBR*P*18*")  # the subscriber loop with the claim
    assert f"CLM*{claim_id}*" in refused.original
    assert list(submissions(items)) == ["R-FINE"]


TWO_PAYER_TEXT = TWO_PAYERS.read_text()
BCBS = "NM1*PR*2*BLUE CROSS AND BLUE SHIELD OF TEXAS*****PI*BCBS-TX~\n"
AETNA = "NM1*PR*2*AETNA LIFE INSURANCE COMPANY*****PI*AETNA~\n"


@pytest.mark.parametrize(
    ("old", "new", "where", "reason", "claims"),
    [
        (
            BCBS,
            "",
            "SBR segment 14",
            "the subscriber loop (2000B) has no NM1*PR (loop 2010BB, payer name): the payer this claim is billed "
            "to is unknown",
            3,  # every claim of the subscriber
        ),
        (
            AETNA,
            "",
            "SBR segment 24",
            "the other subscriber loop (2320) has no NM1*PR (loop 2330B, other payer name): the payer it names a "
            "place in the COB order for is unknown",
            1,
        ),
        ("PI*AETNA~", "PI~", "NM1 segment 27", "NM109 (payer identifier) of NM1*PR in loop 2330B is required", 1),
        (
            "SBR*S*01*GRP77001",
            "SBR*U*01*GRP77001",
            "SBR segment 24",
            "SBR01 U (unknown) in loop 2320: the payer's place in the COB order is unknown; the system reconciles "
            "two payers (primary and secondary) and keeps a tertiary; a claim with a payer beyond those is not "
            "taken: bill and post it by hand",
            1,
        ),
        (
            "SBR*S*01*GRP77001",
            "SBR*X*01*GRP77001",
            "SBR segment 24",
            "SBR01 'X' in loop 2320 is not a payer responsibility sequence number code (P, S, T, A-H, U)",
            1,
        ),
        (
            "SBR*S*01*GRP77001",
            "SBR*P*01*GRP77001",
            "CLM segment 20",
            "the contract refuses this claim: coverage: names 2 primary payers; exactly one is required",
            1,
        ),
        (
            "PI*AETNA~",
            "PI*BCBS-TX~",
            "CLM segment 20",
            "the contract refuses this claim: coverage: names one payer in two roles",
            1,
        ),
        (
            "11:B:1*Y*A*Y*Y~",
            "11:B:5*Y*A*Y*Y~",
            "CLM segment 20",
            "CLM05-3 5, late charge(s) only: lines added to a claim billed earlier, while a submission replaces the "
            "claim's lines; only 1 (original), 7 (replacement of prior claim) and 8 (void/cancel of prior claim) "
            "are taken",
            1,
        ),
        (
            "SV1*HC:99214*150*UN*1***1~",
            "SV2*0450*HC:99214*150*UN*1~",
            "SV2 segment 29",
            "SV2 is not a segment of a claim in an 837P (005010X222A1)",
            1,
        ),
        (
            "DTP*472*D8*20260302~",
            "DTP*472*D8*20260230~",
            "DTP segment 30",
            "DTP03 (service date) '20260230' is not a calendar date",
            1,
        ),
        (
            "DTP*472*D8*20260302~\n",
            "",
            "LX segment 28",
            "no service date: the line has no DTP*472, and the claim has no claim-level DTP*472",
            1,
        ),
        (
            "SV1*HC:99214*150",
            "SV1*99214*150",
            "SV1 segment 29",
            "SV101 (composite medical procedure identifier) '99214' is not a qualifier and a procedure code joined "
            "by ':'",
            1,
        ),
        (
            "HL*2*1*22*0~",
            "HL*2*7*22*0~",
            "HL segment 13",
            "HL02 (parent id) '7' names no earlier HL; a loop 2000B (subscriber) sits under a 2000A (billing provider)",
            3,
        ),
        (
            "HL*2*1*22*0~\n",
            "",
            "CLM segment 19",
            "the claim follows HL segment 8, a billing provider loop (HL03 20): a claim belongs in a subscriber "
            "(HL03 22) or patient (HL03 23) loop",
            3,
        ),
        (
            "DMG*D8*19700101*F~",
            "dmg*D8*19700101*F~",
            "segment 18",
            "is not an X12 segment: it begins 'dmg*D8*19700', not a segment id of 2-3 capital letters or digits "
            "followed by the element separator '*'",
            3,  # a fault in the subscriber loop spoils its claims
        ),
    ],
)
def test_every_claim_refusal_names_its_segment(old: str, new: str, where: str, reason: str, claims: int) -> None:
    assert old in TWO_PAYER_TEXT
    items = convert_x12(recount(TWO_PAYER_TEXT.replace(old, new, 1)))
    refused = [i for i in items if isinstance(i, ConversionRejected)]
    assert len(refused) == claims
    assert {(r.unit, r.reason) for r in refused} == {("claim", reason)}
    assert (refused[0].where, refused[0].claim_id) == (where, "CLM-2026-0101")
    assert len(submissions(items)) == 3 - claims


@pytest.mark.parametrize(
    ("old", "new", "unit", "where", "reason"),
    [
        (
            "ST*837*0001*005010X222A1",
            "ST*837*0001*005010X223A2",
            "transaction",
            "ST segment 3",
            "ST03 (implementation convention reference) '005010X223A2' is not the 837P's guide (005010X222A1) that "
            "its functional group's GS08 names",
        ),
        (
            "*20260320*101530*CH",
            "*20260320*2561*CH",
            "transaction",
            "BHT segment 4",
            "BHT05 (transaction set creation time) '2561' is not a time of day",
        ),
        (
            "ST*837*0001",
            "ST*835*0001",
            "transaction",
            "ST segment 3",
            "ST01 '835' is not 837: this transaction is not a claim, as its functional group (HC) says",
        ),
        (
            "*X*005010X222A1~",
            "*X*005010X224A2~",
            "group",
            "GS segment 2",
            "GS08 version '005010X224A2' is not 005010X222(A1) (837P) or 005010X223(A2) (837I): only 5010 837s are "
            "read",
        ),
        (
            "GS*HC*",
            "GS*FA*",
            "group",
            "GS segment 2",
            "GS01 'FA' is neither HP (835 remittances) nor HC (837 claims): this functional group holds no "
            "remittances and no claims",
        ),
        (
            "PER*IC*BILLING OFFICE*TE*5125550100~",
            "CLM*X*1~",
            "transaction",
            "CLM segment 6",
            "CLM does not belong in the header of an 837 (before the first HL, the billing provider loop)",
        ),
    ],
)
def test_envelope_and_header_faults(old: str, new: str, unit: str, where: str, reason: str) -> None:
    assert old in TWO_PAYER_TEXT
    [refused] = convert_x12(TWO_PAYER_TEXT.replace(old, new, 1))
    assert isinstance(refused, ConversionRejected)
    assert (refused.unit, refused.where, refused.reason) == (unit, where, reason)


def test_the_base_guide_versions_are_read_as_their_addenda_are() -> None:
    """GS08 005010X222 (no A1), like the 835 reader's 005010X221."""
    text = TWO_PAYER_TEXT.replace("*X*005010X222A1~", "*X*005010X222~").replace("*0001*005010X222A1", "*0001")
    assert len(submissions(convert_x12(text))) == 3


# --- bare transactions, ids, splitting -----------------------------------------------------------


@pytest.mark.parametrize("name", ["837p_two_payers.837", "837i_revenue_codes.837"])
def test_bare_transactions_convert_like_their_interchange(name: str) -> None:
    enveloped, alone = convert_x12(read(name)), convert_x12(bare(read(name)))
    assert [i.value() | {"event_id": None, "source": None} for i in submissions(alone).values()] == [
        i.value() | {"event_id": None, "source": None} for i in submissions(enveloped).values()
    ]
    first = next(iter(submissions(alone).values()))
    assert first.submission.event_id.startswith("837:BHT:")  # no envelope: BHT03 stands in for it
    # Another component separator, found in SV101 or CLM05 (there is no ISA16 to say it).
    assert len(submissions(convert_x12(bare(read(name)).replace(":", ">")))) == len(submissions(alone))


def test_a_bare_transaction_that_is_neither_835_nor_837() -> None:
    [refused] = convert_x12("ST*999*0001~\nAK1*HC*1~\nSE*3*0001~\n")
    assert isinstance(refused, ConversionRejected)
    assert refused.reason == "ST01 '999' is neither 835 (a remittance) nor 837 (a claim)"
    [unknown] = convert_x12(bare(TWO_PAYER_TEXT).replace("*0001*005010X222A1", "*0001"))
    assert isinstance(unknown, ConversionRejected)
    assert unknown.reason == (
        "ST03 (implementation convention reference) '' is not 005010X222(A1) (837P) or 005010X223(A2) (837I): an "
        "837 without its envelope must say which guide it follows"
    )


def test_event_ids_are_the_same_for_the_same_file_and_new_for_other_content() -> None:
    first, again = submissions(convert_x12(TWO_PAYER_TEXT)), submissions(convert_x12(TWO_PAYER_TEXT))
    ids = [i.submission.event_id for i in first.values()]
    assert ids == [i.submission.event_id for i in again.values()]
    assert [i.split(":")[5:7] for i in ids] == [["1", "CLM-2026-0101"], ["2", "CLM-2026-0102"], ["3", "CLM-2026-0110"]]
    changed = submissions(convert_x12(TWO_PAYER_TEXT.replace("PI*AETNA~", "PI*UHC~", 1)))
    assert changed["CLM-2026-0101"].submission.event_id != first["CLM-2026-0101"].submission.event_id
    assert changed["CLM-2026-0102"].submission.event_id == first["CLM-2026-0102"].submission.event_id


def test_an_837_splits_into_one_message_per_transaction_with_the_same_ids() -> None:
    text = TWO_PAYER_TEXT + read("837i_revenue_codes.837")
    parts = split_transactions(text)
    assert all(isinstance(p, TransactionMessage) for p in parts)
    from_messages = [i for p in parts if isinstance(p, TransactionMessage) for i in convert_x12(p.data)]
    assert [i.value() for i in submissions(from_messages).values()] == [
        i.value() for i in submissions(convert_x12(text)).values()
    ]
    assert ".837" in X12_SUFFIXES
    lines = [json.loads(line) for line in remittance_lines(text.encode())]
    assert [(line["topic"], line["key"]) for line in lines] == [
        (REMITTANCE_X12, "000000101:101"),
        (REMITTANCE_X12, "000000106:106"),
    ]


def test_an_interchange_of_claims_settles_the_role_of_a_later_denial_in_the_same_file() -> None:
    alone = convert_x12(DENIAL.read_text())
    assert isinstance(alone[0], ConversionRejected)
    assert "does not say whether AETNA is the primary or the secondary payer" in alone[0].reason
    items = convert_x12(TWO_PAYER_TEXT + DENIAL.read_text())
    denial = items[-1]
    assert isinstance(denial, ConvertedEob)
    assert (denial.topic, denial.event.status) == ("eob.secondary", "denied")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 5000), st.integers(0, 3), st.sampled_from("*~:^|\n0123456789-.ACHLPS \x00é")),
        min_size=1,
        max_size=6,
    )
)
def test_damaged_837s_never_crash_the_converter(edits: list[tuple[int, int, str]]) -> None:
    text = TWO_PAYER_TEXT
    for offset, removed, inserted in edits:
        at = offset % len(text)
        text = text[:at] + inserted + text[at + removed :]
    for source in (text, bare(text)):
        items = convert_x12(source)
        assert items
        kinds = ConvertedSubmission | ConvertedEob | ConversionRejected | ProviderAdjustment | PaymentNotice
        assert all(isinstance(i, kinds) for i in items)
    split_transactions(text)


# --- the command ----------------------------------------------------------------------------------


def convert(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, "convert", "x12", *args], capture_output=True, check=False)


def test_convert_writes_submissions_as_replay_lines_and_counts_them() -> None:
    done = convert(str(TWO_PAYERS), str(DATA / "837i_revenue_codes.837"))
    assert done.returncode == 0
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [(line["topic"], line["key"]) for line in lines] == [
        ("claims.submitted", "CLM-2026-0101"),
        ("claims.submitted", "CLM-2026-0102"),
        ("claims.submitted", "CLM-2026-0110"),
        ("claims.submitted", "ER-2026-0601"),
    ]
    assert lines[0]["value"] == submissions(convert_x12(TWO_PAYER_TEXT))["CLM-2026-0101"].value()
    assert done.stderr.decode().splitlines()[-1] == (
        "converted 0 EOB events and 4 submissions from 2 file(s); 0 rejected, 0 reported (not claim events)"
    )


def test_convert_dead_letters_a_refused_claim_on_its_topic(tmp_path: Path) -> None:
    letters = tmp_path / "dead.jsonl"
    source = DATA / "837p_refused.837"
    done = convert("--dead-letters", str(letters), str(source))
    assert done.returncode == 1
    assert [orjson.loads(line)["key"] for line in done.stdout.splitlines()] == ["R-FINE"]
    err = done.stderr.decode().splitlines()
    assert f"{source}: rejected claim R-TOTAL (claims.submitted): CLM segment 39: CLM02 total claim charge" in err[2]
    dead = [orjson.loads(line)["value"] for line in letters.read_text().splitlines()]
    assert [(d["claim_id"], d["source_topic"], d["offset"]) for d in dead] == [
        ("R-FOURTH", "claims.submitted", 26),
        ("R-CORRECTED", "claims.submitted", 33),
        ("R-TOTAL", "claims.submitted", 39),
    ]


def test_an_837_then_a_lone_denial_in_one_run_gives_the_denial_its_role() -> None:
    """AETNA's CLP02 4 says nothing of its role (no NM1*TT, no CARC 23): the 837 before it names
    AETNA the claim's secondary, so the denial goes to eob.secondary."""
    alone = convert(str(DENIAL))
    assert alone.returncode == 1
    assert "does not say whether AETNA is the primary or the secondary payer" in alone.stderr.decode()
    done = convert(str(TWO_PAYERS), str(DENIAL))
    assert done.returncode == 0
    last = orjson.loads(done.stdout.splitlines()[-1])
    assert (last["topic"], last["key"], last["value"]["status"]) == ("eob.secondary", "CLM-2026-0101", "denied")
    assert done.stderr.decode().splitlines()[-1] == (
        "converted 1 EOB events and 3 submissions from 2 file(s); 0 rejected, 0 reported (not claim events)"
    )


def test_the_submissions_reach_the_engine_through_replay() -> None:
    """The example 835's CLM-2026-0102 (primary, no crossover) says nothing of a secondary: with the
    837 that billed it listing none, it is ready for patient billing instead of `coverage_unknown`."""
    example = ROOT / "examples" / "remittance-2026-03-24.835"
    converted = convert(str(TWO_PAYERS), str(example))
    replay = subprocess.run([*CLI, "replay", "-"], input=converted.stdout, capture_output=True, check=False)
    outcomes = [json.loads(line) for line in replay.stdout.splitlines()]
    of_0102 = [
        (o["topic"], o["value"].get("status") or o["value"].get("kind"))
        for o in outcomes
        if o["key"] == "CLM-2026-0102"
    ]
    assert of_0102 == [("billing.ready", "ready")]
    assert not [o for o in outcomes if o["topic"] == "eob.dead-letter"]


# --- speed ----------------------------------------------------------------------------------------


def test_the_837_speed_measurement_converts_every_generated_claim() -> None:
    assert len(submissions(convert_x12(generate_837(30, lines_per_claim=3)))) == 30
    result = measure_837(40, repeats=1)
    assert (result["format"], result["claims"], result["converted"]) == ("x12-837P", 40, 40)
    assert result["claims_per_second"] > 0
