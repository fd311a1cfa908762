"""Asking a running worker's web pages about one claim (`agents/explain.py`: the explanation and
the secondary claim's 837), for `cobstream explain --worker` and `cobstream export 837 --worker`.
One request, its answer or the worker's error as it worded it; the callers say what it means."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import Request, urlopen


class Unreachable(Exception):
    """The worker could not be asked at all; the message says why."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A worker page's answer: its status, body and media type, and the error it gave (a JSON
    `{"error", "message"}`) when it gave one."""

    status: int
    body: bytes
    kind: str
    error: dict[str, Any] = field(default_factory=dict)

    def refusal(self, url: str) -> str:
        """The worker's own words for a refusal."""
        return f"the worker at {url} answered {self.status}: {self.error.get('message') or 'no reason given'}"


def ask_worker(url: str, claim_id: str, page: str, accept: str, timeout: float) -> Answer:
    """GET `{url}/claims/{claim_id}/{page}` (the claim id percent-encoded)."""
    address = f"{url.rstrip('/')}/claims/{quote(claim_id, safe='')}/{page}"
    try:
        with urlopen(Request(address, headers={"Accept": accept}), timeout=timeout) as response:
            return Answer(response.status, response.read(), response.headers.get_content_type())
    except HTTPError as exc:
        return Answer(exc.code, b"", "", _error_of(exc.read()))
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise Unreachable(f"cannot reach the worker at {url}: {reason}") from None


def _error_of(body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
