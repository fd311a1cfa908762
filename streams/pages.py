"""The worker's web pages about one claim, as the pages (`agents/explain.py`) and their clients
(`cobstream explain --worker`, `cobstream export 837 --worker`) both name them: their paths, the
error code of "no such claim", and the 837's media type. Written down once here."""

EXPLANATION_PAGE = "explanation"  # /claims/{claim_id}/explanation
SECONDARY_837_PAGE = "secondary-claim.837"  # /claims/{claim_id}/secondary-claim.837
CLAIM_NOT_FOUND = "claim_not_found"  # the 404 error code when the owner's table has no such claim
NOT_READY = "not_ready"  # the 503 error code while the worker cannot look at its claims
X12_MEDIA_TYPE = "application/edi-x12"  # the secondary claim's 837


def page_path(page: str) -> str:
    """The route of a claim page, as the worker's web server declares it."""
    return f"/claims/{{claim_id}}/{page}"
