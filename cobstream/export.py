"""`cobstream export 837`'s body: the 837 to send to a claim's secondary payer, written to a file.

The 837 is `models.remittance.x12_837_secondary.secondary_837_of` of the claim's state: the claim as
its 837 billed it (the submission's `original_837`), sent to the secondary, with the primary's
adjudication of its open secondary claim (docs/X12.md, "The secondary 837"). Two sources of the
claim's state: replay files run through the real engine (JSONL in the replay format, or X12 837 and
835 files, each split by transaction as `cobstream produce` sends them, in the order given), or a
running worker's `GET /claims/{claim_id}/secondary-claim.837` (`agents/explain.py`). `--all` (replay
only) writes one `CLAIM_ID.837` per claim whose secondary claim is pending: open, and the
secondary's EOB not in yet. The command line: `cobstream.commands.export`.

The control numbers (ISA13, GS06, ST02, BHT03) are a digest of the secondary claim's event id and
the creation time (ISA09/10, GS04/05, BHT04/05) its `produced_at`: exporting the same secondary
claim twice writes the same bytes.

Exit status: 0 written; 1 no such claim, or no 837 for it (the reason is given: crossed over, no
primary EOB, a JSON submission...); 2 unusable input (unreadable file, bad arguments, a worker that
cannot be reached or answers with something else). Claim ids stay out of standard error, as
`cobstream explain` keeps them out: it may end up in a log.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import quote

from cobstream.engine import Engine
from cobstream.shared.explanation import Message, replay_messages
from cobstream.shared.worker_pages import Unreachable, ask_worker
from models.contract.topics import REMITTANCE_X12
from models.remittance.x12 import TransactionMessage, split_transactions
from models.remittance.x12_837_secondary import NoSecondary837, secondary_837_of
from streams.pages import CLAIM_NOT_FOUND, SECONDARY_837_PAGE, X12_MEDIA_TYPE

WRITTEN, NOT_FOUND, UNUSABLE = 0, 1, 2
WORKER_TIMEOUT = 30.0  # seconds; a worker routes the request to the claim's owner first
_SKIPPED = {
    "answered": "already answered by the secondary's EOB",
    "not_from_837": "submitted as claims.submitted JSON (an 837 is built from an 837)",
    "not_buildable": "whose 837 cannot carry the secondary claim (its lines differ from the primary's...)",
}


class Unusable(Exception):
    """The input cannot be used: a file that cannot be read, a worker that cannot be asked."""


class Missing(Exception):
    """No 837 for the claim: the reason, to tell the user (exit 1)."""


def cmd_export_837(args: argparse.Namespace) -> int:
    problem = _misused(args)
    if problem is not None:
        return _fail(problem, UNUSABLE)
    try:
        if args.all:
            return _export_all(_replayed(args.replay), Path(args.out_dir))
        if args.worker is not None:
            text, answered = fetch_837(args.worker, args.claim_id), False
        else:
            text, answered = _from_replay(_replayed(args.replay), args.claim_id, args.replay)
        _write(text, args.out)
    except Unusable as exc:
        return _fail(str(exc), UNUSABLE)
    except Missing as exc:
        return _fail(str(exc), NOT_FOUND)
    if answered:
        print(
            "cobstream export: note: the secondary's EOB is already in; this is the 837 its secondary claim stood for",
            file=sys.stderr,
        )
    return WRITTEN


def _misused(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments together, if anything."""
    if args.all:
        if args.claim_id is not None:
            return "give a CLAIM_ID or --all, not both"
        if args.replay is None or args.out_dir is None:
            return "--all needs --replay (a worker lists no claims) and --out-dir"
        if args.out is not None:
            return "--all writes one file per claim into --out-dir; --out is for one claim"
        return None
    if args.claim_id is None:
        return "give a CLAIM_ID, or --all with --out-dir"
    if args.out_dir is not None:
        return "--out-dir is for --all; write one claim's 837 with --out"
    return None


def _fail(message: str, code: int) -> int:
    print(f"cobstream export: {message}", file=sys.stderr)
    return code


def _replayed(files: list[str]) -> Engine:
    """A fresh engine that has received every file's messages, file after file."""
    engine = Engine()
    for name in files:
        try:
            source = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115
        except OSError as exc:
            raise Unusable(f"cannot read {name}: {exc.strerror}") from None
        with source:
            for topic, key, value in file_messages(source):
                engine.receive(topic, key, value)
    return engine


def file_messages(source: IO[bytes]) -> Iterator[Message]:
    """A replay file's messages: JSONL lines, or an X12 file (it begins with ISA or ST) as
    `remittance.x12` messages, one per transaction as `cobstream produce` splits it."""
    lines = iter(source)
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        return
    if first.lstrip()[:3] == b"ISA" or first.lstrip()[:2] == b"ST":
        for item in split_transactions(first + b"".join(lines)):
            yield REMITTANCE_X12, None, item.data if isinstance(item, TransactionMessage) else item.original
        return
    yield from replay_messages(itertools.chain([first], lines))


def _from_replay(engine: Engine, claim_id: str, files: list[str]) -> tuple[str, bool]:
    """The claim's 837 and whether the secondary's EOB is already in; Missing when there is none."""
    state = engine.claims.get(claim_id)
    if state is None:
        # The id itself is not repeated: standard error may end up in a log.
        raise Missing(f"no claim with that id in {', '.join(files)} ({len(engine.claims)} claims)")
    try:
        return secondary_837_of(state), state.secondary is not None
    except NoSecondary837 as exc:
        raise Missing(f"no 837 to send to the claim's secondary: {exc.reason}") from None


def _export_all(engine: Engine, folder: Path) -> int:
    """One file per claim with a pending secondary claim; a summary line on standard error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"cannot create {folder}: {exc.strerror}", UNUSABLE)
    written, skipped = 0, Counter[str]()
    for claim_id, state in engine.claims.items():
        if state.standing_secondary_claim is None:
            continue
        if state.secondary is not None:
            skipped["answered"] += 1
            continue
        try:
            text = secondary_837_of(state)
        except NoSecondary837 as exc:
            skipped[exc.code] += 1
            continue
        try:
            _write(text, str(folder / file_name(claim_id)))
        except Unusable as exc:
            return _fail(str(exc), UNUSABLE)
        written += 1
    left = "; ".join(f"{n} {_SKIPPED[code]}" for code, n in skipped.items())
    tail = f"; {sum(skipped.values())} claim(s) with an open secondary claim left out: {left}" if left else ""
    print(f"cobstream export: wrote {written} 837 file(s) to {folder}{tail}", file=sys.stderr)
    return WRITTEN


def file_name(claim_id: str) -> str:
    """`CLAIM_ID.837`, the id percent-encoded where it holds a character a file name cannot (/)."""
    return f"{quote(claim_id, safe='')}.837"


def _write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(out).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise Unusable(f"cannot write {out}: {exc.strerror}") from None


def fetch_837(url: str, claim_id: str, timeout: float = WORKER_TIMEOUT) -> str:
    """A running worker's 837 of the claim's secondary claim; Missing with the worker's reason when
    there is none, Unusable when the worker cannot be asked or answers with something else."""
    try:
        answer = ask_worker(url, claim_id, SECONDARY_837_PAGE, X12_MEDIA_TYPE, timeout)
    except Unreachable as exc:
        raise Unusable(str(exc)) from None
    error = answer.error
    if answer.status == 404 and error.get("error") == CLAIM_NOT_FOUND:
        raise Missing(f"no claim with that id in the claims table of the worker at {url}")
    if answer.status == 404 and isinstance(error.get("error"), str) and error.get("message"):
        raise Missing(f"no 837 to send to the claim's secondary: {error['message']}")
    if answer.status != 200:
        raise Unusable(answer.refusal(url))
    if answer.kind != X12_MEDIA_TYPE or not answer.body.lstrip().startswith(b"ISA"):
        raise Unusable(f"the worker at {url} did not answer with an 837 ({answer.kind})")
    return answer.body.decode("utf-8")
