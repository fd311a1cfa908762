"""`cobstream export 837`: the 837 to send to a claim's secondary payer (models.remittance.x12_837_secondary,
docs/X12.md "The secondary 837"). Every file these tests write is checked by an independent
validator (pyx12); each converts back to the claim, its lines and its coverage with the payers in
their roles; the claim's own 837 kept with its submission; the command over replay files and a
worker; and why there is no 837 when there is none (no broker: the worker's page itself is left to
the broker tests)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from builders import Run, adj, eob, line, submission, unstated

from cobstream.cli import main
from cobstream.engine import Engine
from cobstream.export import file_messages, file_name
from models.cob.claim import ClaimState
from models.contract.outcomes import SecondaryClaim
from models.remittance import ConvertedSubmission, convert_x12
from models.remittance.decode import decode_submission
from models.remittance.x12_837_secondary import NoSecondary837, control_number, secondary_837, secondary_837_of

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "x12_837"
DAY = ROOT / "examples" / "day-2026-03-24.jsonl"
COVERAGE = ROOT / "examples" / "coverage"
CLAIMS_837 = COVERAGE / "claims-2026-03-03.837"
BCBS_835 = COVERAGE / "remittance-2026-03-12-bcbstx.835"
ADJUDICATED = "2026-03-12T16:00:00Z"
# (fixture, claim): two payers with a rendering provider, two lines without REF*6R (a date range,
# a modifier), a tertiary, an 837 sent to the secondary with a patient loop, an 837I with a
# revenue-code-only line, a replacement (REF*F8), and the example day's claim.
CASES = [
    ("837p_two_payers.837", "CLM-2026-0101"),
    ("837p_two_payers.837", "CLM-2026-0110"),
    ("837p_tertiary.837", "CLM-2026-0201"),
    ("837p_patient_loop.837", "CLM-2026-0301"),
    ("837i_revenue_codes.837", "ER-2026-0601"),
    ("837p_replacement_void.837", "CLM-2026-0101"),
]


def path_of(name: str) -> Path:
    return DATA / name


def valid(text: str, tmp_path: Path, name: str = "claim.837") -> bool:
    """pyx12 checks the file against 005010X222A1 / 005010X223A2; truthy when valid."""
    x12n_document = pytest.importorskip("pyx12.x12n_document")
    params = pytest.importorskip("pyx12.params")
    path = tmp_path / name
    path.write_text(text)
    return bool(x12n_document.x12n_document(params.params(), str(path), None, None, None))


def converted(data: str | bytes) -> dict[str, ConvertedSubmission]:
    return {i.key: i for i in convert_x12(data) if isinstance(i, ConvertedSubmission)}


def primary_lines(claim: ConvertedSubmission) -> list[dict[str, Any]]:
    """The primary's adjudication of each billed line: CO-45 30%, PR-1 10.00, PR-2 5.00, a zero
    OA-23 (left out of the 837) and a negative CO-253 (kept)."""
    lines = []
    for billed in claim.submission.lines:
        co = (billed.charge * Decimal("0.3")).quantize(Decimal("0.01"))
        paid = billed.charge - co - Decimal("15.00") + Decimal("1.00")
        adjustments = [adj("CO", "45", f"{co}"), adj("PR", "1", "10.00"), adj("PR", "2", "5.00")]
        adjustments += [adj("OA", "23", "0.00"), adj("CO", "253", "-1.00")]
        lines.append(
            line(
                billed.line_id,
                charge=f"{billed.charge}",
                paid=f"{paid}",
                allowed=None,
                adjustments=adjustments,
                code=billed.procedure_code,
            )
        )
    return lines


def after_primary(fixture: Path | str, claim_id: str, lines: list[dict[str, Any]] | None = None) -> ClaimState:
    """The claim's state once its 837 and its primary's EOB (not naming a secondary) are in."""
    data = fixture.read_bytes() if isinstance(fixture, Path) else fixture
    run = Run()
    run.send("remittance.x12", data.decode() if isinstance(data, bytes) else data, key=None)
    claim = converted(data)[claim_id]
    payer = claim.submission.payer("primary")
    primary = eob("EOB-P", claim_id=claim_id, payer_id=payer, at=ADJUDICATED, lines=lines or primary_lines(claim))
    run.primary(unstated(primary))
    state = run.engine.claims[claim_id]
    assert state.standing_secondary_claim is not None
    return state


def segments(text: str, segment_id: str) -> list[str]:
    return [s for s in text.splitlines() if s.startswith(f"{segment_id}*")]


# ---- the claim's own 837, kept with its submission ------------------------------------------------


@pytest.mark.parametrize("path", [*sorted(DATA.glob("*.837")), CLAIMS_837], ids=lambda p: p.name)
def test_each_claims_own_837_is_valid_and_converts_to_its_submission(path: Path, tmp_path: Path) -> None:
    for claim_id, item in converted(path.read_bytes()).items():
        own = item.submission.original_837
        assert own is not None
        assert valid(own, tmp_path), claim_id
        [again] = converted(own).values()
        # The same submission; its event id differs only in the claim's place in its transaction.
        assert again.submission.model_dump(exclude={"event_id"}) == item.submission.model_dump(exclude={"event_id"})
        assert again.submission.event_id.split(":")[-2:] == item.submission.event_id.split(":")[-2:]


def test_the_first_claims_own_837_keeps_its_event_id_and_renumbers_the_hl_loops() -> None:
    items = converted((DATA / "837p_two_payers.837").read_bytes())
    first, second = items["CLM-2026-0101"], items["CLM-2026-0102"]
    assert converted(first.submission.original_837)["CLM-2026-0101"].submission == first.submission
    own = second.submission.original_837
    assert own.splitlines()[0] == (DATA / "837p_two_payers.837").read_text().splitlines()[0]  # the original ISA
    assert segments(own, "HL") == ["HL*1**20*1~", "HL*2*1*22*0~"]
    assert segments(own, "CLM") == ["CLM*CLM-2026-0102*135***11:B:1*Y*A*Y*Y~"]
    assert segments(own, "SE") == ["SE*28*0001~"]
    assert (segments(own, "GE"), segments(own, "IEA")) == (["GE*1*101~"], ["IEA*1*000000101~"])


def test_original_837_is_never_read_from_json_and_never_written_to_it() -> None:
    value = {**submission(), "original_837": "ISA*00*..."}
    decoded = decode_submission(json.dumps(value))
    assert decoded.submission.original_837 is None  # type: ignore[union-attr]
    assert "original_837" not in decoded.submission.model_dump(mode="json")  # type: ignore[union-attr]
    item = converted(CLAIMS_837.read_bytes())["CLM-2026-0201"]
    assert "original_837" not in item.value()
    assert "original_837" not in json.dumps(item.replay_line())
    # The claim state keeps it (the worker's table), so the worker can build the 837.
    state = after_primary(CLAIMS_837, "CLM-2026-0201")
    assert ClaimState.model_validate_json(state.model_dump_json()).submission == state.submission
    assert state.submission is not None
    assert state.submission.original_837 == item.submission.original_837


# ---- the secondary's 837 -------------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "claim_id"), CASES, ids=[f"{f}:{c}" for f, c in CASES])
def test_the_secondary_837_is_valid_and_converts_back_with_the_payers_in_their_roles(
    fixture: str, claim_id: str, tmp_path: Path
) -> None:
    original = converted(path_of(fixture).read_bytes())[claim_id].submission
    state = after_primary(path_of(fixture), claim_id)
    text = secondary_837_of(state)
    assert valid(text, tmp_path)
    [back] = converted(text).values()
    got = back.submission
    assert (got.claim_id, got.frequency, got.lines) == (claim_id, "original", original.lines)
    assert {e.role: e.payer_id for e in got.coverage} == {e.role: e.payer_id for e in original.coverage}
    assert got.submitted_at == state.standing_secondary_claim.produced_at  # type: ignore[union-attr]
    assert segments(text, "SBR")[0].startswith("SBR*S*")  # 2000B: the destination is the secondary
    assert any(s.startswith("SBR*P*") for s in segments(text, "SBR"))  # the primary in a 2320


@pytest.fixture
def example() -> tuple[SecondaryClaim, list[str]]:
    """The example claim's secondary claim and its 837, segment by segment."""
    state = after_primary(CLAIMS_837, "CLM-2026-0201")
    claim = state.standing_secondary_claim
    assert claim is not None
    return claim, secondary_837_of(state).splitlines()


def test_the_example_claims_837_is_a_new_interchange_to_the_secondary(
    example: tuple[SecondaryClaim, list[str]],
) -> None:
    claim, lines = example
    number = f"{control_number(claim.event_id):09d}"
    assert lines[0] == (
        f"ISA*00*          *00*          *ZZ*RIVERBEND01    *ZZ*AETNA          *{claim.produced_at:%y%m%d*%H%M}*^*"
        f"00501*{number}*0*P*:~"
    )
    assert lines[1] == f"GS*HC*RIVERBEND01*AETNA*{claim.produced_at:%Y%m%d*%H%M}*{int(number)}*X*005010X222A1~"
    assert lines[2:4] == [
        f"ST*837*{number}*005010X222A1~",
        f"BHT*0019*00*{number}*{claim.produced_at:%Y%m%d*%H%M%S}*CH~",
    ]
    assert lines[-3:] == [f"SE*{len(lines) - 4}*{number}~", f"GE*1*{int(number)}~", f"IEA*1*{number}~"]


def test_the_example_claims_837_moves_the_payers_and_adds_the_primarys_adjudication(
    example: tuple[SecondaryClaim, list[str]],
) -> None:
    _, lines = example
    body = lines[lines.index("NM1*40*2*AETNA LIFE INSURANCE COMPANY*****46*AETNA~") : -3]
    assert body[:25] == [
        "NM1*40*2*AETNA LIFE INSURANCE COMPANY*****46*AETNA~",
        "HL*1**20*1~",
        "NM1*85*2*RIVERBEND FAMILY MEDICINE*****XX*1234567893~",
        "N3*1200 RIVERBEND DR~",
        "N4*AUSTIN*TX*787010001~",
        "REF*EI*741234567~",
        "HL*2*1*22*1~",  # the secondary's subscriber is the patient's spouse: a patient loop follows
        "SBR*S**GRP77001******CI~",
        "NM1*IL*1*SAMPLE*SPOUSE****MI*W100000201~",
        "NM1*PR*2*AETNA LIFE INSURANCE COMPANY*****PI*AETNA~",
        "HL*3*2*23*0~",
        "PAT*01~",
        "NM1*QC*1*SAMPLE*PATIENT*A~",
        "N3*10 ELM ST~",
        "N4*AUSTIN*TX*787020001~",
        "DMG*D8*19700101*F~",
        "CLM*CLM-2026-0201*150***11:B:1*Y*A*Y*Y~",
        "HI*ABK:J020~",
        "SBR*P*18*GRP20001******CI~",
        "AMT*D*91~",  # 150 - 45 - 10 - 5 + 1 (CO-253 -1.00)
        "OI***Y***Y~",
        "NM1*IL*1*SAMPLE*PATIENT*A***MI*XJB000000201~",
        "N3*10 ELM ST~",
        "N4*AUSTIN*TX*787020001~",
        "NM1*PR*2*BLUE CROSS AND BLUE SHIELD OF TEXAS*****PI*BCBS-TX~",  # no DTP*573: it is in 2430
    ]
    assert body[25:] == [
        "LX*1~",
        "SV1*HC:99214*150*UN*1***1~",
        "DTP*472*D8*20260302~",
        "REF*6R*0201-1~",
        "SVD*BCBS-TX*91*HC:99214**1~",
        "CAS*CO*45*45**253*-1~",  # one CAS per group, in the primary's order; OA-23 0.00 left out
        "CAS*PR*1*10**2*5~",
        "DTP*573*D8*20260312~",
        "AMT*EAF*15~",
    ]


def test_the_same_secondary_claim_gives_the_same_bytes_and_another_one_other_control_numbers(tmp_path: Path) -> None:
    state = after_primary(CLAIMS_837, "CLM-2026-0201")
    assert secondary_837_of(state) == secondary_837_of(state)
    claim, original = state.standing_secondary_claim, state.submission.original_837  # type: ignore[union-attr]
    assert claim is not None
    assert original is not None
    other = claim.model_copy(update={"event_id": "another"})
    made = secondary_837(original, other, control_number=control_number("another"), created_at=claim.produced_at)
    assert segments(made, "ST") != segments(secondary_837_of(state), "ST")
    assert valid(made, tmp_path)
    assert 1 <= control_number("another") <= 999_999_999


def test_a_tertiary_2320_is_kept_as_the_original_has_it() -> None:
    text = secondary_837_of(after_primary(DATA / "837p_tertiary.837", "CLM-2026-0201"))
    at = text.index("SBR*T*")
    assert text[at:].splitlines()[:4] == [
        "SBR*T*19*GRP30003******CI~",
        "OI***Y***Y~",
        "NM1*IL*1*SAMPLE*PARENT****MI*C300000201~",
        "NM1*PR*2*CIGNA HEALTH AND LIFE INSURANCE COMPANY*****PI*CIGNA~",
    ]
    assert text.index("SBR*P*") < at < text.index("LX*1")


def test_an_837i_line_billed_by_revenue_code_reports_it_in_svd04(tmp_path: Path) -> None:
    text = secondary_837_of(after_primary(DATA / "837i_revenue_codes.837", "ER-2026-0601"))
    assert segments(text, "SVD") == [
        "SVD*BCBS-TX*581*HC:99284:25*0450*1~",
        "SVD*BCBS-TX*87.85*HC:80053*0300*1~",
        "SVD*BCBS-TX*7**0250*2~",  # no procedure code: SVD03 is not sent
    ]


def test_a_replacement_goes_to_the_secondary_as_an_original_without_the_primarys_claim_number() -> None:
    text = secondary_837_of(after_primary(DATA / "837p_replacement_void.837", "CLM-2026-0101"))
    assert segments(text, "CLM") == ["CLM*CLM-2026-0101*150***11:B:1*Y*A*Y*Y~"]
    assert not segments(text, "REF*F8")
    assert segments(text, "NM1*40") == ["NM1*40*2*UNITEDHEALTHCARE*****46*UHC~"]


def test_the_837_sent_to_the_secondary_keeps_its_patient_loop(tmp_path: Path) -> None:
    text = secondary_837_of(after_primary(DATA / "837p_patient_loop.837", "CLM-2026-0301"))
    assert segments(text, "HL") == ["HL*1**20*1~", "HL*2*1*22*1~", "HL*3*2*23*0~"]
    assert segments(text, "SBR") == ["SBR*S**GRP77001******CI~", "SBR*P*01*GRP20001******CI~"]
    assert "NM1*QC*1*SAMPLE*PATIENT*G~\nN3*10 ELM ST~\nN4*AUSTIN*TX*787020001~\nDMG*D8*19720202*M~" in text


def variant(fixture: str, claim_id: str, edits: list[tuple[str, str]]) -> str:
    """The claim's own 837 with segments replaced (old, new: several lines for inserted ones), SE01 recounted."""
    text = converted(path_of(fixture).read_bytes())[claim_id].submission.original_837
    assert text is not None
    for old, new in edits:
        assert old in text
        text = text.replace(old, new, 1)
    count = len(text[text.index("\nST*") : text.index("\nSE*")].splitlines())
    return re.sub(r"^SE\*\d+\*", f"SE*{count}*", text, flags=re.MULTILINE)


def test_a_secondary_whose_subscriber_is_the_patient_takes_the_patients_address_and_birth_date(
    tmp_path: Path,
) -> None:
    original = variant(
        "837p_two_payers.837",
        "CLM-2026-0101",
        [("SBR*S*01*", "SBR*S*18*"), ("NM1*IL*1*SAMPLE*SPOUSE****MI*W100000101", "NM1*IL*1*SAMPLE*PATIENT*A***MI*W1")],
    )
    text = secondary_837_of(after_primary(original, "CLM-2026-0101"))
    assert valid(text, tmp_path)
    start = text.index("HL*2*")
    assert text[start:].splitlines()[:8] == [
        "HL*2*1*22*0~",  # no patient loop: the patient is the subscriber
        "SBR*S*18*GRP77001******CI~",
        "NM1*IL*1*SAMPLE*PATIENT*A***MI*W1~",
        "N3*10 ELM ST~",
        "N4*AUSTIN*TX*787020001~",
        "DMG*D8*19700101*F~",
        "NM1*PR*2*AETNA LIFE INSURANCE COMPANY*****PI*AETNA~",
        "CLM*CLM-2026-0101*150***11:B:1*Y*A*Y*Y~",
    ]


def test_prior_authorizations_go_with_their_payer(tmp_path: Path) -> None:
    original = variant(
        "837p_two_payers.837",
        "CLM-2026-0101",
        [
            ("HI*ABK:J020~", "REF*G1*BCBSAUTH1~\nHI*ABK:J020~"),
            ("PI*AETNA~", "PI*AETNA~\nREF*G1*AETNAAUTH2~"),
        ],
    )
    text = secondary_837_of(after_primary(original, "CLM-2026-0101"))
    assert valid(text, tmp_path)
    assert "CLM*CLM-2026-0101*150***11:B:1*Y*A*Y*Y~\nREF*G1*AETNAAUTH2~\nHI*ABK:J020~" in text
    assert "NM1*PR*2*BLUE CROSS AND BLUE SHIELD OF TEXAS*****PI*BCBS-TX~\nREF*G1*BCBSAUTH1~\nLX*1~" in text


def test_a_bare_transaction_gets_an_envelope_from_its_submitter(tmp_path: Path) -> None:
    text = (DATA / "837p_two_payers.837").read_text()
    bare = "".join(f"{s}\n" for s in text.splitlines() if s[:3] not in ("ISA", "GS*", "GE*", "IEA"))
    assert converted(bare)["CLM-2026-0101"].submission.original_837.startswith("ST*837*")  # type: ignore[union-attr]
    made = secondary_837_of(after_primary(bare, "CLM-2026-0101"))
    assert valid(made, tmp_path)
    assert made.startswith("ISA*00*          *00*          *ZZ*RIVERBEND01    *ZZ*AETNA          *")
    assert segments(made, "GS")[0].startswith("GS*HC*RIVERBEND01*AETNA*")


def made_claim(state: ClaimState, adjustments: list[dict[str, str]], paid: str) -> SecondaryClaim:
    claim = state.standing_secondary_claim
    assert claim is not None
    lines = [{**claim.lines[0].model_dump(), "adjustments": adjustments, "primary_paid": Decimal(paid)}]
    return claim.model_copy(update={"lines": tuple(claim.lines[0].model_validate(x) for x in lines)})


def test_more_than_six_adjustments_of_a_group_take_a_second_cas(tmp_path: Path) -> None:
    state = after_primary(CLAIMS_837, "CLM-2026-0201")
    many = [adj("CO", str(n), "1.00") for n in range(100, 107)] + [adj("PR", "2", "20.00")]
    claim = made_claim(state, many, "123.00")
    made = secondary_837(state.submission.original_837, claim, control_number=7, created_at=claim.produced_at)  # type: ignore[arg-type, union-attr]
    assert valid(made, tmp_path)
    assert segments(made, "CAS") == [
        "CAS*CO*100*1**101*1**102*1**103*1**104*1**105*1~",
        "CAS*CO*106*1~",
        "CAS*PR*2*20~",
    ]


def test_adjustments_that_need_more_than_five_cas_cannot_be_sent() -> None:
    state = after_primary(CLAIMS_837, "CLM-2026-0201")
    many = [adj("CO", str(n), "1.00") for n in range(100, 113)] + [adj("PR", str(n), "1.00") for n in range(1, 8)]
    claim = made_claim(state, [*many, adj("OA", "23", "1.00")], "129.00")
    with pytest.raises(
        NoSecondary837,
        match=r"line 0201-1: the primary's adjustments need 6 CAS segments, more than the 5 a 2430 loop holds",
    ):
        secondary_837(state.submission.original_837, claim, control_number=7, created_at=claim.produced_at)  # type: ignore[arg-type, union-attr]


def test_lines_the_claim_does_not_bill_cannot_be_sent() -> None:
    lines = [line("0201-9", charge="150.00", paid="80.00")]
    state = after_primary(CLAIMS_837, "CLM-2026-0201", lines=lines)
    with pytest.raises(NoSecondary837, match=r"adjudicated lines \['0201-9'\] but the claim bills lines \['0201-1'\]"):
        secondary_837_of(state)


# ---- why there is no 837 -------------------------------------------------------------------------


def test_a_json_submission_has_no_837_to_build_from() -> None:
    run = Run()
    run.submit(submission())
    run.primary(unstated(eob("EOB-P")))
    with pytest.raises(NoSecondary837, match=r"submission came from claims\.submitted JSON") as found:
        secondary_837_of(run.engine.claims["CLM-1"])
    assert found.value.code == "not_from_837"


def test_a_crossed_over_claim_and_a_reversed_primary_say_why() -> None:
    run = Run()
    run.send("remittance.x12", CLAIMS_837.read_text(), key=None)
    run.primary(eob("EOB-P", claim_id="CLM-2026-0201", secondary_payer_id="AETNA", lines=[line("0201-1")]))
    with pytest.raises(NoSecondary837, match="crossed the claim over to AETNA") as found:
        secondary_837_of(run.engine.claims["CLM-2026-0201"])
    assert found.value.code == "no_secondary_claim"
    negated = [adj("CO", "45", "-50.00"), adj("PR", "2", "-20.00")]
    reversal = line("0201-1", charge="-150.00", paid="-80.00", allowed=None, adjustments=negated)
    run.primary(eob("EOB-P-R", claim_id="CLM-2026-0201", status="reversed", lines=[reversal]))
    with pytest.raises(NoSecondary837, match=r"the primary's EOB is not in \(it was reversed\)"):
        secondary_837_of(run.engine.claims["CLM-2026-0201"])


# ---- the command ---------------------------------------------------------------------------------


def test_cli_writes_the_example_days_secondary_claim(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["export", "837", "CLM-2026-0201", "--replay", str(DAY)]) == 0
    out, err = capsys.readouterr()
    assert valid(out, tmp_path)
    # AETNA's 835 came in later that day: the secondary claim stands as the record of what was sent.
    assert "the secondary's EOB is already in" in err
    [back] = converted(out).values()
    assert {e.role: e.payer_id for e in back.submission.coverage} == {"primary": "BCBS-TX", "secondary": "AETNA"}
    assert "AMT*D*80~" in out
    assert "CAS*CO*45*50~\nCAS*PR*2*20~" in out
    out_file = tmp_path / "claim.837"
    assert main(["export", "837", "CLM-2026-0201", "--replay", str(DAY), "--out", str(out_file)]) == 0
    assert out_file.read_text() == out


def test_cli_says_why_there_is_no_837(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "837", "CLM-2026-0037", "--replay", str(DAY)]) == 1
    err = capsys.readouterr().err
    assert "the claim's submission came from claims.submitted JSON; an 837 can only be built from an 837" in err
    assert main(["export", "837", "CLM-2026-0001", "--replay", str(DAY)]) == 1
    assert "the primary crossed the claim over to AETNA" in capsys.readouterr().err
    assert main(["export", "837", "CLM-NOPE", "--replay", str(DAY)]) == 1
    err = capsys.readouterr().err
    assert "no claim with that id in" in err
    assert "CLM-NOPE" not in err  # claim ids stay out of standard error


def test_cli_unusable_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["export", "837", "CLM-1", "--replay", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["export", "837", "--replay", str(DAY)]) == 2
    assert main(["export", "837", "CLM-1", "--all", "--replay", str(DAY), "--out-dir", str(tmp_path)]) == 2
    assert main(["export", "837", "--all", "--worker", "http://127.0.0.1:1", "--out-dir", str(tmp_path)]) == 2
    assert "--all needs --replay" in capsys.readouterr().err


def test_cli_all_writes_each_pending_secondary_claim_from_the_x12_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    assert (
        main(
            ["export", "837", "--all", "--replay", str(CLAIMS_837), "--replay", str(BCBS_835), "--out-dir", str(folder)]
        )
        == 0
    )
    assert sorted(p.name for p in folder.iterdir()) == ["CLM-2026-0201.837", "CLM-2026-0202.837"]
    assert capsys.readouterr().err == f"cobstream export: wrote 2 837 file(s) to {folder}\n"
    for path in folder.iterdir():
        assert valid(path.read_text(), tmp_path)
        assert list(converted(path.read_text())) == [path.stem]
    # The example day: AETNA's 835 answered both, and the JSON submissions' secondaries are in too.
    assert main(["export", "837", "--all", "--replay", str(DAY), "--out-dir", str(tmp_path / "day")]) == 0
    assert "wrote 0 837 file(s)" in capsys.readouterr().err
    assert file_name("CLM/1 a") == "CLM%2F1%20a.837"


def test_cli_all_counts_the_json_submissions_it_leaves_out(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    day = tmp_path / "day.jsonl"
    kept = [row for row in DAY.read_text().splitlines() if "GS*HP*AETNA" not in row and '"eob.secondary"' not in row]
    day.write_text("\n".join(kept) + "\n")
    assert main(["export", "837", "--all", "--replay", str(day), "--out-dir", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "wrote 2 837 file(s)" in err
    assert "2 submitted as claims.submitted JSON (an 837 is built from an 837)" in err
    for path in (tmp_path / "out").iterdir():
        assert valid(path.read_text(), tmp_path)


class _FakeWorker(BaseHTTPRequestHandler):
    """Answers as the worker's secondary-claim.837 page does, from `answers` by request path."""

    answers: ClassVar[dict[str, tuple[int, str, bytes]]] = {}

    def do_GET(self) -> None:
        status, kind, body = self.answers.get(self.path, (404, "text/plain", b"not a page"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
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


def test_cli_fetches_the_837_from_a_worker(fake_worker: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = secondary_837_of(after_primary(CLAIMS_837, "CLM-2026-0201"))
    error = "application/json"
    _FakeWorker.answers = {
        "/claims/CLM%2F1%20a/secondary-claim.837": (200, "application/edi-x12", text.encode()),
        "/claims/gone/secondary-claim.837": (404, error, b'{"error": "claim_not_found", "message": "no claim"}'),
        "/claims/json/secondary-claim.837": (
            404,
            error,
            json.dumps({"error": "not_from_837", "message": "the claim's submission came from JSON"}).encode(),
        ),
        "/claims/busy/secondary-claim.837": (503, error, b'{"error": "not_ready", "message": "rebalancing"}'),
        "/claims/odd/secondary-claim.837": (200, "text/html", b"<html>"),
    }
    assert main(["export", "837", "CLM/1 a", "--worker", fake_worker]) == 0  # percent-encoded in the path
    assert capsys.readouterr().out == text
    assert main(["export", "837", "gone", "--worker", fake_worker]) == 1
    assert "no claim with that id in the claims table of the worker" in capsys.readouterr().err
    assert main(["export", "837", "json", "--worker", fake_worker]) == 1
    assert "the claim's submission came from JSON" in capsys.readouterr().err
    assert main(["export", "837", "busy", "--worker", fake_worker]) == 2
    assert "answered 503: rebalancing" in capsys.readouterr().err
    assert main(["export", "837", "odd", "--worker", fake_worker]) == 2
    assert main(["export", "837", "no-such-page", "--worker", fake_worker]) == 2  # a 404 that is not the page's


def test_the_exported_837_replays_into_the_claim_sent_to_the_secondary(tmp_path: Path) -> None:
    """The round trip through the engine: the exported 837 is a submission like the original's."""
    state = after_primary(CLAIMS_837, "CLM-2026-0201")
    engine = Engine()
    engine.receive("remittance.x12", None, secondary_837_of(state))
    again = engine.claims["CLM-2026-0201"].submission
    assert again is not None
    assert state.submission is not None
    assert (again.lines, again.coverage, again.frequency) == (
        state.submission.lines,
        state.submission.coverage,
        "original",
    )
    assert again.submitted_at == datetime(2026, 3, 12, 16, 0, tzinfo=UTC)


def _replayed_day() -> Engine:
    engine = Engine()
    with DAY.open("rb") as source:
        for message in file_messages(source):
            engine.receive(*message)
    return engine
