"""The payer scorecard (`cobstream.ui.scorecard`): each figure checked on hand-made claim histories
run through the real engine, worked out by hand from the EOBs; the example day against the
engine's own ready events and the queue; the chart's bars; the CSV exports and their protection
against spreadsheet formulas; the page's template."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from builders import adj, eob, secondary_line, submission, unstated
from test_ui_store import Topics, example_day

from cobstream.ui import pages, queue, work
from cobstream.ui.queue import QueueFilter
from cobstream.ui.reader import ReaderStatus
from cobstream.ui.scorecard import (
    KINDS,
    SCORECARD_COLUMNS,
    ScorecardRow,
    chart_svg,
    csv_cell,
    queue_csv,
    scorecard,
    scorecard_claims,
    scorecard_csv,
    scorecard_page,
    scorecard_payers,
)
from cobstream.ui.store import Store
from models.contract.outcomes import DiscrepancyKind

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 5, 1, tzinfo=UTC)
MARCH = "2026-03-10T15:00:00Z"
COVERAGE = Path(__file__).resolve().parents[1] / "examples" / "coverage"

# ---- the hand-made day -----------------------------------------------------------------------------
#
# Every claim is the article's (builders.line: charge 150.00, the primary allows 100.00 and pays
# 80.00, the patient's share 20.00). When the primary lands, the estimate takes the primary's
# allowed as the secondary's: 100.00 - 80.00 = 20.00 expected. The secondary's EOB allows 90.00
# (builders.secondary_line), so every outcome after it expects 90.00 - 80.00 = 10.00.
#
# AETNA, primaries adjudicated 2026-03-10:
#   A  paid  5.00 on 03-12: underpaid by 5.00; resolved as recovered 5.00, then reopened (in progress)
#   B  paid 10.00 on 03-14: ready; AETNA's duplicate-claim notice (CARC 18) on 03-30 changes nothing
#   C  paid  2.00 on 03-20: underpaid by 8.00; resolved as recovered 8.00
#   H  paid  9.00 on 03-13: underpaid by 1.00; resolved as written off
# AETNA, primaries adjudicated in April:
#   D  04-02; paid 4.00 on 04-09 (underpaid by 6.00, resolved as recovered 3.00), then a new EOB
#      paid 7.00 on 04-16: underpaid by 3.00, open; the first one superseded
#   E  04-05; AETNA has not answered: the estimate, 20.00
#   G  04-05; paid 10.00 on 04-08: ready
# CIGNA:
#   F  the primary names CIGNA, adjudicated 03-10; CIGNA paid 10.00 on 03-11: ready
#   S  the claim as submitted names CIGNA, the primary's 835 does not say (04-20); no answer: 20.00
# On no scorecard:
#   N  the primary says there is no secondary; R its primary reversed and not corrected;
#   U  the primary does not say and nothing else does (coverage unknown)
#
# So, by hand:
#   AETNA 2026-03: 4 claims, 4 answered, expected 40.00, paid 5 + 10 + 2 + 9 = 26.00, open
#     underpayment 5.00 (A; C and H resolved), recovered 8.00 (C; A's recovery was reopened),
#     3 secondary_underpaid, days 2, 4, 10, 3: median 3.5
#   AETNA 2026-04: 3 claims, 2 answered, expected 10 + 20 + 10 = 40.00, paid 7 + 0 + 10 = 17.00,
#     open underpayment 3.00 (D's current one; its superseded 6.00 is not open), recovered 3.00
#     (on the superseded one), 2 secondary_underpaid, days 14 and 3: median 8.5
#   CIGNA 2026-03: 1 claim, answered, expected 10.00, paid 10.00, 1 day
#   CIGNA 2026-04: 1 claim, not answered, expected 20.00, paid 0.00, no median


def hand_made_day() -> Topics:
    topics = Topics()

    def primary(claim: str, at: str, secondary_payer: str | None = "AETNA") -> None:
        topics.send("eob.primary", eob(f"P-{claim}", claim_id=claim, at=at, secondary_payer_id=secondary_payer))

    def secondary(event_id: str, claim: str, at: str, paid: str, payer: str = "AETNA") -> None:
        lines = [secondary_line(paid=paid)]
        topics.send("eob.secondary", eob(event_id, claim_id=claim, payer_id=payer, at=at, lines=lines))

    for claim in ("CLM-A", "CLM-B", "CLM-C", "CLM-H", "CLM-R"):
        primary(claim, MARCH)
    primary("CLM-F", MARCH, "CIGNA")
    primary("CLM-N", MARCH, None)
    topics.send("eob.primary", unstated(eob("P-CLM-U", claim_id="CLM-U", at=MARCH)))
    secondary("S-F", "CLM-F", "2026-03-11T09:00:00Z", "10.00", "CIGNA")
    secondary("S-A", "CLM-A", "2026-03-12T09:00:00Z", "5.00")
    secondary("S-H", "CLM-H", "2026-03-13T09:00:00Z", "9.00")
    secondary("S-B", "CLM-B", "2026-03-14T09:00:00Z", "10.00")
    topics.send("eob.primary", eob("P-CLM-R-rev", claim_id="CLM-R", status="reversed", at="2026-03-15T09:00:00Z"))
    secondary("S-C", "CLM-C", "2026-03-20T09:00:00Z", "2.00")
    notice = secondary_line(paid="0.00", allowed=None, adjustments=[adj("OA", "18", "150.00")])
    topics.send(
        "eob.secondary",
        eob("S-B-dup", claim_id="CLM-B", payer_id="AETNA", status="denied", at="2026-03-30T09:00:00Z", lines=[notice]),
    )
    primary("CLM-D", "2026-04-02T10:00:00Z")
    primary("CLM-E", "2026-04-05T10:00:00Z")
    primary("CLM-G", "2026-04-05T10:00:00Z")
    secondary("S-G", "CLM-G", "2026-04-08T09:00:00Z", "10.00")
    secondary("S-D", "CLM-D", "2026-04-09T09:00:00Z", "4.00")
    secondary("S-D-fix", "CLM-D", "2026-04-16T09:00:00Z", "7.00")
    topics.send("claims.submitted", submission("SUB-S", claim_id="CLM-S", secondary="CIGNA", at="2026-04-18T09:00:00Z"))
    topics.send("eob.primary", unstated(eob("P-CLM-S", claim_id="CLM-S", at="2026-04-20T09:00:00Z")))
    return topics


@dataclass
class Files:
    store: Path
    work: Path


def reading(files: Files, *, with_work: bool = True) -> sqlite3.Connection:
    """The connection the scorecard is given: the topic store, the work file attached as `work`."""
    db = sqlite3.connect(files.store)
    db.row_factory = sqlite3.Row
    if with_work:
        db.execute("ATTACH DATABASE ? AS work", (str(files.work),))
    return db


def discrepancy_ids(db: sqlite3.Connection, claim_id: str) -> list[str]:
    rows = db.execute(
        "SELECT event_id FROM outcomes WHERE claim_id = ? AND topic = 'billing.discrepancy' ORDER BY revision",
        (claim_id,),
    )
    return [row["event_id"] for row in rows]


def resolve(files: Files, claim_id: str, *changes: work.Change, which: int = -1) -> None:
    """Record `changes` on the claim's discrepancy (the latest by default) as the team lead."""
    with reading(files, with_work=False) as db:
        discrepancy = discrepancy_ids(db, claim_id)[which]
    team = work.connect_work(files.work)
    try:
        lead = work.User("lead", "biller")
        for change in changes:
            work.record(team, discrepancy, claim_id, lead, change, NOW)
    finally:
        team.close()


def recovered(cents: int) -> work.Change:
    return work.Change("status", status="resolved", resolution="recovered", recovered_cents=cents)


@pytest.fixture
def files(tmp_path: Path) -> Files:
    store = Store(tmp_path / "ui.sqlite3", "")
    store.ingest(hand_made_day().records)
    store.close()
    found = Files(tmp_path / "ui.sqlite3", tmp_path / "work.sqlite3")
    team = work.connect_work(found.work)
    work.add_user(team, "lead", "biller", "a long passphrase 42", NOW)
    team.close()
    resolve(found, "CLM-A", recovered(500), work.Change("status", status="in_progress"))
    resolve(found, "CLM-C", recovered(800))
    resolve(found, "CLM-H", work.Change("status", status="resolved", resolution="written_off"))
    resolve(found, "CLM-D", recovered(300), which=0)
    return found


@pytest.fixture
def db(files: Files) -> Iterator[sqlite3.Connection]:
    connection = reading(files)
    yield connection
    connection.close()


def rows_by_key(rows: list[ScorecardRow]) -> dict[tuple[str, str], ScorecardRow]:
    return {(row.payer, row.month): row for row in rows}


def figures(row: ScorecardRow) -> tuple:
    return (row.claims, row.answered, row.expected_cents, row.paid_cents, row.open_underpaid_cents, row.recovered_cents)


# ---- the definitions, on the hand-made day -------------------------------------------------------


def test_each_payers_months_count_claims_expected_paid_open_and_recovered(db: sqlite3.Connection) -> None:
    rows = scorecard(db)
    assert [(row.payer, row.month) for row in rows] == [
        ("AETNA", "2026-03"),
        ("AETNA", "2026-04"),
        ("CIGNA", "2026-03"),
        ("CIGNA", "2026-04"),
    ]
    by_key = rows_by_key(rows)
    assert figures(by_key["AETNA", "2026-03"]) == (4, 4, 4000, 2600, 500, 800)
    assert figures(by_key["AETNA", "2026-04"]) == (3, 2, 4000, 1700, 300, 300)
    assert figures(by_key["CIGNA", "2026-03"]) == (1, 1, 1000, 1000, 0, 0)
    assert figures(by_key["CIGNA", "2026-04"]) == (1, 0, 2000, 0, 0, 0)


def test_one_payers_scorecard_and_the_payers_to_choose_from(db: sqlite3.Connection) -> None:
    assert scorecard(db, "AETNA") == [row for row in scorecard(db) if row.payer == "AETNA"]
    assert [row.month for row in scorecard(db, "CIGNA")] == ["2026-03", "2026-04"]
    assert scorecard(db, "HUMANA") == []
    assert scorecard_payers(db) == ["AETNA", "CIGNA"]


def test_a_claim_is_on_its_secondary_payers_scorecard_in_its_primarys_month(db: sqlite3.Connection) -> None:
    claims = {claim.claim_id: claim for claim in scorecard_claims(db)}
    # N: no secondary; R: its primary reversed and not corrected; U: the coverage is unknown.
    assert sorted(claims) == ["CLM-A", "CLM-B", "CLM-C", "CLM-D", "CLM-E", "CLM-F", "CLM-G", "CLM-H", "CLM-S"]
    assert (claims["CLM-F"].payer, claims["CLM-F"].month) == ("CIGNA", "2026-03")  # the primary names it
    assert (claims["CLM-S"].payer, claims["CLM-S"].month) == ("CIGNA", "2026-04")  # the claim as submitted
    [item] = queue.claim_discrepancies(db, "CLM-D")  # the queue names the same payer
    assert (item.secondary_payer_id, claims["CLM-D"].payer) == ("AETNA", "AETNA")
    assert [claim.claim_id for claim in scorecard_claims(db, "CIGNA")] == ["CLM-F", "CLM-S"]


def test_paid_is_the_current_secondary_eob_and_a_duplicate_claim_notice_changes_nothing(
    db: sqlite3.Connection,
) -> None:
    claims = {claim.claim_id: claim for claim in scorecard_claims(db)}
    # D: its second EOB (7.00) is the current one; B: AETNA's CARC 18 notice paid 0.00 on 03-30.
    assert (claims["CLM-D"].paid_cents, claims["CLM-D"].secondary_adjudicated.isoformat()) == (700, "2026-04-16")
    assert (claims["CLM-B"].paid_cents, claims["CLM-B"].days_to_secondary) == (1000, 4)
    assert (claims["CLM-E"].paid_cents, claims["CLM-E"].secondary_adjudicated) == (0, None)
    # Expected: the latest outcome stating one; E has only the estimate.
    assert (claims["CLM-B"].expected_cents, claims["CLM-E"].expected_cents) == (1000, 2000)


def test_a_superseded_or_resolved_underpayment_is_not_open(db: sqlite3.Connection) -> None:
    _superseded, current = discrepancy_ids(db, "CLM-D")
    assert [item.event_id for item in queue.claim_discrepancies(db, "CLM-D")] == [current]
    april = rows_by_key(scorecard(db))["AETNA", "2026-04"]
    assert april.open_underpaid_cents == 300  # D's 3.00; its superseded 6.00 is not open
    assert april.recovered_cents == 300  # the recovery recorded on the superseded one counts
    march = rows_by_key(scorecard(db))["AETNA", "2026-03"]
    # Open in the queue: A (5.00), C (8.00) and H (1.00); C and H are resolved, A was reopened.
    assert {item.claim_id for item in queue.open_discrepancies(db, QueueFilter(kind="secondary_underpaid"))} == {
        "CLM-A",
        "CLM-C",
        "CLM-H",
        "CLM-D",
    }
    assert (march.open_underpaid_cents, march.recovered_cents) == (500, 800)


def test_without_the_work_file_nothing_is_resolved_or_recovered(files: Files) -> None:
    with reading(files, with_work=False) as db:
        by_key = rows_by_key(scorecard(db))
    assert (by_key["AETNA", "2026-03"].open_underpaid_cents, by_key["AETNA", "2026-03"].recovered_cents) == (1400, 0)
    assert (by_key["AETNA", "2026-04"].open_underpaid_cents, by_key["AETNA", "2026-04"].recovered_cents) == (300, 0)


def test_discrepancies_are_every_one_raised_on_the_claims_by_kind(db: sqlite3.Connection) -> None:
    by_key = rows_by_key(scorecard(db))
    march, april = by_key["AETNA", "2026-03"], by_key["AETNA", "2026-04"]
    assert [kind for kind, _ in march.kinds] == list(DiscrepancyKind.__args__)  # type: ignore[attr-defined]
    assert (march.raised("secondary_underpaid"), march.discrepancies) == (3, 3)
    assert (april.raised("secondary_underpaid"), april.discrepancies) == (2, 2)  # D's superseded one too
    assert by_key["CIGNA", "2026-03"].discrepancies == by_key["CIGNA", "2026-04"].discrepancies == 0
    # U's coverage_unknown is on no scorecard: U has no secondary payer to count it for.
    assert sum(row.raised("coverage_unknown") for row in scorecard(db)) == 0


def test_the_median_days_from_the_primarys_adjudication_to_the_secondarys(db: sqlite3.Connection) -> None:
    by_key = rows_by_key(scorecard(db))
    assert by_key["AETNA", "2026-03"].median_days == Decimal("3.5")  # 2, 3, 4, 10
    assert by_key["AETNA", "2026-04"].median_days == Decimal("8.5")  # 3, 14; E not answered
    assert by_key["CIGNA", "2026-03"].median_days == Decimal(1)
    assert by_key["CIGNA", "2026-04"].median_days is None


# AETNA's duplicate-claim notice for CLM-2026-0201, an 835 of 2026-04-10: a denial (CLP02 4) with
# CARC 18 on its line, that does not say whether AETNA is the primary or the secondary.
NOTICE_835 = (
    "~\n".join(
        [
            "ISA*00*          *00*          *ZZ*AETNA          *ZZ*RIVERBEND01    *260410*0600*^*00501*000000402*0*P*:",
            "GS*HP*AETNA*RIVERBEND01*20260410*0600*402*X*005010X221A1",
            "ST*835*0001",
            "BPR*H*0*C*NON************20260410",
            "TRN*1*AE2604100201*1760000000",
            "DTM*405*20260410",
            "N1*PR*AETNA LIFE INSURANCE COMPANY",
            "N3*PO BOX 14079",
            "N4*LEXINGTON*KY*405124079",
            "REF*2U*AETNA",
            "PER*BL*EDI SUPPORT*TE*8004515437",
            "N1*PE*RIVERBEND FAMILY MEDICINE*XX*1234567893",
            "LX*1",
            "CLP*CLM-2026-0201*4*150*0**12*AE2604100201*11*1",
            "NM1*QC*1*SAMPLE*PATIENT*A***MI*XJB000000201",
            "SVC*HC:99214*150*0**1",
            "DTM*472*20260302",
            "CAS*OA*18*150",
            "REF*6R*0201-1",
            "SE*18*0001",
            "GE*1*402",
            "IEA*1*000000402",
        ]
    )
    + "~\n"
)


def test_x12_denials_take_their_role_from_the_claim_and_an_835_duplicate_notice_is_ignored(tmp_path: Path) -> None:
    """examples/coverage: the office's 837 names AETNA secondary; BCBS-TX's 835 (03-12) does not
    say; AETNA's 835 (03-24) pays 10.00 on 0201 and denies 0202 (CO-96, CLP02 4: its role from the
    837). Then AETNA's duplicate-claim notice for 0201 (04-10), which the worker ignores."""
    topics = Topics()
    for name in ("claims-2026-03-03.837", "remittance-2026-03-12-bcbstx.835", "remittance-2026-03-24-aetna.835"):
        topics.send("remittance.x12", (COVERAGE / name).read_text())
    topics.send("remittance.x12", NOTICE_835)
    store = Store(tmp_path / "ui.sqlite3", "")
    store.ingest(topics.records)
    store.close()
    with reading(Files(tmp_path / "ui.sqlite3", tmp_path / "none.sqlite3"), with_work=False) as db:
        claims = {claim.claim_id: claim for claim in scorecard_claims(db)}
        [row] = scorecard(db)
    first, second = claims["CLM-2026-0201"], claims["CLM-2026-0202"]
    assert (first.payer, first.month, first.paid_cents, first.days_to_secondary) == ("AETNA", "2026-03", 1000, 12)
    assert first.secondary_adjudicated == topics.engine.claims["CLM-2026-0201"].secondary.adjudicated_at.date()
    assert (second.secondary_adjudicated, second.paid_cents) == (date(2026, 3, 24), 0)  # the denial answered
    # AETNA: 0201 expected 10.00 (paid in full), 0202 expected nothing once AETNA denied it.
    assert (row.payer, row.month, *figures(row), row.median_days) == ("AETNA", "2026-03", 2, 2, 1000, 1000, 0, 0, 12)


# ---- the example day ----------------------------------------------------------------------------


@pytest.fixture
def example(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    store = Store(tmp_path / "day.sqlite3", "")
    store.ingest(example_day().records)
    store.close()
    work.connect_work(tmp_path / "work.sqlite3").close()
    connection = reading(Files(tmp_path / "day.sqlite3", tmp_path / "work.sqlite3"))
    yield connection
    connection.close()


def test_the_example_days_ready_claims_are_counted_as_the_worker_settled_them(example: sqlite3.Connection) -> None:
    claims = {claim.claim_id: claim for claim in scorecard_claims(example)}
    ready = example.execute(
        "SELECT c.claim_id, m.value FROM claims c JOIN outcomes o ON o.event_id = c.latest_event_id "
        "JOIN messages m ON m.topic = o.topic AND m.partition = o.partition AND m.offset = o.offset "
        "WHERE o.topic = 'billing.ready' AND o.kind = 'ready'"
    ).fetchall()
    checked = 0
    for row in ready:
        event = json.loads(row["value"])
        if event["secondary_payer_id"] is None:
            assert row["claim_id"] not in claims
            continue
        claim = claims[row["claim_id"]]
        assert (claim.payer, claim.month) == (event["secondary_payer_id"], "2026-03"), row["claim_id"]
        assert claim.expected_cents == int(Decimal(event["expected_secondary_paid"]) * 100), row["claim_id"]
        assert claim.paid_cents == int(Decimal(event["secondary_paid"]) * 100), row["claim_id"]
        checked += 1
    assert checked >= 20
    # 0023: AETNA's duplicate-claim notice after the ready event (examples/README.md) paid nothing.
    assert claims["CLM-2026-0023"].paid_cents == 1060


def test_the_example_days_open_underpayment_is_the_queues(example: sqlite3.Connection) -> None:
    rows = scorecard(example)
    assert scorecard_payers(example) == ["AETNA", "CIGNA", "HUMANA", "MEDICARE", "MEDIGAP-G", "TXMCD", "UMR"]
    for payer in scorecard_payers(example):
        wanted = QueueFilter(secondary_payer=payer, kind="secondary_underpaid")
        shortfall = sum(-(item.difference_cents or 0) for item in queue.open_discrepancies(example, wanted))
        assert sum(row.open_underpaid_cents for row in rows if row.payer == payer) == shortfall, payer
    aetna = rows_by_key(rows)["AETNA", "2026-03"]
    assert aetna.open_underpaid_cents == 500  # 0013: 14.00 expected, 9.00 paid
    # 0019 (no primary EOB), 0036 (no secondary), 0038 (no primary), 0039 (unknown) are on no scorecard.
    placed = {claim.claim_id for claim in scorecard_claims(example)}
    assert not placed & {"CLM-2026-0019", "CLM-2026-0036", "CLM-2026-0038", "CLM-2026-0039"}
    assert sum(row.claims for row in rows) == len(placed)


# ---- the chart ---------------------------------------------------------------------------------


def bars(svg: str) -> list[ET.Element]:
    """The chart's bars (the legend's swatches have no series)."""
    return [rect for rect in ET.fromstring(svg).iter(f"{SVG}rect") if rect.get("data-series")]


def test_the_chart_has_a_bar_per_month_and_series_in_proportion(db: sqlite3.Connection) -> None:
    svg = str(chart_svg(scorecard(db, "AETNA")))
    found = {(bar.get("data-month"), bar.get("data-series")): bar for bar in bars(svg)}
    assert {key: int(bar.get("data-cents", "")) for key, bar in found.items()} == {
        ("2026-03", "expected"): 4000,
        ("2026-03", "paid"): 2600,
        ("2026-04", "expected"): 4000,
        ("2026-04", "paid"): 1700,
    }
    scales = {float(bar.get("height", "")) / int(bar.get("data-cents", "")) for bar in found.values()}
    assert max(scales) - min(scales) < 1e-6  # one scale for every bar
    march = found["2026-03", "expected"]
    assert march.findtext(f"{SVG}title") == "2026-03 expected: 40.00"
    assert float(march.get("y", "")) + float(march.get("height", "")) == pytest.approx(
        float(found["2026-04", "paid"].get("y", "")) + float(found["2026-04", "paid"].get("height", ""))
    )  # every bar stands on the axis


def test_the_chart_is_accessible_and_labelled_and_needs_nothing_outside(db: sqlite3.Connection) -> None:
    svg = str(chart_svg(scorecard(db, "AETNA")))
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert root.get("aria-label", "").startswith("Expected and paid secondary payments by month")
    assert "AETNA: 2026-03: expected 40.00, paid 26.00; 2026-04: expected 40.00, paid 17.00" in root.get(
        "aria-label", ""
    )
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert {"Expected", "Paid by the secondary", "Amount (USD)", "2026-03", "2026-04"} <= set(texts)
    assert "Month of the primary EOB's adjudication (UTC)" in texts
    assert "<script" not in svg
    assert re.findall(r"https?://[^\"]+", svg) == ["http://www.w3.org/2000/svg"]  # the namespace only


def test_the_chart_of_every_payer_is_each_months_total(db: sqlite3.Connection) -> None:
    found = {
        (bar.get("data-month"), bar.get("data-series")): bar.get("data-cents") for bar in bars(chart_svg(scorecard(db)))
    }
    assert found == {
        ("2026-03", "expected"): "5000",  # AETNA 40.00 + CIGNA 10.00
        ("2026-03", "paid"): "3600",
        ("2026-04", "expected"): "6000",
        ("2026-04", "paid"): "1700",
    }


def test_the_chart_of_nothing_says_so() -> None:
    root = ET.fromstring(str(chart_svg([])))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "No claims on the scorecard for no secondary payer"
    assert not bars(chart_svg([]))


def test_chart_text_is_escaped() -> None:
    row = ScorecardRow("<b>&PAYER", '2026-03"', 1, 0, 100, 0, 0, 0, tuple((kind, 0) for kind in KINDS), None)
    svg = str(chart_svg([row]))
    root = ET.fromstring(svg)  # still well-formed
    assert "<b>" not in svg
    assert root.get("aria-label", "").startswith("Expected and paid")
    assert "<b>&PAYER" in root.get("aria-label", "")
    assert bars(svg)[0].get("data-month") == '2026-03"'


# ---- CSV ------------------------------------------------------------------------------------------


def test_the_scorecard_csv_reads_back_with_its_figures(db: sqlite3.Connection) -> None:
    lines = list(csv.reader(io.StringIO(scorecard_csv(scorecard(db)))))
    assert lines[0] == list(SCORECARD_COLUMNS)
    assert lines[0][9:] == list(DiscrepancyKind.__args__)  # type: ignore[attr-defined]
    table = [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]
    assert len(table) == 4
    march = table[0]
    assert {name: march[name] for name in SCORECARD_COLUMNS[:9]} == {
        "secondary_payer": "AETNA",
        "month": "2026-03",
        "claims": "4",
        "answered": "4",
        "expected": "40.00",
        "paid": "26.00",
        "open_underpayment": "5.00",
        "recovered": "8.00",
        "median_days": "3.5",
    }
    assert (march["secondary_underpaid"], march["line_mismatch"]) == ("3", "0")
    assert (table[3]["secondary_payer"], table[3]["month"], table[3]["paid"], table[3]["median_days"]) == (
        "CIGNA",
        "2026-04",
        "0.00",
        "",
    )


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tX", "\rX", '=HYPERLINK("http://x")'])
def test_a_text_cell_that_looks_like_a_formula_is_neutralised(text: str) -> None:
    assert csv_cell(text) == "'" + text


def test_plain_text_and_numbers_are_left_alone() -> None:
    assert [csv_cell(value) for value in ("AETNA", "CLM-1", "", None, 3, -3, Decimal("-5.00"), Decimal("3.5"))] == [
        "AETNA",
        "CLM-1",
        "",
        "",
        "3",
        "-3",
        "-5.00",
        "3.5",
    ]


def test_a_payer_id_that_looks_like_a_formula_is_neutralised_in_the_scorecard_csv() -> None:
    kinds = tuple((kind, 0) for kind in KINDS)
    row = ScorecardRow("=cmd|'/c calc'!A1", "2026-03", 1, 1, 1000, 500, 500, 0, kinds, Decimal(-2))
    [_, line] = list(csv.reader(io.StringIO(scorecard_csv([row]))))
    assert line[:9] == ["'=cmd|'/c calc'!A1", "2026-03", "1", "1", "10.00", "5.00", "5.00", "0.00", "-2"]


def test_the_queue_csv_has_each_discrepancy_with_its_work(files: Files, db: sqlite3.Connection) -> None:
    items = queue.open_discrepancies(db, QueueFilter(kind="secondary_underpaid", status="any"), worked=True)
    text = queue_csv(items)
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == [
        "claim_id",
        "discrepancy_id",
        "primary_payer",
        "secondary_payer",
        "tertiary_payer",
        "kind",
        "blocking",
        "raised_at",
        "expected",
        "actual",
        "difference",
        "action",
        "assignee",
        "status",
        "resolution",
        "recovered",
    ]
    table = {line[0]: dict(zip(lines[0], line, strict=True)) for line in lines[1:]}
    assert set(table) == {"CLM-A", "CLM-C", "CLM-H", "CLM-D"}
    c = table["CLM-C"]
    assert (c["primary_payer"], c["secondary_payer"], c["tertiary_payer"], c["kind"], c["blocking"]) == (
        "BCBS-TX",
        "AETNA",
        "",
        "secondary_underpaid",
        "yes",
    )
    assert datetime.fromisoformat(c["raised_at"]) == datetime(2026, 3, 20, 9, tzinfo=UTC)
    assert (c["expected"], c["actual"], c["difference"]) == ("10.00", "2.00", "-8.00")  # numbers: no quote
    assert c["action"].startswith("Appeal")
    assert (c["status"], c["resolution"], c["recovered"]) == ("resolved", "recovered", "8.00")
    a = table["CLM-A"]  # in progress, nobody's
    assert (a["assignee"], a["status"], a["resolution"], a["recovered"]) == ("", "in_progress", "", "")
    h = table["CLM-H"]  # written off
    assert (h["assignee"], h["status"], h["resolution"], h["recovered"]) == ("", "resolved", "written_off", "")


def test_the_queue_csv_neutralises_formulas_in_claim_ids_payers_and_actions(db: sqlite3.Connection) -> None:
    [item] = queue.claim_discrepancies(db, "CLM-A")
    forged = replace(
        item, claim_id="=EVIL()", primary_payer_id="+PAYER", action="@SUM(A1:A9)", assignee="-lead",
        work_status="in_progress",
    )  # fmt: skip
    [_, line] = list(csv.reader(io.StringIO(queue_csv([forged]))))
    assert (line[0], line[2], line[11], line[12]) == ("'=EVIL()", "'+PAYER", "'@SUM(A1:A9)", "'-lead")
    assert line[10] == "-5.00"  # the difference is a number


# ---- the page's template ------------------------------------------------------------------------


def page(db: sqlite3.Connection, payer: str | None, **extra: object) -> str:
    return (
        pages.templates()
        .get_template("scorecard.html")
        .render(reader=ReaderStatus(), now=NOW, user=None, csrf="", **scorecard_page(db, payer), **extra)
    )


def test_the_page_shows_the_chosen_payers_months_chart_and_csv_link(db: sqlite3.Connection) -> None:
    html = page(db, "AETNA")
    assert '<select name="payer">' in html
    assert '<option value="AETNA" selected>AETNA</option>' in html
    assert '<option value="CIGNA">CIGNA</option>' in html
    assert '<a id="scorecard-csv" href="/scorecard.csv?payer=AETNA" download>Download CSV</a>' in html
    assert re.findall(r'<tr data-payer="([^"]+)" data-month="([^"]+)">', html) == [
        ("AETNA", "2026-03"),
        ("AETNA", "2026-04"),
    ]
    table = html[html.index('<table id="scorecard">') :]
    march = table[table.index('data-month="2026-03"') : table.index('data-month="2026-04"')]
    assert '<td class="money expected">40.00</td>' in march
    assert '<td class="money paid">26.00</td>' in march
    assert ">5.00</a></td>" in march  # open underpayment, a link to those in the queue
    assert '<td class="money recovered positive">8.00</td>' in march
    assert '<td class="money median-days">3.5</td>' in march
    assert '<span class="kind" data-kind="secondary_underpaid" data-count="3">' in march
    assert 'role="img"' in html
    assert html.count('data-series="expected" data-cents=') == 2  # AETNA's two months only
    assert '<td class="money claims">7</td>' in html  # the total of the two months


def test_the_page_without_a_payer_shows_every_payer_and_the_month_totals(db: sqlite3.Connection) -> None:
    html = page(db, None)
    assert '<option value="" selected>all secondary payers</option>' in html
    assert '<a id="scorecard-csv" href="/scorecard.csv" download>Download CSV</a>' in html
    assert len(re.findall(r"<tr data-payer=", html)) == 4
    assert 'data-month="2026-03" data-series="expected" data-cents="5000"' in html
    assert '<a href="/scorecard?payer=CIGNA">CIGNA</a>' in html


def test_the_csv_link_is_url_encoded_and_the_page_layers_link_wins(db: sqlite3.Connection) -> None:
    html = page(db, "BLUE CROSS & CO")
    assert 'href="/scorecard.csv?payer=BLUE+CROSS+%26+CO"' in html
    assert '<option value="BLUE CROSS &amp; CO" selected>BLUE CROSS &amp; CO (no claims)</option>' in html
    assert "No claims on the scorecard for BLUE CROSS &amp; CO." in html
    linked = page(db, "AETNA", csv_link="/scorecard.csv?payer=AETNA&x=1")
    assert 'href="/scorecard.csv?payer=AETNA&amp;x=1"' in linked
