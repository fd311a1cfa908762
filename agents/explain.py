"""The worker's explanation page: `GET /claims/{claim_id}/explanation` on its Faust web server.

It answers with one claim's `models.explain.claim.ClaimExplanation` as JSON: the claim's state from
the claims table, explained with the reference data this worker has read and the wall clock.
The claims table is partitioned across the workers, so the request goes through Faust's table
routing (`app.table_route`, key = the claim id): a worker that does not own the claim's
partition passes the request to the one that does and returns its answer, so any worker
answers for every claim. Claim ids are percent-encoded in the path. `register` adds the page to a
worker's app.

Answers: 200 the explanation; 404 `{"error": "claim_not_found", ...}` when the owner's table
does not hold the claim; 503 `{"error": "not_ready", ...}` while this worker is still loading
the reference data or recovering its tables, or when the claim's owner cannot be found or
reached (a rebalance): `Worker.serving`, as the claims agent's timer asks it. Nothing is
logged per request: the path carries a claim id.

Beside it, `GET /claims/{claim_id}/secondary-claim.837`: the 837 to send to the claim's secondary
payer (`models.remittance.x12_837_secondary.secondary_837_of`, docs/X12.md "The secondary 837"),
routed to the owner the same way, as `application/edi-x12` text. 404 `{"error": ..., "message":
...}` when there is none: `claim_not_found`, `no_secondary_claim` (the message says why: crossed
over, no primary EOB...), `not_from_837` (a JSON submission) or `not_buildable` (the original 837
cannot carry the secondary claim); 503 as above. `cobstream export 837 --worker` fetches it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

from models.explain.claim import explain_claim
from models.remittance.x12_837_secondary import NoSecondary837, secondary_837_of
from streams.app import Worker
from streams.codec import ClaimRecord
from streams.pages import (
    CLAIM_NOT_FOUND,
    EXPLANATION_PAGE,
    NOT_READY,
    SECONDARY_837_PAGE,
    X12_MEDIA_TYPE,
    page_path,
)

PATH = page_path(EXPLANATION_PAGE)
SECONDARY_837_PATH = page_path(SECONDARY_837_PAGE)


def register(worker: Worker) -> None:
    """The explanation page and the secondary claim's 837, on the worker's web server."""
    reference = worker.reference

    def explanation(view: View, record: ClaimRecord) -> Response:
        found = explain_claim(record.state, reference.reference, datetime.now(UTC))
        return view.json(found.model_dump(mode="json"))

    def secondary_837(view: View, record: ClaimRecord) -> Response:
        try:
            text = secondary_837_of(record.state)
        except NoSecondary837 as exc:
            return view.json({"error": exc.code, "message": exc.reason}, status=404)
        return view.text(text, content_type=X12_MEDIA_TYPE)

    _claim_page(worker, PATH, "claim_explanation", explanation)
    _claim_page(worker, SECONDARY_837_PATH, "secondary_claim_837", secondary_837)


def _claim_page(worker: Worker, path: str, name: str, answer: Callable[[View, ClaimRecord], Response]) -> None:
    """A page about one claim, answered from its record by whichever worker owns the claim."""
    app, claims = worker.app, worker.claims

    @app.page(path, name=name)
    class ClaimPage(View):
        async def get(self, request: Request, claim_id: str) -> Response:
            return await _from_the_owner(self, worker, request, claim_id)

        @app.table_route(table=claims.table, match_info="claim_id")
        async def owner_answers(self, request: Request, claim_id: str) -> Response:
            """Runs on the worker that owns the claim's partition (Faust forwards it there)."""
            record = claims.get(claim_id)
            return _not_found(self) if record is None else answer(self, record)


async def _from_the_owner(view: View, worker: Worker, request: Request, claim_id: str) -> Response:
    """The answer of the worker that owns the claim (`owner_answers`), or 503 when it cannot be had."""
    if not worker.serving():
        return _not_ready(view, "this worker is rebalancing, recovering its tables or loading reference data")
    try:
        return await view.owner_answers(request, claim_id=claim_id)  # type: ignore[attr-defined]
    except ServiceUnavailable:
        return _not_ready(view, "no worker owns the claim's partition right now (a rebalance)")
    except (aiohttp.ClientError, TypeError):
        # TypeError: no partition metadata for the claims changelog yet (nothing written).
        return _not_ready(view, "the worker that owns the claim could not be asked")


def _not_found(view: View) -> Response:
    message = "no claim with that id in the claims table (never received, or forgotten after its retention)"
    return view.json({"error": CLAIM_NOT_FOUND, "message": message}, status=404)


def _not_ready(view: View, message: str) -> Response:
    return view.json({"error": NOT_READY, "message": message}, status=503)
