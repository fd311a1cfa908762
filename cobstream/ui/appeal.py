"""The appeal letter to a claim's secondary payer: for a secondary that paid less than its COB
method gives (`secondary_underpaid`) or that asked for the primary's EOB it already had
(`missing_primary_eob_denial`), the request to reprocess the claim, with the primary's EOB it
rests on, the service lines, the expected payment worked out line by line, and the totals.

This module owns the letter's content (`appeal_letter` builds an `AppealLetter` from a claim's
explanation, `models.explain.claim.ClaimExplanation`), its printable HTML page
(`render_appeal_html`, templates/appeal.html) and its PDF (`appeal_pdf`, reportlab). Every figure
is the explanation's, the worked-out steps are `models.explain.formulas`' as `cobstream explain`
shows them: nothing here computes a figure, and a figure the explanation does not give is shown
as absent. Nothing here logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from io import BytesIO
from typing import Any, NamedTuple
from xml.sax.saxutils import escape

import jinja2
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import letter as LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    HRFlowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from models.explain.claim import ClaimExplanation, ClaimTotals, EobSummary, SecondaryTerms
from models.explain.discrepancies import DiscrepancyExplanation
from models.explain.formulas import Step
from models.explain.lines import LineExplanation

__all__ = [
    "APPEALABLE",
    "AppealLetter",
    "EobReference",
    "LetterLine",
    "NotAppealable",
    "appeal_letter",
    "appeal_pdf",
    "appealable",
    "figure",
    "render_appeal_html",
]

APPEALABLE = ("secondary_underpaid", "missing_primary_eob_denial")
# The steps of a line that say how its expected secondary payment comes about (the ceiling, the
# patient's share and the write-off that follow are the provider's own business, not the payer's).
WORKED_STEPS = ("secondary benefit B2", "expected secondary payment S")
ABSENT = "—"  # a figure the explanation does not give
KIND_WORDS = {
    "secondary_underpaid": "secondary payment below the amount its COB method gives",
    "missing_primary_eob_denial": "secondary denial for a missing primary EOB",
}
SYMBOLS = (
    ("PR1", "the balance the primary left: the patient responsibility on the primary's EOB"),
    ("P1", "what the primary paid"),
    ("A1", "the primary's allowed amount"),
    ("A2", "the secondary's allowable"),
    ("d2, r2, k2", "the secondary's deductible, coinsurance rate (its share of A2) and copay"),
    ("B2", "what the secondary would pay as if it were primary (its normal benefit)"),
    ("S", "the expected secondary payment"),
)


class NotAppealable(Exception):
    """No appeal letter for this claim: `reason` says why, in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class EobReference:
    """One EOB the letter refers to: who sent it, its event id, when it was adjudicated, what it paid."""

    payer_id: str
    event_id: str
    adjudicated_at: datetime
    paid: Decimal


@dataclass(frozen=True)
class LetterLine:
    """One service line as the letter shows it; None: the explanation does not give that figure."""

    line_id: str
    procedure_code: str | None
    charge: Decimal
    primary_allowed: Decimal
    primary_paid: Decimal
    secondary_allowable: Decimal | None
    allowable_source: str | None  # where the secondary allowable came from, in words
    expected_secondary_paid: Decimal
    secondary_paid: Decimal | None  # what the secondary paid on the line; None: not known
    off: bool  # the discrepancy names the line: paid off its expected amount beyond the tolerance
    worked: tuple[Step, ...]  # how the expected payment comes about (B2, then S)


@dataclass(frozen=True)
class AppealLetter:
    """Everything the letter says; its words are built here once, for the HTML page and the PDF."""

    claim_id: str
    kind: str
    kind_words: str
    discrepancy_event_id: str
    raised_at: datetime
    prepared_by: str
    prepared_at: datetime
    primary: EobReference
    secondary_payer_id: str
    secondary: EobReference | None  # the secondary's EOB, when one is in
    cob_method: str
    method_meaning: str
    lines: tuple[LetterLine, ...]
    total_charge: Decimal
    total_primary_paid: Decimal
    expected: Decimal | None  # the expected secondary payment, as the discrepancy says it
    paid: Decimal | None  # what the secondary paid
    difference: Decimal | None  # paid less expected
    why: str

    @property
    def title(self) -> str:
        return f"Appeal: claim {self.claim_id}"

    @property
    def salutation(self) -> str:
        return f"To the claims appeals and reprocessing department of {self.secondary_payer_id}:"

    @property
    def enclosure(self) -> str:
        return f"{_eob_words(self.primary)}."

    @property
    def subject(self) -> str:
        if self.kind == "missing_primary_eob_denial":
            return f"Claim {self.claim_id}: request to reprocess as secondary payer with the primary EOB"
        return f"Claim {self.claim_id}: request to reprocess the secondary payment under its COB method"

    @property
    def request(self) -> str:
        """The request in billing words for the letter's kind."""
        p, s, eob = self.primary, self.secondary_payer_id, _eob_words(self.primary)
        method = f"its coordination of benefits method, {self.cob_method} ({self.method_meaning})"
        due = figure(-self.difference) if self.difference is not None else ABSENT
        if self.kind == "missing_primary_eob_denial":
            return (
                f"{s} processed claim {self.claim_id} as secondary payer without the primary payer's EOB and paid "
                f"{figure(self.paid)}. {p.payer_id} adjudicated the claim as primary: {eob} is enclosed and "
                f"referenced below. We ask {s} to reprocess the claim with that EOB under {method}, and to pay the "
                f"expected secondary payment of {figure(self.expected)}, {due} more than paid, as worked out line "
                "by line below."
            )
        return (
            f"{s} paid {figure(self.paid)} as secondary payer on claim {self.claim_id}. Under {method}, the "
            f"primary's adjudication in {eob} gives an expected secondary payment of {figure(self.expected)}, as "
            f"worked out line by line below. We ask {s} to reprocess the claim under its COB method with the "
            f"primary EOB and to pay the difference of {due}."
        )


def _eob_words(eob: EobReference) -> str:
    return f"{eob.payer_id}'s EOB {eob.event_id} of {day(eob.adjudicated_at)} (paid {figure(eob.paid)})"


def figure(value: Decimal | None) -> str:
    """An amount with 2 decimals, or the dash that says the explanation does not give it."""
    return ABSENT if value is None else f"{value:.2f}"


def day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def long_date(moment: datetime) -> str:
    """A letter's date in words, whatever the locale: March 24, 2026."""
    return f"{MONTHS[moment.month - 1]} {moment.day}, {moment.year}"


def appealable(found: ClaimExplanation) -> DiscrepancyExplanation | None:
    """The claim's first discrepancy that an appeal letter answers, if any."""
    return next((d for d in found.discrepancies if d.kind in APPEALABLE), None)


def appeal_letter(
    found: ClaimExplanation,
    discrepancy: DiscrepancyExplanation | None,
    discrepancy_event_id: str,
    raised_at: datetime,
    prepared_by: str,
    prepared_at: datetime,
) -> AppealLetter:
    """The appeal letter for one discrepancy of the claim (`discrepancy_event_id` and `raised_at`:
    the discrepancy event the work queue shows); NotAppealable when there is nothing to appeal."""
    basis = _appealed(found, discrepancy)
    discrepancy, totals = basis.discrepancy, basis.totals
    return AppealLetter(
        claim_id=found.claim_id,
        kind=discrepancy.kind,
        kind_words=KIND_WORDS[discrepancy.kind],
        discrepancy_event_id=discrepancy_event_id,
        raised_at=raised_at,
        prepared_by=prepared_by,
        prepared_at=prepared_at,
        primary=_reference(basis.primary),
        secondary_payer_id=basis.payer,
        secondary=_reference(found.secondary) if found.secondary is not None else None,
        cob_method=basis.terms.cob_method,
        method_meaning=basis.terms.method_meaning,
        lines=tuple(_line(line, discrepancy) for line in found.lines),
        total_charge=totals.total_charge,
        total_primary_paid=totals.primary_paid,
        expected=discrepancy.expected_secondary_paid,
        paid=discrepancy.actual_secondary_paid,
        difference=discrepancy.difference,
        why=discrepancy.why,
    )


class _Basis(NamedTuple):
    """What an appeal rests on, each part known to be there."""

    discrepancy: DiscrepancyExplanation
    primary: EobSummary
    payer: str
    terms: SecondaryTerms
    totals: ClaimTotals


def _appealed(found: ClaimExplanation, discrepancy: DiscrepancyExplanation | None) -> _Basis:
    """What the letter rests on, when a letter can answer the discrepancy; NotAppealable otherwise."""
    if discrepancy is None:
        raise NotAppealable(
            "the claim's current figures carry no discrepancy to appeal (a later EOB may have settled it)"
        )
    if discrepancy.kind not in APPEALABLE:
        raise NotAppealable(
            f"a {discrepancy.kind.replace('_', ' ')} is not a payment to appeal to the secondary payer: "
            f"{discrepancy.action}"
        )
    primary, payer, terms, totals = found.primary, found.secondary_payer_id, found.secondary_terms, found.totals
    if primary is None:
        raise NotAppealable("the claim has no current primary EOB for the letter to rest on")
    if payer is None or terms is None:
        raise NotAppealable("the claim has no secondary payer to send the letter to")
    if totals is None or discrepancy.expected_secondary_paid is None or discrepancy.actual_secondary_paid is None:
        raise NotAppealable("the claim's figures give no expected and paid secondary payment to appeal")
    return _Basis(discrepancy, primary, payer, terms, totals)


def _reference(eob: EobSummary) -> EobReference:
    return EobReference(eob.payer_id, eob.event_id, eob.adjudicated_at, eob.paid)


def _line(line: LineExplanation, discrepancy: DiscrepancyExplanation) -> LetterLine:
    return LetterLine(
        line_id=line.line_id,
        procedure_code=line.procedure_code or None,
        charge=line.charge,
        primary_allowed=line.primary_allowed,
        primary_paid=line.primary_paid,
        secondary_allowable=line.secondary_allowable,
        allowable_source=line.allowable_source_text,
        expected_secondary_paid=line.expected_secondary_paid,
        secondary_paid=line.actual_secondary_paid,
        off=line.line_id in discrepancy.line_ids,
        worked=tuple(step for step in line.steps if step.name in WORKED_STEPS),
    )


# ---- the printable HTML page ---------------------------------------------------------------------


def render_appeal_html(environment: jinja2.Environment, letter: AppealLetter) -> str:
    """The letter as a standalone printable page (templates/appeal.html), rendered in an overlay of
    the work queue's environment (`cobstream.ui.pages.templates()`) that adds the letter's filters;
    the environment given is left as it was."""
    overlay = environment.overlay()
    overlay.filters = {**environment.filters, "figure": figure, "day": day, "stamp": stamp, "long_date": long_date}
    return overlay.get_template("appeal.html").render(letter=letter, symbols=SYMBOLS, absent=ABSENT)


# ---- the PDF ---------------------------------------------------------------------------------------

MARGIN = 0.75 * inch
WIDTH = LETTER[0] - 2 * MARGIN
INK, RULE, SHADE = colors.HexColor("#1f2328"), colors.HexColor("#8c959f"), colors.HexColor("#eef1f4")


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName="Helvetica", fontSize=9.5, leading=13, textColor=INK, spaceAfter=6)
    return {
        "body": base,
        "title": ParagraphStyle("title", base, fontName="Helvetica-Bold", fontSize=14, leading=18, spaceAfter=2),
        "h2": ParagraphStyle("h2", base, fontName="Helvetica-Bold", fontSize=11, leading=14, spaceBefore=8),
        "h3": ParagraphStyle("h3", base, fontName="Helvetica-Bold", fontSize=9.5, spaceBefore=4, spaceAfter=2),
        "small": ParagraphStyle("small", base, fontSize=8, leading=10, spaceAfter=0),
        "cell": ParagraphStyle("cell", base, fontSize=8, leading=10, spaceAfter=0),
        "num": ParagraphStyle("num", base, fontSize=8, leading=10, spaceAfter=0, alignment=TA_RIGHT),
        "head": ParagraphStyle("head", base, fontName="Helvetica-Bold", fontSize=8, leading=10, spaceAfter=0),
        "headnum": ParagraphStyle(
            "headnum", base, fontName="Helvetica-Bold", fontSize=8, leading=10, spaceAfter=0, alignment=TA_RIGHT
        ),
        "label": ParagraphStyle("label", base, fontName="Helvetica-Bold", fontSize=9, leading=12, spaceAfter=0),
        "value": ParagraphStyle("value", base, fontSize=9, leading=12, spaceAfter=0),
        "step": ParagraphStyle("step", base, fontSize=8.5, leading=11, leftIndent=12, spaceAfter=1),
    }


def appeal_pdf(letter: AppealLetter) -> bytes:
    """The letter as a PDF on Letter pages, in the built-in Helvetica fonts; the same letter always
    gives the same bytes (reportlab's invariant mode: fixed dates and document id)."""
    out = BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=LETTER,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=letter.title,
        author="",
        subject=letter.subject,
        creator="cobstream",
        invariant=1,
    )

    def footer(canvas: Canvas, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(RULE)
        canvas.drawString(MARGIN, 0.45 * inch, f"{letter.title}, prepared {day(letter.prepared_at)}")
        canvas.drawRightString(LETTER[0] - MARGIN, 0.45 * inch, f"page {canvas.getPageNumber()}")
        canvas.restoreState()

    doc.build(_story(letter, _styles()), onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _story(letter: AppealLetter, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    return [
        *_letterhead(letter, st),
        Paragraph(_text(letter.salutation), st["body"]),
        Paragraph(_text(letter.request), st["body"]),
        Paragraph("The EOBs", st["h2"]),
        _eobs_table(letter, st),
        Paragraph("Coordination of benefits method", st["h2"]),
        Paragraph(f"<b>{_text(letter.cob_method)}</b>: {_text(letter.method_meaning)}", st["body"]),
        Paragraph("Service lines", st["h2"]),
        _lines_table(letter, st),
        Paragraph(
            f"* the line was paid off its expected amount. {ABSENT} the EOBs do not give the figure.", st["small"]
        ),
        *_worked(letter, st),
        KeepTogether([Paragraph("Totals", st["h2"]), _totals_table(letter, st)]),
        *_closing(letter, st),
    ]


def _text(words: str) -> str:
    """Plain words made safe for reportlab's paragraph markup."""
    return escape(words)


def _letterhead(letter: AppealLetter, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    return [
        Paragraph(_text(letter.title), st["title"]),
        Paragraph(_text(long_date(letter.prepared_at)), st["small"]),
        HRFlowable(width="100%", thickness=1.5, color=INK, spaceBefore=4, spaceAfter=10),
        _facts(
            [
                ("To", f"{letter.secondary_payer_id}, claims appeals and reprocessing"),
                ("From", letter.prepared_by),
                ("Claim", letter.claim_id),
                ("Primary payer", letter.primary.payer_id),
                ("Secondary payer", letter.secondary_payer_id),
                ("Re", letter.subject),
            ],
            st,
        ),
        Spacer(1, 10),
    ]


EOB_ROWS = ("Payer", "EOB (event id)", "Adjudicated", "Paid")


def _eob_column(eob: EobReference) -> list[str]:
    return [eob.payer_id, eob.event_id, day(eob.adjudicated_at), figure(eob.paid)]


def _eobs_table(letter: AppealLetter, st: dict[str, ParagraphStyle]) -> Table:
    """The primary's EOB beside the secondary's (or that none is in)."""
    secondary = letter.secondary
    none = [f"{letter.secondary_payer_id}: none received", ABSENT, ABSENT, ABSENT]
    columns = zip(EOB_ROWS, _eob_column(letter.primary), _eob_column(secondary) if secondary else none, strict=True)
    rows = [("", "Primary EOB", "Secondary EOB"), *columns]
    cells = [
        [Paragraph(_text(v), st["head" if i == 0 or n == 0 else "cell"]) for i, v in enumerate(row)]
        for n, row in enumerate(rows)
    ]
    third = (WIDTH - 1.3 * inch) / 2
    table = Table(cells, colWidths=[1.3 * inch, third, third], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _facts(rows: list[tuple[str, str]], st: dict[str, ParagraphStyle]) -> Table:
    cells = [[Paragraph(_text(label), st["label"]), Paragraph(_text(value), st["value"])] for label, value in rows]
    table = Table(cells, colWidths=[1.3 * inch, WIDTH - 1.3 * inch], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
    return table


LINE_COLUMNS = (
    ("Line", 0.45, False),
    ("Procedure", 0.75, False),
    ("Charge", 0.65, True),
    ("Primary allowed", 0.7, True),
    ("Primary paid", 0.65, True),
    ("Secondary allowable", 0.85, True),
    ("Allowable from", 1.45, False),
    ("Expected secondary", 0.8, True),
    ("Secondary paid", 0.8, True),
)


def _lines_table(letter: AppealLetter, st: dict[str, ParagraphStyle]) -> Table:
    head = [Paragraph(name, st["headnum" if num else "head"]) for name, _, num in LINE_COLUMNS]
    rows: list[list[Any]] = [head]
    for line in letter.lines:
        values = [
            line.line_id + (" *" if line.off else ""),
            line.procedure_code or ABSENT,
            figure(line.charge),
            figure(line.primary_allowed),
            figure(line.primary_paid),
            figure(line.secondary_allowable),
            line.allowable_source or ABSENT,
            figure(line.expected_secondary_paid),
            figure(line.secondary_paid),
        ]
        rows.append(
            [Paragraph(_text(v), st["num" if c[2] else "cell"]) for v, c in zip(values, LINE_COLUMNS, strict=True)]
        )
    total = ["Claim total", "", figure(letter.total_charge), "", figure(letter.total_primary_paid), "", ""]
    total += [figure(letter.expected), figure(letter.paid)]
    rows.append(
        [Paragraph(_text(v), st["headnum" if c[2] else "head"]) for v, c in zip(total, LINE_COLUMNS, strict=True)]
    )
    scale = WIDTH / sum(width for _, width, _ in LINE_COLUMNS)
    table = Table(rows, colWidths=[width * scale for _, width, _ in LINE_COLUMNS], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, INK),
                ("SPAN", (0, -1), (1, -1)),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _worked(letter: AppealLetter, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The expected payment worked out per line, as `cobstream explain` shows its steps."""
    out: list[Flowable] = [
        Paragraph("Expected secondary payment, worked out", st["h2"]),
        Paragraph("; ".join(f"<b>{_text(symbol)}</b> {_text(words)}" for symbol, words in SYMBOLS) + ".", st["small"]),
        Spacer(1, 4),
    ]
    for line in letter.lines:
        code = f" ({line.procedure_code})" if line.procedure_code else ""
        heading = Paragraph(_text(f"Line {line.line_id}{code}"), st["h3"])
        steps = [_step(step, st) for step in line.worked] or [
            [Paragraph(f"{ABSENT} the explanation gives no steps for this line.", st["step"])]
        ]
        out.append(KeepTogether([heading, *steps[0]]))  # a line's heading stays with its first step
        out += [KeepTogether(rest) for rest in steps[1:]]
    return out


def _step(step: Step, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """One step as `cobstream explain` shows it: its name, formula, numbers and result, and why."""
    lhs, _, numbers = step.with_numbers.partition(" = ")
    worked = f"{_text(step.formula)}<br/>{_text(lhs)} = {_text(numbers)} = <b>{figure(step.result)}</b>"
    return [
        Paragraph(f"<b>{_text(step.name)}</b>", st["step"]),
        Paragraph(worked, st["step"]),
        Paragraph(f"<i>{_text(step.why)}</i>", st["step"]),
    ]


def _totals_table(letter: AppealLetter, st: dict[str, ParagraphStyle]) -> Table:
    rows = [
        ("Expected secondary payment", figure(letter.expected)),
        ("Paid by the secondary", figure(letter.paid)),
        ("Difference (paid less expected)", figure(letter.difference)),
    ]
    last = len(rows) - 1
    cells = [
        [
            Paragraph(_text(label), st["head" if n == last else "cell"]),
            Paragraph(_text(value), st["headnum" if n == last else "num"]),
        ]
        for n, (label, value) in enumerate(rows)
    ]
    table = Table(cells, colWidths=[2.6 * inch, 1.1 * inch], hAlign="LEFT")
    table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE)]))
    return table


def _closing(letter: AppealLetter, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    reference = (
        f"Discrepancy {letter.discrepancy_event_id} ({letter.kind}: {letter.kind_words}), raised "
        f"{stamp(letter.raised_at)}. Why: {letter.why}."
    )
    return [
        Paragraph("Our reference", st["h2"]),
        Paragraph(_text(reference), st["small"]),
        Spacer(1, 12),
        Paragraph("Sincerely,", st["body"]),
        Paragraph(_text(letter.prepared_by), st["body"]),
        Spacer(1, 6),
        Paragraph(f"<b>Enclosure:</b> {_text(letter.enclosure)}", st["small"]),
    ]
