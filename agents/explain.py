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
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

from models.explain.claim import explain_claim
from streams.app import Worker

PATH = "/claims/{claim_id}/explanation"
NOT_FOUND = "claim_not_found"  # cobstream.explain.NOT_FOUND_ERROR: the CLI tells it from other 404s
NOT_READY = "not_ready"


def register(worker: Worker) -> None:
    """The explanation page, on the worker's web server."""
    app, claims, reference = worker.app, worker.claims, worker.reference

    @app.page(PATH, name="claim_explanation")
    class ClaimExplanationPage(View):
        """One claim's explanation, from whichever worker owns the claim."""

        async def get(self, request: Request, claim_id: str) -> Response:
            if not worker.serving():
                return self._not_ready("this worker is rebalancing, recovering its tables or loading reference data")
            try:
                return await self.owner_answers(request, claim_id=claim_id)
            except ServiceUnavailable:
                return self._not_ready("no worker owns the claim's partition right now (a rebalance)")
            except (aiohttp.ClientError, TypeError):
                # TypeError: no partition metadata for the claims changelog yet (nothing written).
                return self._not_ready("the worker that owns the claim could not be asked")

        @app.table_route(table=claims.table, match_info="claim_id")
        async def owner_answers(self, request: Request, claim_id: str) -> Response:
            """Runs on the worker that owns the claim's partition (Faust forwards it there)."""
            record = claims.get(claim_id)
            if record is None:
                message = "no claim with that id in the claims table (never received, or forgotten after its retention)"
                return self.json({"error": NOT_FOUND, "message": message}, status=404)
            explanation = explain_claim(record.state, reference.reference, datetime.now(UTC))
            return self.json(explanation.model_dump(mode="json"))

        def _not_ready(self, message: str) -> Response:
            return self.json({"error": NOT_READY, "message": message}, status=503)
