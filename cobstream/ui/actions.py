"""Working a discrepancy from its claim page: assign it, change its status (with the resolution
when resolved), write a note. Each is one form (POST, CSRF-checked by `cobstream.ui.auth`), one
appended action in the work file (`cobstream.ui.work.record`) and a redirect back to the claim
(post, redirect, get: a reload never acts twice).

Only a biller or an admin acts. A superseded discrepancy keeps its history and takes notes, but
neither assignment nor status: the newer claim version's discrepancy is the one to work.
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from cobstream.ui import auth, queue, work
from cobstream.ui.pages import claim_url, read_store, render
from models.contract.types import parse_money

SUPERSEDED = "it was superseded by a newer claim version: work that version's discrepancy"


def add_routes(app: web.Application) -> None:
    app.router.add_post("/discrepancies/{event_id}/assign", assign)
    app.router.add_post("/discrepancies/{event_id}/status", change_status)
    app.router.add_post("/discrepancies/{event_id}/note", add_note)


async def assign(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    wanted = str(form.get("assignee", "")).strip()
    me = auth.user_of(request).name
    return await _act(request, work.Change("assign", assignee=me if wanted == "me" else (wanted or None)))


async def change_status(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    change = work.Change(
        "status",
        status=str(form.get("status", "")),
        resolution=str(form.get("resolution", "")) or None,
        recovered_cents=_cents(form),
        note=str(form.get("note", "")),
    )
    return await _act(request, change)


async def add_note(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    return await _act(request, work.Change("note", note=str(form.get("note", ""))))


def _cents(form: MultiDictProxy) -> int | None:
    """The amount recovered, read as the contract reads money (digits, at most two decimals,
    within its limits), in whole cents."""
    text = str(form.get("recovered", "")).strip().replace(",", "")
    if not text:
        return None
    try:
        return int(parse_money(text) * 100)
    except ValueError:
        raise web.HTTPBadRequest(
            text="the amount recovered is not an amount in dollars and cents such as 42.50\n"
        ) from None


async def _act(request: web.Request, change: work.Change) -> web.StreamResponse:
    user = auth.require_actor(request)
    event_id = auth.identifier(request, "event_id")
    item = await read_store(request.app, lambda db: queue.discrepancy(db, event_id))
    if item is None:
        raise web.HTTPNotFound(text="no such discrepancy in the store\n")
    if not item.is_open and change.kind != "note":
        return _refused(request, item, SUPERSEDED, 409)
    try:
        await auth.with_work(request.app, lambda db: work.record(db, event_id, item.claim_id, user, change, auth.now()))
    except work.WorkError as exc:
        return _refused(request, item, str(exc), 400)
    raise web.HTTPSeeOther(f"{claim_url(item.claim_id)}#work-{event_id}")


def _refused(request: web.Request, item: queue.QueueItem, reason: str, status: int) -> web.Response:
    return render(request, "refused.html", status=status, item=item, reason=reason)
