"""`cobstream explain CLAIM_ID`'s body: how each figure of one claim came about, for a billing clerk.

Two sources, one explanation (`models.explain.claim.ClaimExplanation`): a replay file run through the
real engine (`cobstream.shared.explanation`, which the web UI uses too), or a running worker's
`GET /claims/{claim_id}/explanation` page (`agents/explain.py`). `render_text`
(`cobstream.shared.explanation_text`) writes it as plain text; `--json` prints the model as JSON.
The command line: `cobstream.commands.explain`.

Exit status: 0 found, 1 the claim is not in the input, 2 unusable input (unreadable file, a
worker that cannot be reached or answers with something else).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime

from pydantic import ValidationError

from cobstream.shared.explanation import explained, replay_messages, run_messages
from cobstream.shared.explanation_text import render_text
from cobstream.shared.worker_pages import Unreachable, ask_worker
from models.explain.claim import ClaimExplanation
from streams.pages import CLAIM_NOT_FOUND, EXPLANATION_PAGE

FOUND, NOT_FOUND, UNUSABLE = 0, 1, 2
WORKER_TIMEOUT = 30.0  # seconds; a worker routes the request to the claim's owner first


class WorkerError(Exception):
    """The worker could not be asked, or did not answer with an explanation."""


def cmd_explain(args: argparse.Namespace) -> int:
    if args.worker is not None:
        if args.now is not None:
            return _fail("--now applies to --replay only: a worker's clock is the wall clock", UNUSABLE)
        try:
            explanation = fetch_explanation(args.worker, args.claim_id)
        except WorkerError as exc:
            return _fail(str(exc), UNUSABLE)
        where = f"the claims table of the worker at {args.worker}"
    else:
        try:
            source = sys.stdin.buffer if args.replay == "-" else open(args.replay, "rb")  # noqa: SIM115
        except OSError as exc:
            return _fail(f"cannot read {args.replay}: {exc.strerror}", UNUSABLE)
        with source:
            explanation, claims, lines = _explain_replay(source, args.claim_id, args.now)
        name = "standard input" if args.replay == "-" else args.replay
        where = f"{name} ({lines} lines, {claims} claims"
        where += " at --now; claims are forgotten after their retention)" if args.now else ")"
    if explanation is None:
        # The id itself is not repeated: stderr may end up in a log, and claim ids stay out of logs.
        return _fail(f"no claim with that id in {where}", NOT_FOUND)
    if args.json:
        print(json.dumps(explanation.model_dump(mode="json"), indent=2))
    else:
        print(render_text(explanation), end="")
    return FOUND


def _fail(message: str, code: int) -> int:
    print(f"cobstream explain: {message}", file=sys.stderr)
    return code


def _explain_replay(
    lines: Iterable[bytes], claim_id: str, now: datetime | None
) -> tuple[ClaimExplanation | None, int, int]:
    """The explanation, and how many claims and lines were read (for the not-found message)."""
    counted = _Counted(lines)
    engine = run_messages(replay_messages(counted), now)
    return explained(engine, claim_id), len(engine.claims), counted.count


class _Counted:
    def __init__(self, lines: Iterable[bytes]) -> None:
        self.lines, self.count = lines, 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self.lines:
            self.count += 1
            yield line


def fetch_explanation(url: str, claim_id: str, timeout: float = WORKER_TIMEOUT) -> ClaimExplanation | None:
    """A running worker's explanation of the claim; None when no worker's claims table holds it."""
    try:
        answer = ask_worker(url, claim_id, EXPLANATION_PAGE, "application/json", timeout)
    except Unreachable as exc:
        raise WorkerError(str(exc)) from None
    if answer.status == 404 and answer.error.get("error") == CLAIM_NOT_FOUND:
        return None
    if answer.status != 200:
        raise WorkerError(answer.refusal(url))
    try:
        return ClaimExplanation.model_validate_json(answer.body)
    except ValidationError:
        raise WorkerError(f"the worker at {url} did not answer with a claim explanation") from None
