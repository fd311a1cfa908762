"""The payer scorecard and the work queue's CSV exports: how each secondary payer treats the
claims, month by month (`scorecard`), its chart (`chart_svg`, server-side SVG), and the CSV files
the billing team downloads (`scorecard_csv`, `queue_csv`, both through `csv_cell`).

**Which claims.** A claim is on the scorecard of its secondary payer, named as the queue names it
(COVERAGE.md section 1): the payer its current primary EOB names when it states one (a crossover),
or none when it states none; else the secondary of its current submission (the latest received,
unless a void), or none when that lists no secondary; else the payer of its current secondary EOB.
A claim is in the month (UTC, YYYY-MM) its current primary EOB was adjudicated. "Current" is what
the worker holds: the latest EOB received from each side, a reversal withdrawing it until a
corrected EOB comes, a repeated EOB or submission id changing nothing. A claim with no secondary
payer (none, or unknown) or no current primary EOB (none in yet, or reversed and not corrected)
is on no scorecard; it comes on when its coverage is known and its primary EOB stands.

**The figures of a payer's month** (amounts in whole cents):

- *claims*: how many claims; *answered*: how many of them have a current secondary EOB (paid or
  denied).
- *expected*: the sum, over the claims, of the expected secondary payment of the claim's latest
  outcome that states one (`secondary.expected`, a `billing.ready` event, or a discrepancy that
  carries it; a voided ready event does not count, it withdraws a figure). A claim whose
  secondary has not answered yet still counts here, so expected minus paid is not all shortfall.
- *paid*: the sum of the total paid on each claim's current secondary EOB (its lines' paid
  amounts, what the worker reconciles); 0 for a claim whose secondary has not answered or whose
  secondary EOB was reversed.
- *open underpayment*: the sum of the shortfall (expected minus actual) of the claims'
  `secondary_underpaid` discrepancies that are still open (no later claim version supersedes
  them, as in the queue) and that the team has not marked resolved.
- *recovered*: the sum of the amounts the team recorded when resolving one of the claims'
  discrepancies (any kind, open or superseded since) as recovered; only the current status of
  each discrepancy counts, so a resolution reopened later no longer does.
- *discrepancies by kind*: every discrepancy raised on the claims, superseded ones included,
  each discrepancy event once, whenever it was raised (it counts in its claim's month).
- *median days*: over the answered claims, the median of the calendar days (UTC) from the
  current primary EOB's adjudication date to the current secondary EOB's; None when no claim is
  answered.

Every discrepancy, work record and amount of a claim counts on the claim's row: a claim whose
secondary payer changed counts all of its history for the payer it has now. The work file is
read as schema `work` of the connection; when it is not attached, nothing is taken as resolved
or recovered.

A payer's duplicate-claim notice (CARC 18 on every line) is ignored, as the worker ignores it.
Known limits: payer ids are compared as received (no profile `aliases`, as in the queue), so an
835 denial or reversal that does not tell its payer's role takes the role the claim's current
submission gives that very payer id.

**CSV.** Amounts are decimals with two places (`10.00`, `-5.00`), times ISO 8601. A text cell
that a spreadsheet would take for a formula (starting with `=`, `+`, `-`, `@`, a tab or a
carriage return) is prefixed with a single quote; numbers are left as numbers.

Nothing here logs: claim ids and amounts are patient-adjacent.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import cycle, groupby
from typing import Any

from markupsafe import Markup

from cobstream.ui.queue import OPEN_DISCREPANCIES, QueueItem
from cobstream.ui.records import cents_of
from models.cob.claim import EobReceived
from models.contract.outcomes import DiscrepancyKind
from models.contract.topics import DISCREPANCY, READY, REMITTANCE_X12
from models.contract.types import parse_timestamp
from models.remittance.intake import decode_message
from streams.codec import kafka_key_text

KINDS: tuple[str, ...] = DiscrepancyKind.__args__  # type: ignore[attr-defined]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Each claim's EOBs and submissions as the worker took them in: by the time its record was read.
CLAIM_INPUTS = """
SELECT c.topic, c.partition, c.offset, c.seq, c.claim_id, c.role, c.event_id, c.payer_id, c.secondary_payer_id,
       c.states_secondary, c.status, c.adjudicated_at, c.total_paid, c.frequency
FROM claim_inputs c JOIN messages m ON m.topic = c.topic AND m.partition = c.partition AND m.offset = c.offset
WHERE c.problem IS NULL AND c.event_id IS NOT NULL
ORDER BY c.claim_id, m.timestamp_ms, c.topic, c.partition, c.offset, c.seq
"""
# The EOBs that pay nothing, with their messages, message by message.
ZERO_PAID = """
SELECT c.topic, c.partition, c.offset, c.seq, c.event_id, m.key, m.value
FROM claim_inputs c JOIN messages m ON m.topic = c.topic AND m.partition = c.partition AND m.offset = c.offset
WHERE c.problem IS NULL AND c.event_id IS NOT NULL AND c.role IS NOT 'submission' AND CAST(c.total_paid AS REAL) = 0
ORDER BY c.topic, c.partition, c.offset, c.seq
"""
# An element 18 (a CARC 18, among others) in an X12 message, whatever its separators.
ELEMENT_18 = re.compile(rb"(?<![A-Za-z0-9.])18(?![A-Za-z0-9.])")
# Each claim's latest outcome that states an expected secondary payment (SQLite takes the bare
# column from the row of max(revision)).
LATEST_EXPECTED = f"""
SELECT claim_id, max(revision) AS revision, expected_cents FROM outcomes
WHERE expected_cents IS NOT NULL AND NOT (topic = '{READY}' AND kind = 'voided')
GROUP BY claim_id
"""
RAISED = f"SELECT claim_id, kind, count(*) AS n FROM outcomes WHERE topic = '{DISCREPANCY}' GROUP BY claim_id, kind"
# Open `secondary_underpaid` discrepancies (as the queue has them) with their shortfall; with the
# work file, those the team has not marked resolved.
UNDERPAID = f"""
SELECT o.claim_id, coalesce(o.expected_cents - o.actual_cents, -o.difference_cents, 0) AS shortfall
FROM ({OPEN_DISCREPANCIES}) o
"""
OPEN_UNDERPAID = UNDERPAID + "WHERE o.kind = 'secondary_underpaid'"
OPEN_UNDERPAID_UNRESOLVED = (
    UNDERPAID
    + "LEFT JOIN work.work_current w ON w.discrepancy_id = o.event_id "
    + "WHERE o.kind = 'secondary_underpaid' AND coalesce(w.status, 'new') <> 'resolved'"
)
RECOVERED = f"""
SELECT d.claim_id, w.recovered_cents FROM work.work_current w
JOIN outcomes d ON d.event_id = w.discrepancy_id AND d.topic = '{DISCREPANCY}'
WHERE w.status = 'resolved' AND w.resolution = 'recovered' AND w.recovered_cents IS NOT NULL
"""


@dataclass(frozen=True)
class ScorecardRow:
    """One secondary payer's claims of one month (the module docstring defines each figure)."""

    payer: str
    month: str  # YYYY-MM, UTC, of the current primary EOB's adjudication
    claims: int
    answered: int  # claims with a current secondary EOB
    expected_cents: int
    paid_cents: int
    open_underpaid_cents: int
    recovered_cents: int
    kinds: tuple[tuple[str, int], ...]  # discrepancies raised, every kind in DiscrepancyKind order
    median_days: Decimal | None  # primary adjudication to secondary adjudication, calendar days

    @property
    def discrepancies(self) -> int:
        return sum(n for _, n in self.kinds)

    def raised(self, kind: str) -> int:
        return dict(self.kinds).get(kind, 0)


@dataclass(frozen=True)
class ScorecardClaim:
    """One claim as the scorecard counts it."""

    claim_id: str
    payer: str  # the claim's secondary payer
    month: str  # YYYY-MM, UTC, of the current primary EOB's adjudication
    primary_adjudicated: date  # UTC
    secondary_adjudicated: date | None  # UTC; None until the secondary answers
    expected_cents: int  # 0 when no outcome states one
    paid_cents: int

    @property
    def days_to_secondary(self) -> int | None:
        if self.secondary_adjudicated is None:
            return None
        return (self.secondary_adjudicated - self.primary_adjudicated).days


@dataclass
class _Current:
    """A claim's current EOBs and submission, as the worker holds them."""

    primary: sqlite3.Row | None = None
    secondary: sqlite3.Row | None = None
    submission: sqlite3.Row | None = None
    seen: set[str] = field(default_factory=set)
    submissions_seen: set[str] = field(default_factory=set)


@dataclass
class _Tally:
    claims: int = 0
    answered: int = 0
    expected_cents: int = 0
    paid_cents: int = 0
    open_underpaid_cents: int = 0
    recovered_cents: int = 0
    raised: dict[str, int] = field(default_factory=dict)
    days: list[int] = field(default_factory=list)

    def add(self, claim: ScorecardClaim) -> None:
        self.claims += 1
        self.expected_cents += claim.expected_cents
        self.paid_cents += claim.paid_cents
        if (days := claim.days_to_secondary) is not None:
            self.answered += 1
            self.days.append(days)

    def row(self, payer: str, month: str) -> ScorecardRow:
        return ScorecardRow(
            payer=payer,
            month=month,
            claims=self.claims,
            answered=self.answered,
            expected_cents=self.expected_cents,
            paid_cents=self.paid_cents,
            open_underpaid_cents=self.open_underpaid_cents,
            recovered_cents=self.recovered_cents,
            kinds=tuple((kind, self.raised.get(kind, 0)) for kind in KINDS),
            median_days=_median(self.days),
        )


# ---- the scorecard --------------------------------------------------------------------------------


def scorecard(db: sqlite3.Connection, payer: str | None = None) -> list[ScorecardRow]:
    """Each secondary payer's months (only `payer`'s when given), sorted by payer, then month."""
    return _rows(db, scorecard_claims(db, payer))


def scorecard_payers(db: sqlite3.Connection) -> list[str]:
    """The secondary payers that have claims on the scorecard, sorted."""
    return sorted({claim.payer for claim in scorecard_claims(db)})


def scorecard_page(db: sqlite3.Connection, payer: str | None = None) -> dict[str, Any]:
    """What scorecard.html needs beside the page layer's own, in one reading: the rows (`payer`'s,
    or every payer's), their chart (one payer's months, or every payer's totals per month), the
    payer asked for and the payers to choose from."""
    claims = scorecard_claims(db)
    rows = _rows(db, [claim for claim in claims if payer in (None, claim.payer)])
    return {
        "scorecard": rows,
        "chart": chart_svg(rows),
        "wanted_payer": payer,
        "payers": sorted({claim.payer for claim in claims}),
    }


def _rows(db: sqlite3.Connection, claims: list[ScorecardClaim]) -> list[ScorecardRow]:
    """The claims' figures per payer and month, with their discrepancies and the work on them."""
    tallies: dict[tuple[str, str], _Tally] = {}
    of_claim: dict[str, _Tally] = {}
    for claim in claims:
        of_claim[claim.claim_id] = tallies.setdefault((claim.payer, claim.month), _Tally())
        of_claim[claim.claim_id].add(claim)
    for row in db.execute(RAISED):
        if (tally := of_claim.get(row["claim_id"])) is not None:
            tally.raised[row["kind"]] = tally.raised.get(row["kind"], 0) + row["n"]
    for claim_id, cents in _open_underpaid(db):
        if (tally := of_claim.get(claim_id)) is not None:
            tally.open_underpaid_cents += cents
    for claim_id, cents in _recovered(db):
        if (tally := of_claim.get(claim_id)) is not None:
            tally.recovered_cents += cents
    return [tallies[key].row(*key) for key in sorted(tallies)]


def _open_underpaid(db: sqlite3.Connection) -> Iterator[tuple[str, int]]:
    """Open `secondary_underpaid` discrepancies not marked resolved: (claim, shortfall)."""
    query = OPEN_UNDERPAID_UNRESOLVED if _has_work(db) else OPEN_UNDERPAID
    for row in db.execute(query):
        yield row["claim_id"], row["shortfall"]


def _recovered(db: sqlite3.Connection) -> Iterator[tuple[str, int]]:
    """Discrepancies resolved as recovered, with the amount: (claim, recovered)."""
    if not _has_work(db):
        return
    for row in db.execute(RECOVERED):
        yield row["claim_id"], row["recovered_cents"]


def _has_work(db: sqlite3.Connection) -> bool:
    return any(row[1] == "work" for row in db.execute("PRAGMA database_list"))


def _median(days: list[int]) -> Decimal | None:
    if not days:
        return None
    ordered = sorted(days)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return Decimal(ordered[middle])
    return (Decimal(ordered[middle - 1]) + Decimal(ordered[middle])) / 2


# ---- which claims, in which month -------------------------------------------------------------------


def scorecard_claims(db: sqlite3.Connection, payer: str | None = None) -> list[ScorecardClaim]:
    """Every claim on the scorecard (only `payer`'s when given), by payer, month and claim id."""
    expected = {row["claim_id"]: row["expected_cents"] for row in db.execute(LATEST_EXPECTED)}
    notices = _duplicate_notices(db)
    claims = []
    for claim_id, inputs in groupby(db.execute(CLAIM_INPUTS), key=lambda row: row["claim_id"]):
        current = _Current()
        for row in inputs:
            _take(current, row, notices)
        claim = _place(claim_id, current, expected.get(claim_id, 0))
        if claim is not None and payer in (None, claim.payer):
            claims.append(claim)
    return sorted(claims, key=lambda claim: (claim.payer, claim.month, claim.claim_id))


def _take(current: _Current, row: sqlite3.Row, notices: set[tuple[str, int, int, int]]) -> None:
    """One input as the worker applies it (models.cob.claim.step), for the current EOBs and
    submission only."""
    if row["role"] == "submission":
        if row["event_id"] in current.submissions_seen:
            return  # a repeated submission id is no new submission
        current.submissions_seen.add(row["event_id"])
        current.submission = None if row["frequency"] == "void" else row
        return
    role = row["role"] or _role_by_submission(current.submission, row["payer_id"])
    if role is None or row["event_id"] in current.seen:
        return  # the worker refuses an EOB whose role nothing tells, and ignores a repeated id
    current.seen.add(row["event_id"])
    if (row["topic"], row["partition"], row["offset"], row["seq"]) in notices:
        return  # a duplicate-claim notice changes nothing
    setattr(current, role, None if row["status"] == "reversed" else row)


def _duplicate_notices(db: sqlite3.Connection) -> set[tuple[str, int, int, int]]:
    """Where the payers' duplicate-claim notices are (topic, partition, offset, seq): EOBs with CARC
    18 on every line, which the worker ignores. The store keeps no line adjustments, so the EOBs
    that pay nothing (a notice pays nothing) are decoded again from their messages, as the worker
    decoded them, each message once; an X12 message without an element 18 anywhere carries none."""
    notices = set()
    rows = db.execute(ZERO_PAID)
    for (topic, partition, offset), group in groupby(rows, key=lambda row: (row[0], row[1], row[2])):
        candidates = list(group)
        value = candidates[0]["value"]
        if value is None or (topic == REMITTANCE_X12 and not ELEMENT_18.search(value)):
            continue
        items = decode_message(topic, kafka_key_text(candidates[0]["key"]), value)
        for row in candidates:
            item = items[row["seq"]] if row["seq"] < len(items) else None
            if _is_notice(item, row["event_id"]):
                notices.add((topic, partition, offset, row["seq"]))
    return notices


def _is_notice(item: object, event_id: str) -> bool:
    """Whether a decoded input is this EOB, and a duplicate-claim notice."""
    return isinstance(item, EobReceived) and item.eob.event_id == event_id and item.eob.is_duplicate_notice()


def _role_by_submission(submission: sqlite3.Row | None, payer_id: str | None) -> str | None:
    """The role the current submission gives a payer whose 835 does not tell it."""
    if submission is None or payer_id is None:
        return None
    if submission["payer_id"] == payer_id:
        return "primary"
    return "secondary" if submission["secondary_payer_id"] == payer_id else None


def _place(claim_id: str, current: _Current, expected_cents: int) -> ScorecardClaim | None:
    primary, secondary = current.primary, current.secondary
    payer = _secondary_payer(current)
    if primary is None or payer is None:
        return None
    primary_at = _utc(primary["adjudicated_at"])
    return ScorecardClaim(
        claim_id=claim_id,
        payer=payer,
        month=primary_at.strftime("%Y-%m"),
        primary_adjudicated=primary_at.date(),
        secondary_adjudicated=_utc(secondary["adjudicated_at"]).date() if secondary is not None else None,
        expected_cents=expected_cents,
        paid_cents=_cents(secondary["total_paid"]) if secondary is not None else 0,
    )


def _secondary_payer(current: _Current) -> str | None:
    """COVERAGE.md section 1 (models.cob.coverage.claim_coverage), as the queue resolves it."""
    if current.primary is not None and current.primary["states_secondary"]:
        return current.primary["secondary_payer_id"]
    if current.submission is not None:
        return current.submission["secondary_payer_id"]
    return current.secondary["payer_id"] if current.secondary is not None else None


def _utc(moment: str) -> datetime:
    return parse_timestamp(moment).astimezone(UTC)


def _cents(amount: str | None) -> int:
    return cents_of(amount) or 0


def dollars(cents: int) -> Decimal:
    """Whole cents as a decimal amount with two places: 1050 is 10.50."""
    return Decimal(cents).scaleb(-2)


# ---- the chart --------------------------------------------------------------------------------------

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 76, 16, 40, 64
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
PLOT_BOTTOM = TOP + PLOT_HEIGHT
TICKS = 4
SERIES = (("expected", "Expected", "#8c959f"), ("paid", "Paid by the secondary", "#1f883d"))
INK, AXIS, GRID = "#1f2328", "#57606a", "#d0d7de"
# Markup templates: `format` escapes every value put into them.
SVG = Markup(
    '<svg xmlns="http://www.w3.org/2000/svg" class="scorecard-chart" role="img" aria-label="{label}" '
    'viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="system-ui, sans-serif">'
    "<title>{label}</title>{body}</svg>"
)
BAR = Markup(
    '<rect class="bar {series}" data-month="{month}" data-series="{series}" data-cents="{cents}" '
    'x="{x:.2f}" y="{y:.4f}" width="{width:.2f}" height="{height:.4f}" fill="{colour}">'
    "<title>{month} {series}: {amount}</title></rect>"
)
GRIDLINE = Markup(
    '<line x1="{left}" x2="{right}" y1="{y:.2f}" y2="{y:.2f}" stroke="{grid}"/>'
    '<text class="tick" x="{x}" y="{ty:.2f}" text-anchor="end" font-size="11" fill="{axis}">{amount}</text>'
)
AXES = Markup(
    '<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}" stroke="{axis}"/>'
    '<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{axis}"/>'
    '<text class="axis-label" transform="translate(16 {middle}) rotate(-90)" text-anchor="middle" font-size="12" '
    'fill="{axis}">Amount (USD)</text>'
    '<text class="axis-label" x="{centre}" y="{last}" text-anchor="middle" font-size="12" fill="{axis}">'
    "Month of the primary EOB's adjudication (UTC)</text>"
)
LEGEND = Markup(
    '<g class="legend" data-series="{series}"><rect x="{x}" y="12" width="12" height="12" fill="{colour}"/>'
    '<text x="{tx}" y="22" font-size="12" fill="{ink}">{words}</text></g>'
)
MONTH = Markup(
    '<text class="month" x="{x:.2f}" y="{y}" text-anchor="{anchor}" font-size="11" fill="{axis}"{turn}>{month}</text>'
)
NOTHING = Markup('<text x="{x}" y="{y}" text-anchor="middle" fill="{axis}">{label}</text>')


def chart_svg(rows: Sequence[ScorecardRow]) -> Markup:
    """Expected and paid per month as a bar chart: the rows' amounts summed per month (one payer's
    rows: its months; several payers': their totals), bars on one scale from 0 (a negative total
    is drawn as 0, its amount still in `data-cents` and the title)."""
    months = _monthly(rows)
    who = _who(rows)
    if not months:
        label = f"No claims on the scorecard for {who}"
        return SVG.format(
            label=label,
            width=WIDTH,
            height=HEIGHT,
            body=NOTHING.format(x=WIDTH // 2, y=HEIGHT // 2, axis=AXIS, label=label),
        )
    top = _scale_top(max(max(amounts) for amounts in months.values()))
    spoken = "; ".join(f"{month}: expected {dollars(e)}, paid {dollars(p)}" for month, (e, p) in months.items())
    label = f"Expected and paid secondary payments by month of the primary's adjudication, {who}: {spoken}"
    parts = [*_axes(top), *_legend()]
    slot = PLOT_WIDTH / len(months)
    width = min(36.0, slot * 0.36)
    for index, (month, amounts) in enumerate(months.items()):
        centre = LEFT + slot * (index + 0.5)
        parts += _bars(month, amounts, centre, width, top)
        parts.append(_month_label(month, centre, tilted=slot < 60))
    return SVG.format(label=label, width=WIDTH, height=HEIGHT, body=Markup("").join(parts))


def _bars(month: str, amounts: tuple[int, int], centre: float, width: float, top: int) -> list[Markup]:
    """A month's two bars, expected left of its centre and paid right, heights in proportion to `top`."""
    bars = []
    for x, (series, _, colour), cents in zip((centre - width - 1, centre + 1), SERIES, amounts, strict=True):
        height = max(cents, 0) / top * PLOT_HEIGHT
        y = PLOT_BOTTOM - height
        amount = dollars(cents)
        bars.append(
            BAR.format(
                series=series,
                month=month,
                cents=cents,
                x=x,
                y=y,
                width=width,
                height=height,
                colour=colour,
                amount=amount,
            )
        )
    return bars


def _monthly(rows: Sequence[ScorecardRow]) -> dict[str, tuple[int, int]]:
    """(expected, paid) per month, months in order."""
    months: dict[str, tuple[int, int]] = {}
    for row in sorted(rows, key=lambda row: row.month):
        expected, paid = months.get(row.month, (0, 0))
        months[row.month] = (expected + row.expected_cents, paid + row.paid_cents)
    return months


def _who(rows: Sequence[ScorecardRow]) -> str:
    payers = sorted({row.payer for row in rows})
    if not payers:
        return "no secondary payer"
    if len(payers) == 1:
        return payers[0]
    return f"all {len(payers)} secondary payers" if len(payers) > 3 else ", ".join(payers)


def _scale_top(largest: int) -> int:
    """The top of the scale in cents: TICKS steps of 1, 2 or 5 times a power of ten dollars (1.00
    at least), the smallest that holds the largest amount."""
    step, factors = 100, cycle((2, 2.5, 2))  # 1.00, 2.00, 5.00, 10.00, 20.00, 50.00, ...
    while step * TICKS < largest:
        step = int(step * next(factors))
    return step * TICKS


def _axes(top: int) -> list[Markup]:
    parts = []
    for tick in range(TICKS + 1):
        y = PLOT_BOTTOM - PLOT_HEIGHT * tick / TICKS
        amount = f"{dollars(top * tick // TICKS):,.0f}"
        parts.append(
            GRIDLINE.format(
                left=LEFT, right=WIDTH - RIGHT, y=y, x=LEFT - 6, ty=y + 4, grid=GRID, axis=AXIS, amount=amount
            )
        )
    middle, centre = TOP + PLOT_HEIGHT // 2, LEFT + PLOT_WIDTH // 2
    parts.append(
        AXES.format(
            left=LEFT,
            right=WIDTH - RIGHT,
            top=TOP,
            bottom=PLOT_BOTTOM,
            middle=middle,
            centre=centre,
            last=HEIGHT - 6,
            axis=AXIS,
        )
    )
    return parts


def _legend() -> list[Markup]:
    parts, x = [], LEFT
    for series, words, colour in SERIES:
        parts.append(LEGEND.format(series=series, x=x, colour=colour, tx=x + 16, ink=INK, words=words))
        x += 28 + 7 * len(words)
    return parts


def _month_label(month: str, centre: float, *, tilted: bool) -> Markup:
    """A month under its bars; tilted when the months are too many to fit side by side."""
    y = PLOT_BOTTOM + 16
    turn = Markup(' transform="rotate(-40 {:.2f} {})"').format(centre, y) if tilted else ""
    return MONTH.format(x=centre, y=y, anchor="end" if tilted else "middle", axis=AXIS, turn=turn, month=month)


# ---- CSV ----------------------------------------------------------------------------------------------

SCORECARD_COLUMNS = (
    "secondary_payer",
    "month",
    "claims",
    "answered",
    "expected",
    "paid",
    "open_underpayment",
    "recovered",
    "median_days",
    *KINDS,
)
QUEUE_COLUMNS = (
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
)
Cell = str | int | Decimal | None


def csv_cell(value: Cell) -> str:
    """One CSV cell: a number as it is, None as empty, text with a quote before anything a
    spreadsheet would run as a formula."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return str(value)


def _csv(header: Sequence[str], lines: Iterable[Sequence[Cell]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([csv_cell(value) for value in line] for line in lines)
    return out.getvalue()


def scorecard_csv(rows: Iterable[ScorecardRow]) -> str:
    """The scorecard as CSV: a header, then one line per payer and month."""
    return _csv(SCORECARD_COLUMNS, (_scorecard_line(row) for row in rows))


def _scorecard_line(row: ScorecardRow) -> tuple[Cell, ...]:
    amounts = (row.expected_cents, row.paid_cents, row.open_underpaid_cents, row.recovered_cents)
    return (
        row.payer,
        row.month,
        row.claims,
        row.answered,
        *(dollars(cents) for cents in amounts),
        row.median_days,
        *(n for _, n in row.kinds),
    )


def queue_csv(items: Iterable[QueueItem]) -> str:
    """The queue as CSV: a header, then one line per discrepancy with the team's work on it (the
    items as `queue.open_discrepancies(..., worked=True)` gives them)."""
    return _csv(QUEUE_COLUMNS, (_queue_line(item) for item in items))


def _queue_line(item: QueueItem) -> tuple[Cell, ...]:
    def amount(cents: int | None) -> Decimal | None:
        return None if cents is None else dollars(cents)

    return (
        item.claim_id,
        item.event_id,
        item.primary_payer_id,
        item.secondary_payer,
        item.tertiary_payer_id,
        item.kind,
        "yes" if item.blocking else "no",
        item.raised_at.isoformat(),
        amount(item.expected_cents),
        amount(item.actual_cents),
        amount(item.difference_cents),
        item.action,
        item.assignee,
        item.work_status,
        item.resolution,
        amount(item.recovered_cents),
    )
