"""What the work queue prints and exports: the appeal letter of a discrepancy (a printable page
and a PDF, `cobstream.ui.appeal`), the payer scorecard (`cobstream.ui.scorecard`), the queue and
the scorecard as CSV, and the access log (admins). Every one is written to the access log."""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlencode

from aiohttp import web

from cobstream.ui import appeal, auth, queue, scorecard, work
from cobstream.ui.pages import TEMPLATES, explanation_of, read_store, render, wanted_of

ACCESS_LOG_SHOWN = 500
CSV_ROWS = 100_000


def add_routes(app: web.Application) -> None:
    app.router.add_get("/queue.csv", queue_csv)
    app.router.add_get("/scorecard", scorecard_page)
    app.router.add_get("/scorecard.csv", scorecard_csv)
    app.router.add_get("/discrepancies/{event_id}/appeal", appeal_page)
    app.router.add_get("/discrepancies/{event_id}/appeal.pdf", appeal_pdf)
    app.router.add_get("/access-log", access_log_page)


def _csv(text: str, name: str) -> web.Response:
    return web.Response(
        text=text, content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip


async def queue_csv(request: web.Request) -> web.Response:
    """The queue as the filter shows it (every matching row, not only the first SHOWN_ROWS)."""
    wanted = wanted_of(request)
    items = await read_store(request.app, lambda db: queue.open_discrepancies(db, wanted, CSV_ROWS, worked=True))
    await auth.log(request, "exported queue", detail=f"{len(items)} rows; {request.query_string or 'no filter'}")
    return _csv(scorecard.queue_csv(items), "work-queue.csv")


def _payer(request: web.Request) -> str | None:
    payer = request.query.get("payer", "").strip() or None
    if payer is not None and len(payer) > 128:
        raise web.HTTPBadRequest(text="the payer is not a payer id\n")
    return payer


async def scorecard_page(request: web.Request) -> web.Response:
    payer = _payer(request)
    shown = await read_store(request.app, lambda db: scorecard.scorecard_page(db, payer))
    await auth.log(request, "viewed scorecard", detail=payer)
    csv_link = "/scorecard.csv" + (f"?{urlencode({'payer': payer})}" if payer else "")
    return render(request, "scorecard.html", csv_link=csv_link, **shown)


async def scorecard_csv(request: web.Request) -> web.Response:
    payer = _payer(request)
    rows = await read_store(request.app, lambda db: scorecard.scorecard(db, payer))
    await auth.log(request, "exported scorecard", detail=payer)
    return _csv(scorecard.scorecard_csv(rows), "payer-scorecard.csv")


async def _letter(request: web.Request) -> appeal.AppealLetter:
    """The appeal of an open, appealable discrepancy, from the claim's explanation."""
    event_id = auth.identifier(request, "event_id")
    item = await read_store(request.app, lambda db: queue.discrepancy(db, event_id))
    if item is None:
        raise web.HTTPNotFound(text="no such discrepancy in the store\n")
    if not item.is_open:
        raise web.HTTPConflict(text="no appeal: the discrepancy was superseded by a newer claim version\n")
    found = await explanation_of(request.app, item.claim_id)
    if found is None:
        raise web.HTTPNotFound(text="no appeal: the claim cannot be explained from the stored messages\n")
    explained = next((d for d in found.discrepancies if d.kind == item.kind), None)
    try:
        return appeal.appeal_letter(found, explained, event_id, item.raised_at, auth.user_of(request).name, auth.now())
    except appeal.NotAppealable as exc:
        raise web.HTTPConflict(text=f"no appeal: {exc.reason}\n") from None


async def appeal_page(request: web.Request) -> web.Response:
    letter = await _letter(request)
    await auth.log(request, "viewed appeal", claim_id=letter.claim_id, discrepancy_id=request.match_info["event_id"])
    text = appeal.render_appeal_html(request.app[TEMPLATES], letter)
    return web.Response(text=text, content_type="text/html")


async def appeal_pdf(request: web.Request) -> web.Response:
    letter = await _letter(request)
    event_id = request.match_info["event_id"]
    name = quote(event_id, safe="")  # as cobstream.export.file_name names an 837
    await auth.log(request, "printed appeal PDF", claim_id=letter.claim_id, discrepancy_id=event_id)
    body = await asyncio.to_thread(appeal.appeal_pdf, letter)
    return web.Response(
        body=body, content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="appeal-{name}.pdf"'},
    )  # fmt: skip


async def access_log_page(request: web.Request) -> web.Response:
    auth.require_admin(request)
    entries = await auth.with_work(request.app, lambda db: work.access_log(db, limit=ACCESS_LOG_SHOWN))
    return render(request, "access_log.html", entries=list(reversed(entries)), shown=ACCESS_LOG_SHOWN)
