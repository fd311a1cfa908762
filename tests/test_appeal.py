"""The appeal letter (`cobstream.ui.appeal`): claims run through the real engine, their letter's
figures the explanation's, its printable page and its PDF (no broker)."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pypdf
import pytest
from builders import adj, eob, fee, line, profile, secondary_line

from cobstream.engine import Engine
from cobstream.shared.explanation import explained, run_received
from cobstream.ui.appeal import (
    ABSENT,
    APPEALABLE,
    AppealLetter,
    NotAppealable,
    appeal_letter,
    appeal_pdf,
    appealable,
    render_appeal_html,
)
from cobstream.ui.pages import templates
from models.contract.outcomes import PaymentDiscrepancy
from models.explain.claim import ClaimExplanation

PREPARED_AT = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
PREPARED_BY = "Secondary billing team"


# ---- claims through the engine --------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A claim's explanation after its messages, and the discrepancy the engine last raised for it."""

    found: ClaimExplanation
    raised: PaymentDiscrepancy

    def letter(self, prepared_by: str = PREPARED_BY) -> AppealLetter:
        discrepancy = appealable(self.found)
        return appeal_letter(
            self.found, discrepancy, self.raised.event_id, self.raised.produced_at, prepared_by, PREPARED_AT
        )


def message(topic: str, value: dict[str, Any]) -> tuple[str, str, bytes]:
    key = value.get("claim_id") or value["payer_id"]
    if topic == "reference.fee-schedule":
        key = f"{value['payer_id']}|{value['procedure_code']}|{','.join(sorted(value['modifiers']))}"
    return topic, key, json.dumps(value).encode()


def run(claim_id: str, *messages: tuple[str, str, bytes]) -> Claim:
    """The messages received in order, an hour apart, as the worker receives them."""
    records = [(*m, datetime(2026, 3, 24, tzinfo=UTC) + timedelta(hours=n)) for n, m in enumerate(messages)]
    engine = Engine()
    raised = [
        p.value
        for topic, key, raw, at in records
        for p in engine.receive(topic, key, raw, received_at=at)
        if isinstance(p.value, PaymentDiscrepancy)
    ]
    found = explained(engine, claim_id)
    assert found is not None
    assert found == explained(run_received(records, None), claim_id)  # as the work queue replays it
    return Claim(found, raised[-1])


def secondary(event_id: str, claim_id: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    return eob(
        event_id, claim_id=claim_id, payer_id="AETNA", at="2026-03-24T15:00:00Z", secondary_payer_id=None, lines=lines
    )


def reference() -> list[tuple[str, str, bytes]]:
    return [
        message("reference.payers", profile("AETNA")),
        message("reference.fee-schedule", fee("AETNA", "99214", "90.00")),
    ]


@pytest.fixture(scope="module")
def underpaid() -> Claim:
    """BCBS-TX primary, AETNA secondary on lesser_of_allowables: line 1 paid 4.00 of 10.00 expected."""
    return run(
        "CLM-APPEAL-1",
        *reference(),
        message("eob.primary", eob("P-APPEAL-1", claim_id="CLM-APPEAL-1", lines=[line("1"), line("2", code="99213")])),
        message(
            "eob.secondary",
            secondary(
                "S-APPEAL-1", "CLM-APPEAL-1", [secondary_line("1", paid="4.00"), secondary_line("2", paid="10.00")]
            ),
        ),
    )


@pytest.fixture(scope="module")
def missing_primary() -> Claim:
    """AETNA paid nothing and asked for the primary's EOB (CO-16, MA04)."""
    asked = secondary_line(paid="0.00", allowed=None, adjustments=[adj("CO", "16", "150.00")], remarks=["MA04"])
    return run(
        "CLM-APPEAL-2",
        *reference(),
        message("eob.primary", eob("P-APPEAL-2", claim_id="CLM-APPEAL-2")),
        message("eob.secondary", secondary("S-APPEAL-2", "CLM-APPEAL-2", [asked])),
    )


@pytest.fixture(scope="module")
def cob_order() -> Claim:
    """AETNA denied the claim as not the secondary payer (CO-22): a COB order dispute."""
    denied = secondary_line(paid="0.00", allowed=None, adjustments=[adj("CO", "22", "150.00")])
    return run(
        "CLM-APPEAL-3",
        *reference(),
        message("eob.primary", eob("P-APPEAL-3", claim_id="CLM-APPEAL-3")),
        message("eob.secondary", secondary("S-APPEAL-3", "CLM-APPEAL-3", [denied])),
    )


# ---- reading the page and the PDF -------------------------------------------------------------------


class Page(HTMLParser):
    """The text of each element with an id (`#id`) and of each `tr[data-line]` (`tr:<line>`)."""

    VOID = frozenset({"br", "meta", "link", "img", "hr", "input"})
    INLINE = frozenset({"strong", "b", "i", "em", "span", "a"})

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.rows: list[str] = []
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.INLINE:  # a block or a cell separates words, as a browser shows them
            self.handle_data(" ")
        if tag in self.VOID:
            return
        found = dict(attrs)
        name = f"#{found['id']}" if found.get("id") else None
        if tag == "tr" and found.get("data-line"):
            name = f"tr:{found['data-line']}"
            self.rows.append(found["data-line"] or "")
        if name:
            self.text[name] = ""
        self._open.append((tag, name))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.INLINE:
            self.handle_data(" ")
        while self._open:
            opened, _ = self._open.pop()
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, name in self._open:
            if name:
                self.text[name] += data

    def words(self, name: str) -> str:
        return " ".join(self.text[name].split())


def pdf_text(pdf: bytes) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return reader, " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def amount(value: Decimal | None) -> str:
    assert value is not None
    return f"{value:.2f}"


# ---- the letter's content ---------------------------------------------------------------------------


def test_an_underpaid_letter_carries_the_explanations_figures(underpaid: Claim) -> None:
    found, letter = underpaid.found, underpaid.letter()
    discrepancy = appealable(found)
    assert discrepancy is not None
    assert found.totals is not None
    assert found.primary is not None
    assert found.secondary is not None
    assert (letter.claim_id, letter.kind) == ("CLM-APPEAL-1", "secondary_underpaid")
    assert (letter.expected, letter.paid, letter.difference) == (
        found.totals.expected_secondary_paid,
        found.totals.secondary_paid,
        discrepancy.difference,
    )
    assert (letter.expected, letter.paid, letter.difference) == (Decimal("20.00"), Decimal("14.00"), Decimal("-6.00"))
    assert (letter.total_charge, letter.total_primary_paid) == (found.totals.total_charge, found.totals.primary_paid)
    assert (letter.primary.payer_id, letter.primary.event_id, letter.primary.paid) == (
        "BCBS-TX",
        "P-APPEAL-1",
        found.primary.paid,
    )
    assert letter.primary.adjudicated_at == found.primary.adjudicated_at
    assert letter.secondary is not None
    assert (letter.secondary.event_id, letter.secondary.paid) == ("S-APPEAL-1", found.secondary.paid)
    assert letter.secondary_payer_id == "AETNA"
    assert (letter.cob_method, letter.method_meaning) == (
        found.secondary_terms.cob_method,  # type: ignore[union-attr]
        found.secondary_terms.method_meaning,  # type: ignore[union-attr]
    )
    assert letter.why == discrepancy.why  # the team's own next step (`action`) stays off the payer's copy
    assert (letter.discrepancy_event_id, letter.raised_at) == (underpaid.raised.event_id, underpaid.raised.produced_at)


def test_each_line_and_its_worked_out_payment_is_the_explanations(underpaid: Claim) -> None:
    letter = underpaid.letter()
    assert [ln.line_id for ln in letter.lines] == ["1", "2"]
    for mine, theirs in zip(letter.lines, underpaid.found.lines, strict=True):
        assert (mine.procedure_code, mine.charge, mine.primary_allowed, mine.primary_paid) == (
            theirs.procedure_code,
            theirs.charge,
            theirs.primary_allowed,
            theirs.primary_paid,
        )
        assert (mine.secondary_allowable, mine.allowable_source) == (
            theirs.secondary_allowable,
            theirs.allowable_source_text,
        )
        assert (mine.expected_secondary_paid, mine.secondary_paid) == (
            theirs.expected_secondary_paid,
            theirs.actual_secondary_paid,
        )
        assert mine.worked == theirs.steps[:2]  # B2, then S: the steps `cobstream explain` shows
        assert mine.worked[-1].result == theirs.expected_secondary_paid
    assert [ln.off for ln in letter.lines] == [True, False]  # the discrepancy names line 1
    assert letter.lines[0].secondary_paid == Decimal("4.00")
    assert letter.lines[0].worked[-1].with_numbers == "S = max(0, min(20.00, 90.00, min(100.00, 90.00) - 80.00))"


def test_the_underpaid_request_asks_to_reprocess_under_the_method_and_pay_the_difference(underpaid: Claim) -> None:
    request = underpaid.letter().request
    assert request.startswith("AETNA paid 14.00 as secondary payer on claim CLM-APPEAL-1.")
    assert "lesser_of_allowables" in request
    assert "BCBS-TX's EOB P-APPEAL-1 of 2026-03-10 (paid 160.00)" in request
    assert "expected secondary payment of 20.00" in request
    assert request.endswith(
        "reprocess the claim under its COB method with the primary EOB and to pay the difference of 6.00."
    )


def test_a_missing_primary_eob_denial_letter_encloses_the_primary_eob(missing_primary: Claim) -> None:
    found, letter = missing_primary.found, missing_primary.letter()
    assert found.totals is not None
    assert letter.kind == "missing_primary_eob_denial"
    assert (letter.expected, letter.paid, letter.difference) == (
        found.totals.expected_secondary_paid,
        found.totals.secondary_paid,
        Decimal("-10.00"),
    )
    assert "CARC 16 or RARC MA04" in letter.why
    assert "without the primary payer's EOB and paid 0.00" in letter.request
    assert "BCBS-TX's EOB P-APPEAL-2 of 2026-03-10 (paid 80.00) is enclosed" in letter.request
    assert "to pay the expected secondary payment of 10.00" in letter.request
    assert letter.enclosure == "BCBS-TX's EOB P-APPEAL-2 of 2026-03-10 (paid 80.00)."
    assert letter.subject == "Claim CLM-APPEAL-2: request to reprocess as secondary payer with the primary EOB"


# ---- what is not appealed -----------------------------------------------------------------------------


def test_a_cob_order_dispute_is_not_appealable(cob_order: Claim) -> None:
    (dispute,) = cob_order.found.discrepancies
    assert dispute.kind == "cob_order_dispute"
    assert dispute.kind not in APPEALABLE
    assert appealable(cob_order.found) is None
    with pytest.raises(NotAppealable) as refused:
        appeal_letter(
            cob_order.found, dispute, cob_order.raised.event_id, cob_order.raised.produced_at, PREPARED_BY, PREPARED_AT
        )
    assert refused.value.reason.startswith("a cob order dispute is not a payment to appeal to the secondary payer")
    assert "Verify COB order" in refused.value.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"secondary_payer_id": None}, "the claim has no secondary payer to send the letter to"),
        ({"primary": None}, "the claim has no current primary EOB for the letter to rest on"),
    ],
    ids=["no-secondary-payer", "no-primary-eob"],
)
def test_a_claim_without_both_payers_is_not_appealable(underpaid: Claim, change: dict[str, Any], reason: str) -> None:
    found = underpaid.found.model_copy(update=change)
    with pytest.raises(NotAppealable) as refused:
        appeal_letter(found, appealable(found), "E", PREPARED_AT, PREPARED_BY, PREPARED_AT)
    assert refused.value.reason == reason


def test_no_discrepancy_is_not_appealable(underpaid: Claim) -> None:
    with pytest.raises(NotAppealable, match="no discrepancy to appeal") as refused:
        appeal_letter(underpaid.found, None, "E", PREPARED_AT, PREPARED_BY, PREPARED_AT)
    assert refused.value.reason


# ---- the printable page -------------------------------------------------------------------------------


def test_the_page_shows_the_claim_both_payers_each_line_the_method_and_the_primary_eob(underpaid: Claim) -> None:
    letter = underpaid.letter()
    page = Page(render_appeal_html(templates(), letter))
    assert "CLM-APPEAL-1" in page.words("#appeal")
    assert page.words("#claim") == "CLM-APPEAL-1"
    assert "To AETNA" in page.words("#addressing")
    assert "Primary payer BCBS-TX" in page.words("#addressing")
    assert (
        page.words("#primary-eob")
        == "Primary EOB Payer BCBS-TX EOB (event id) P-APPEAL-1 Adjudicated 2026-03-10 Paid 160.00"
    )
    assert "S-APPEAL-1" in page.words("#secondary-eob")
    assert "lesser_of_allowables: both payers together pay at most the lower of the two allowables" in page.words(
        "#method"
    )
    assert page.rows == ["1", "2"]
    assert page.words("tr:1") == "1 * 99214 150.00 100.00 80.00 90.00 AETNA's fee schedule for 99214 10.00 4.00"
    assert page.words("tr:2") == "2 99213 150.00 100.00 80.00 90.00 the allowed amount on AETNA's EOB 10.00 10.00"
    assert page.words("#request") == letter.request


def test_the_page_works_out_the_expected_payment_and_totals(underpaid: Claim) -> None:
    page = Page(render_appeal_html(templates(), underpaid.letter()))
    worked = page.words("#worked")
    assert "Line 1 (99214)" in worked
    assert "S = max(0, min(PR1, B2, min(A1, A2) - P1))" in worked
    assert "S = max(0, min(20.00, 90.00, min(100.00, 90.00) - 80.00)) = 10.00" in worked
    assert "B2 = max(0, round2((90.00 - 0.00) * 1.00) - 0.00) = 90.00" in worked
    assert "ceiling K" not in worked  # the patient's side of the line is not the payer's business
    assert page.words("#totals") == (
        "Totals Expected secondary payment 20.00 Paid by the secondary 14.00 Difference (paid less expected) -6.00"
    )
    assert page.words("#why") == underpaid.found.discrepancies[0].why


def test_the_page_is_standalone_and_printable(underpaid: Claim) -> None:
    html = render_appeal_html(templates(), underpaid.letter())
    assert html.startswith("<!doctype html>")
    assert "<title>Appeal: claim CLM-APPEAL-1</title>" in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", html)  # no external asset, no link
    assert "Discrepancy work queue" not in html  # not base.html's navigation
    assert "@media print" in html
    print_rules = html[html.index("@media print") :]
    assert ".print-hint { display: none; }" in print_rules
    assert 'class="print-hint"' in html


def test_rendering_leaves_the_work_queue_environment_as_it_was(underpaid: Claim) -> None:
    environment = templates()
    before = dict(environment.filters)
    render_appeal_html(environment, underpaid.letter())
    assert environment.filters == before


def test_words_are_escaped_and_an_absent_figure_shows_as_absent(underpaid: Claim) -> None:
    line = underpaid.found.lines[0].model_copy(update={"actual_secondary_paid": None})
    found = underpaid.found.model_copy(update={"lines": (line, underpaid.found.lines[1])})
    letter = appeal_letter(found, appealable(found), "E", PREPARED_AT, "Billing <A&B>", PREPARED_AT)
    html = render_appeal_html(templates(), letter)
    assert "Billing &lt;A&amp;B&gt;" in html
    assert "<A&B>" not in html
    assert Page(html).words("tr:1").endswith(f"10.00 {ABSENT}")
    _, text = pdf_text(appeal_pdf(letter))
    assert "Billing <A&B>" in text


# ---- the PDF ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["underpaid", "missing_primary"])
def test_the_pdf_carries_the_claim_payers_primary_eob_totals_and_method(
    which: str, request: pytest.FixtureRequest
) -> None:
    claim: Claim = request.getfixturevalue(which)
    letter = claim.letter()
    reader, text = pdf_text(appeal_pdf(letter))
    assert len(reader.pages) >= 1
    for expected in (letter.claim_id, "BCBS-TX", "AETNA", letter.primary.event_id, letter.cob_method):
        assert expected in text
    assert f"Expected secondary payment {amount(letter.expected)}" in text
    assert f"Paid by the secondary {amount(letter.paid)}" in text
    assert f"Difference (paid less expected) {amount(letter.difference)}" in text
    for ln in letter.lines:
        assert f"{ln.charge:.2f}" in text
    metadata = reader.metadata
    assert metadata is not None
    assert metadata.title == f"Appeal: claim {letter.claim_id}"
    assert PREPARED_BY not in (metadata.author or "")
    assert reader.pages[0].mediabox.width == pytest.approx(612)  # Letter: 8.5 x 11 in
    assert reader.pages[0].mediabox.height == pytest.approx(792)


def test_two_pdf_builds_are_byte_identical(underpaid: Claim) -> None:
    assert appeal_pdf(underpaid.letter()) == appeal_pdf(underpaid.letter())
