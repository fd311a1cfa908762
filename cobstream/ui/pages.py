"""The work queue's read pages (aiohttp, jinja2, server-rendered, no script, no external assets):
`/` the open discrepancies with their filters (payers, kind, assignee, work status) and counts,
`/claims/{claim_id}` a claim's discrepancies with the team's work on them, its coverage,
explanation and history, `/claims/{claim_id}/secondary-claim.837`, and `/healthz` (the reader
and the store in JSON, the one page without sign-in). The shared rendering lives here: the
filters, `render` (every page knows who is signed in and carries the CSRF token for its forms)
and `read_store` (the topic store read-only, with the work file attached as `work`). The app is
assembled by `cobstream.ui.app`.

Every value is escaped by jinja2's autoescape. Claim ids are patient-adjacent: aiohttp's access
log is off (it would write each claim page's path), and nothing here logs a claim id or an
amount; who saw which claim goes to the work file's access log (`cobstream.ui.work`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import jinja2
from aiohttp import web

from cobstream.export import file_name
from cobstream.shared.explanation import explained, run_received
from cobstream.shared.explanation_text import render_text
from cobstream.shared.kafka_io import summary as outcome_summary
from cobstream.ui import auth, queue, work
from cobstream.ui.appeal import APPEALABLE
from cobstream.ui.coverage import CoverageView, coverage_view, source_label
from cobstream.ui.queue import ANY_STATUS, UNASSIGNED, QueueFilter
from cobstream.ui.reader import ReaderStatus
from models.contract.outcomes import DiscrepancyKind
from models.explain.claim import ClaimExplanation, SecondaryClaimSummary
from models.remittance.x12_837_secondary import NoSecondary837, secondary_837_of
from streams.pages import X12_MEDIA_TYPE

KINDS: tuple[str, ...] = DiscrepancyKind.__args__  # type: ignore[attr-defined]
SHOWN_ROWS = 500
T = TypeVar("T")

log = logging.getLogger("cobstream.ui")


@dataclass(frozen=True)
class Explanation:
    """What the claim page shows above the history: the claim's coverage and `cobstream explain`'s
    text, or why there is none."""

    headline: str | None
    text: str | None
    unavailable: str | None = None
    coverage: CoverageView | None = None
    secondary_claim: SecondaryClaimSummary | None = None  # the one that stands (COVERAGE.md section 5)
    secondary_answered: bool = False  # the secondary's EOB is in
    secondary_837: bool = False  # its 837 can be built: the claim's submission came from an 837


Messages = list[tuple[str, str | None, bytes | None, datetime]]
Explainer = Callable[[Messages, str, "datetime | None"], Explanation]

STORE = web.AppKey("store", Path)
STATUS = web.AppKey("status", ReaderStatus)
EXPLAINER = web.AppKey("explainer", object)
TEMPLATES = web.AppKey("templates", jinja2.Environment)


def add_routes(app: web.Application, explainer: Explainer | None = None) -> None:
    app[EXPLAINER] = explainer or explain
    app[TEMPLATES] = templates()
    app.router.add_get("/", queue_page)
    app.router.add_get("/claims/{claim_id:.+}/secondary-claim.837", secondary_claim_837)
    app.router.add_get("/claims/{claim_id:.+}", claim_page)
    app.router.add_get("/healthz", health)


def templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("cobstream.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        money=money,
        amount=amount,
        age=age,
        claim_url=claim_url,
        when=when,
        summary=summary,
        source=source_label,
        status_words=lambda status: work.STATUS_WORDS.get(status, status),
        resolution_words=lambda resolution: work.RESOLUTION_WORDS.get(resolution, resolution),
    )
    return environment


def explain(messages: Messages, claim_id: str, now: datetime | None) -> Explanation:
    """`cobstream explain` over the stored messages: the claim replayed through the real engine on
    the records' times, as the worker ran it (so a claim the worker holds is explained whatever
    its EOBs' dates)."""
    engine = run_received(messages, now)
    found = explained(engine, claim_id)
    if found is None:
        return Explanation(None, None, "replaying the stored messages leaves no state for this claim")
    submission = engine.claims[claim_id].submission
    return Explanation(
        found.status_text,
        render_text(found),
        coverage=coverage_view(found),
        secondary_claim=found.secondary_claim,
        secondary_answered=found.secondary is not None,
        secondary_837=found.secondary_claim is not None
        and submission is not None
        and submission.original_837 is not None,
    )


async def secondary_claim_837(request: web.Request) -> web.Response:
    """`GET /claims/{claim_id}/secondary-claim.837`: the 837 to send to the claim's secondary,
    built from the stored messages as `cobstream export 837 --replay` builds it."""
    claim_id = auth.identifier(request, "claim_id")
    messages, clock = await read_store(
        request.app, lambda db: (queue.claim_messages(db, claim_id), queue.store_clock(db))
    )
    engine = await asyncio.to_thread(run_received, messages, clock)
    state = engine.claims.get(claim_id)
    if state is None:
        return web.Response(status=404, text="no such claim in the messages read\n")
    try:
        text = await asyncio.to_thread(secondary_837_of, state)
    except NoSecondary837 as exc:
        return web.Response(status=404, text=f"{exc.reason}\n")
    await auth.log(request, "downloaded secondary 837", claim_id=claim_id)
    return web.Response(
        text=text,
        content_type=X12_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{file_name(claim_id)}"'},
    )


def money(cents: int | None) -> str:
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def amount(value: Decimal | None) -> str:
    """Money as the explanation carries it (a Decimal), or a dash."""
    return "—" if value is None else f"{value:.2f}"


def age(moment: datetime, now: datetime | None = None) -> str:
    seconds = max(0, int(((now or datetime.now(UTC)) - moment).total_seconds()))
    if seconds >= 86_400:
        return f"{seconds // 86_400} d {seconds % 86_400 // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min"


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def summary(entry: queue.HistoryEntry) -> str:
    """One line a billing team reads: what an input said, or what an outcome decided."""
    if entry.source != "input":
        return outcome_summary(entry.topic, entry.fields)
    fields = entry.fields
    if fields["problem"]:
        return f"refused, so dead-lettered: {fields['problem']}"
    lines = f"{fields['line_count']} line{'' if fields['line_count'] == 1 else 's'}"
    if fields["role"] == "submission":
        payers = ", then ".join(
            p for p in (fields["payer_id"], fields["secondary_payer_id"], fields["tertiary_payer_id"]) if p
        )
        return (
            f"claim submission {fields['event_id']} ({fields['frequency']}), submitted "
            f"{when(datetime.fromisoformat(fields['submitted_at']))} to "
            f"{payers}: {fields['total_charge']} charged ({lines})"
        )
    eob = f"{fields['role']} EOB {fields['event_id']} from {fields['payer_id']}"
    if fields["role"] is None:  # an 835 denial or reversal: the claim's submission gives the role
        eob = f"EOB {fields['event_id']} from {fields['payer_id']} (its role from the claim's submission)"
    line = f"{eob}: {fields['status']}, paid {fields['total_paid']} of {fields['total_charge']} charged ({lines})"
    if fields["role"] == "primary":
        stated = fields["secondary_payer_id"] or ("none" if fields["states_secondary"] else "not stated")
        line += f"; secondary payer {stated}"
    return line


def claim_url(claim_id: str) -> str:
    return "/claims/" + quote(claim_id, safe="")


async def read_store(app: web.Application, question: Callable[[sqlite3.Connection], T]) -> T:
    """Ask the store one question on a worker thread, through a read-only connection of its own
    (with the work file attached read-only as `work`)."""

    def ask() -> T:
        db = sqlite3.connect(app[STORE].resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
        db.row_factory = sqlite3.Row
        if auth.WORK_PATH in app:
            db.execute("ATTACH DATABASE ? AS work", (app[auth.WORK_PATH].resolve().as_uri() + "?mode=ro",))
        try:
            return question(db)
        finally:
            db.close()

    return await asyncio.to_thread(ask)


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    page = request.app[TEMPLATES].get_template(template)
    session = request.get(auth.SESSION)
    text = page.render(
        reader=request.app[STATUS],
        now=datetime.now(UTC),
        user=session.user if session else None,
        csrf=session.csrf if session else "",
        **context,
    )
    return web.Response(text=text, status=status, content_type="text/html")


def wanted_of(request: web.Request) -> QueueFilter:
    """The queue's filter from the address (the form's GET), each value checked."""

    def param(name: str) -> str | None:
        return request.query.get(name, "").strip() or None

    wanted = QueueFilter(
        param("secondary_payer"), param("primary_payer"), param("kind"), param("assignee"), param("status")
    )
    if wanted.kind is not None and wanted.kind not in KINDS:
        raise web.HTTPBadRequest(text=f"unknown discrepancy kind; expected one of {', '.join(KINDS)}\n")
    if wanted.status is not None and wanted.status not in (*work.WORK_STATUSES, ANY_STATUS):
        raise web.HTTPBadRequest(text=f"unknown status; expected one of {', '.join(work.WORK_STATUSES)} or any\n")
    if wanted.assignee not in (None, UNASSIGNED) and not work.USER_NAME.fullmatch(wanted.assignee):
        raise web.HTTPBadRequest(text="the assignee is not a user name\n")
    return wanted


async def queue_page(request: web.Request) -> web.Response:
    wanted = wanted_of(request)

    def question(db: sqlite3.Connection) -> tuple[list[queue.QueueItem], queue.QueueCounts, int]:
        items = queue.open_discrepancies(db, wanted, limit=SHOWN_ROWS + 1, worked=True)
        return items, queue.queue_counts(db, worked=True), queue.store_counts(db)["unreadable"]

    items, counts, unreadable = await read_store(request.app, question)
    people = await auth.with_work(request.app, work.active_users)
    await auth.log(request, "viewed queue", detail=request.query_string or None)
    return render(
        request,
        "queue.html",
        items=items[:SHOWN_ROWS],
        more=len(items) > SHOWN_ROWS,
        counts=counts,
        wanted=wanted,
        kinds=KINDS,
        statuses=work.WORK_STATUSES,
        people=people,
        unreadable=unreadable,
        query=request.query_string,
    )


@dataclass(frozen=True)
class Worked:
    """A discrepancy of the claim, open or superseded, with the team's work on it."""

    item: queue.QueueItem
    actions: list[work.Action]
    appealable: bool


async def claim_page(request: web.Request) -> web.Response:
    claim_id = auth.identifier(request, "claim_id")

    def question(db: sqlite3.Connection) -> tuple[list[queue.HistoryEntry], list[queue.QueueItem], int | None]:
        history = queue.claim_history(db, claim_id)
        return history, queue.every_discrepancy(db, claim_id, worked=True), queue.latest_revision(db, claim_id)

    history, discrepancies, latest = await read_store(request.app, question)
    await auth.log(request, "viewed claim", claim_id=claim_id)
    if not history:
        return render(request, "missing.html", status=404, claim_id=claim_id)
    actions, people = await auth.with_work(
        request.app, lambda db: (work.actions_of(db, claim_id=claim_id), work.active_users(db))
    )
    worked = [
        Worked(item, [a for a in actions if a.discrepancy_id == item.event_id], item.kind in APPEALABLE)
        for item in discrepancies
    ]
    explanation = await _explanation(request.app, claim_id)
    return render(
        request,
        "claim.html",
        claim_id=claim_id,
        history=history,
        discrepancies=worked,
        people=people,
        statuses=work.WORK_STATUSES,
        resolutions=work.RESOLUTIONS,
        latest_revision=latest,
        explanation=explanation,
    )


async def explanation_of(app: web.Application, claim_id: str) -> ClaimExplanation | None:
    """The claim explained from the stored messages as the claim page explains it; None when the
    replay leaves no state for it."""
    messages, clock = await read_store(app, lambda db: (queue.claim_messages(db, claim_id), queue.store_clock(db)))
    return await asyncio.to_thread(lambda: explained(run_received(messages, clock), claim_id))


async def _explanation(app: web.Application, claim_id: str) -> Explanation:
    """The claim as of the last record the store read (its clock then: the timeouts the worker had
    fired by then fire in the replay too, and a claim read long ago is not taken as forgotten)."""
    explainer: Explainer = app[EXPLAINER]  # type: ignore[assignment]
    messages, clock = await read_store(app, lambda db: (queue.claim_messages(db, claim_id), queue.store_clock(db)))
    try:
        return await asyncio.to_thread(explainer, messages, claim_id, clock)
    except Exception as exc:  # the history below is still worth showing
        log.warning("a claim explanation failed: %s", type(exc).__name__)
        return Explanation(None, None, f"the explanation could not be built ({type(exc).__name__})")


async def health(request: web.Request) -> web.Response:
    counts = await read_store(request.app, queue.store_counts)
    status = request.app[STATUS]
    healthy = status.state in ("reading", "waiting for topics")
    return web.json_response(
        {"status": "ok" if healthy else "degraded", "reader": asdict(status), "store": counts},
        status=200 if healthy else 503,
    )
