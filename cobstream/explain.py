"""`cobstream explain CLAIM_ID`: how each figure of one claim came about, for a billing clerk.

Two sources, one explanation (`models.explain.claim.ClaimExplanation`): a replay file run through the
real engine (`explain_from_messages`, which the web UI calls too), or a running worker's
`GET /claims/{claim_id}/explanation` page (`agents/explain.py`). `render_text` writes it as
plain text; `--json` prints the model as JSON.

Exit status: 0 found, 1 the claim is not in the input, 2 unusable input (unreadable file, a
worker that cannot be reached or answers with something else).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.explain.claim import ClaimExplanation
    from models.explain.lines import LineExplanation

# One input message, exactly what `cobstream.engine.Engine.receive` takes: topic, key, value.
Message = tuple[str | None, str | None, bytes | str | None]

FOUND, NOT_FOUND, UNUSABLE = 0, 1, 2
NOT_FOUND_ERROR = "claim_not_found"  # the worker page's 404 error code
WORKER_TIMEOUT = 30.0  # seconds; a worker routes the request to the claim's owner first


class WorkerError(Exception):
    """The worker could not be asked, or did not answer with an explanation."""


def register(commands: Any) -> None:
    from cobstream.cli import timestamp_argument  # the command line's own type for times

    explain = commands.add_parser(
        "explain",
        help="explain how each figure of one claim came about (from a replay file or a running worker)",
        description="Print, per service line and for the claim, which allowable was used and where it came "
        "from, the secondary's deductible, coinsurance and copay, the COB method's formula with the numbers put "
        "in, the collectible ceiling, the patient's share and its reasons, the write-off, and each discrepancy "
        "with the action to take. Exit 0: explained; 1: the claim is not in the input; 2: unusable input.",
    )
    explain.add_argument("claim_id", metavar="CLAIM_ID", help="the provider's claim id (CLP01)")
    source = explain.add_mutually_exclusive_group(required=True)
    source.add_argument("--replay", metavar="FILE", help="replay JSONL to run through the engine; - for stdin")
    source.add_argument("--worker", metavar="URL", help="a running worker's web server, e.g. http://127.0.0.1:6066")
    explain.add_argument(
        "--now",
        type=timestamp_argument,
        metavar="TIME",
        help="with --replay: move the clock to this time after the last line (as `cobstream replay --now`)",
    )
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.set_defaults(run=cmd_explain)


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


def replay_messages(lines: Iterable[bytes]) -> Iterator[Message]:
    """Replay JSONL lines as messages. A line that is not a usable record becomes a message with
    no topic (the engine dead-letters it, as `cobstream replay` does); it concerns no claim."""
    from cobstream.replay import key_text, value_text
    from models.contract.types import NonFinite, RawNumber
    from models.remittance.decode import load_json

    for line in lines:
        if not line.strip():
            continue
        try:
            record = load_json(line)
            topic = record.get("topic") if isinstance(record, dict) else None
            if not isinstance(topic, str) or isinstance(topic, RawNumber | NonFinite):
                raise ValueError("no topic")
            message: Message = (topic, key_text(record.get("key")), value_text(record.get("value")))
        except (ValueError, TypeError, RecursionError):  # orjson's encode error is a TypeError
            message = (None, None, line)
        yield message


def _explain_replay(
    lines: Iterable[bytes], claim_id: str, now: datetime | None
) -> tuple[ClaimExplanation | None, int, int]:
    """The explanation, and how many claims and lines were read (for the not-found message)."""
    counted = _Counted(lines)
    engine = _run(replay_messages(counted), now)
    return _explained(engine, claim_id), len(engine.claims), counted.count


class _Counted:
    def __init__(self, lines: Iterable[bytes]) -> None:
        self.lines, self.count = lines, 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self.lines:
            self.count += 1
            yield line


def _run(messages: Iterable[Message], now: datetime | None) -> Any:
    from cobstream.engine import Engine

    engine = Engine()
    for topic, key, value in messages:
        engine.receive(topic, key, value)
    if now is not None:
        engine.advance(now)
    return engine


def _explained(engine: Any, claim_id: str) -> ClaimExplanation | None:
    from models.explain.claim import explain_claim

    state = engine.claims.get(claim_id)
    return explain_claim(state, engine.reference, engine.clock) if state is not None else None


def explain_from_messages(
    messages: Iterable[Message], claim_id: str, now: datetime | None = None
) -> ClaimExplanation | None:
    """Run messages (topic, key, value bytes, in arrival order) through the real engine and explain
    the claim's final state; None when the claim is not there. `now` moves the clock after the
    last message, as `cobstream replay --now` does (the timeouts then due fire)."""
    return _explained(_run(messages, now), claim_id)


def fetch_explanation(url: str, claim_id: str, timeout: float = WORKER_TIMEOUT) -> ClaimExplanation | None:
    """A running worker's explanation of the claim; None when no worker's claims table holds it."""
    from urllib.error import HTTPError, URLError
    from urllib.parse import quote
    from urllib.request import Request, urlopen

    from pydantic import ValidationError

    from models.explain.claim import ClaimExplanation

    address = f"{url.rstrip('/')}/claims/{quote(claim_id, safe='')}/explanation"
    try:
        with urlopen(Request(address, headers={"Accept": "application/json"}), timeout=timeout) as response:
            body = response.read()
    except HTTPError as exc:
        answer = _error_of(exc.read())
        if exc.code == 404 and answer.get("error") == NOT_FOUND_ERROR:
            return None
        raise WorkerError(f"the worker at {url} answered {exc.code}: {answer.get('message') or exc.reason}") from None
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WorkerError(f"cannot reach the worker at {url}: {reason}") from None
    try:
        return ClaimExplanation.model_validate_json(body)
    except ValidationError:
        raise WorkerError(f"the worker at {url} did not answer with a claim explanation") from None


def _error_of(body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


# ---- plain text ---------------------------------------------------------------------------------


def render_text(explanation: ClaimExplanation) -> str:
    """The explanation for a billing clerk: the claim's standing, a section per service line, the
    claim's totals, then the discrepancies with their actions and any notes."""
    e = explanation
    out = [f"Claim {e.claim_id}: {e.status.replace('_', ' ')}", e.status_text, ""]
    out += _eobs(e)
    for line in e.lines:
        out += ["", *_line(line)]
    if e.totals is not None:
        t = e.totals
        secondary = "none yet" if t.secondary_paid is None else f"{t.secondary_paid:.2f}"
        out += [
            "",
            "Claim totals",
            _row("charge", t.total_charge),
            _row("primary paid", t.primary_paid),
            _row("secondary paid", secondary, f"expected {t.expected_secondary_paid:.2f}"),
            _row("patient owes", t.patient_responsibility, _reason_codes(t.patient_reasons)),
            _row("write-off", t.write_off),
        ]
    out += ["", "Discrepancies" if e.discrepancies else "Discrepancies: none"]
    for d in e.discrepancies:
        out += [f"  {d.kind} ({'blocking' if d.blocking else 'not blocking'}){_amounts(d)}"]
        out += [f"    why: {d.why}", f"    action: {d.action}"]
    if e.notes:
        out += ["", "Notes", *(f"  - {note}" for note in e.notes)]
    return "\n".join(out) + "\n"


def _eobs(e: ClaimExplanation) -> list[str]:
    out = ["EOBs"]
    for role, eob in (("primary", e.primary), ("secondary", e.secondary)):
        if eob is None:
            out.append(f"  {role:<10} none")
            continue
        at = f"{eob.adjudicated_at:%Y-%m-%d %H:%M} UTC"
        out.append(f"  {role:<10} {eob.payer_id}, {eob.status} {at}, paid {eob.paid:.2f} (event {eob.event_id})")
    terms = e.secondary_terms
    if terms is None:
        out.append("  no secondary coverage" if e.primary is not None else "")
        return out
    network = "in network" if terms.in_network else "out of network"
    defaults = "" if terms.from_profile else " (no profile: the defaults)"
    out += [
        f"Secondary payer {terms.payer_id}{defaults}: {terms.cob_method}, {terms.method_meaning}",
        f"  {network}; pays {_percent(terms.coinsurance_rate)} of its allowable after its deductible; copay "
        f"{terms.copay:.2f} a line; tolerance {terms.tolerance:.2f} a line",
    ]
    return out


def _line(line: LineExplanation) -> list[str]:
    modifiers = f" ({', '.join(line.modifiers)})" if line.modifiers else ""
    patient_parts = ", ".join(
        f"{a.group}-{a.reason} {a.amount:.2f}" for a in line.primary_adjustments if a.group == "PR"
    )
    out = [
        f"Line {line.line_id}: {line.procedure_code}{modifiers}, charge C {line.charge:.2f}",
        "  Primary",
        _row("paid P1", line.primary_paid),
        _row("allowed A1", line.primary_allowed, line.primary_allowed_source),
        _row(
            "patient share PR1", line.primary_patient_responsibility, _floored(patient_parts, line.primary_patient_sum)
        ),
        _row("collectible after it K1", line.collectible_after_primary, "P1 + PR1"),
        *_adjustments(line.primary_adjustments),
    ]
    if line.secondary_allowable is not None:
        out += [
            "  Secondary",
            _row("allowable A2", line.secondary_allowable, line.allowable_source_text or ""),
            _row("deductible d2", line.secondary_deductible, _floored("", line.secondary_deductible_sum)),
            _row("coinsurance rate r2", _rate(line.secondary_coinsurance_rate), "the share of A2 it pays"),
            _row("copay k2", line.secondary_copay),
            *_adjustments(line.secondary_adjustments),
        ]
    out.append("  How the figures come about")
    for step in line.steps:
        lhs, _, numbers = step.with_numbers.partition(" = ")
        indent = " " * (6 + len(lhs))
        out += [f"    {step.name}", f"      {step.formula}", f"{indent} = {numbers}", f"{indent} = {step.result:.2f}"]
        out.append(f"      ({step.why})")
    actual = "none yet" if line.actual_secondary_paid is None else f"{line.actual_secondary_paid:.2f}"
    out += [
        "  Result",
        _row("secondary paid", actual, f"expected {line.expected_secondary_paid:.2f}"),
        _row("patient owes", line.patient_responsibility),
        _row("write-off", line.write_off),
        *(_row("because" if i == 0 else "", "", f"{r.code}: {r.meaning}") for i, r in enumerate(line.patient_reasons)),
    ]
    return out


def _floored(parts: str, total: Decimal | None) -> str:
    """The parts of PR1 or d2, and when they add up to less than 0, that the sum was floored."""
    floored = f"they add up to {total:.2f}: floored at 0.00" if total is not None and total < 0 else ""
    return "; ".join(p for p in (parts, floored) if p)


def _adjustments(adjustments: Any) -> list[str]:
    return [_row("adjustments" if i == 0 else "", "", _adjustment(a)) for i, a in enumerate(adjustments)]


def _row(label: str, value: Any, note: str = "") -> str:
    shown = f"{value:.2f}" if isinstance(value, Decimal) else str(value)
    return f"    {label:<26}{shown:>10}  {note}".rstrip()


def _adjustment(a: Any) -> str:
    return f"{a.group}-{a.reason} {a.amount:.2f} {a.meaning}"


def _reason_codes(reasons: Any) -> str:
    return ("why: " + ", ".join(r.code for r in reasons)) if reasons else ""


def _rate(value: Any) -> str:
    from models.explain.formulas import rate

    return rate(value) if value is not None else ""


def _percent(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


def _amounts(d: Any) -> str:
    parts = [
        f"{name} {value:.2f}"
        for name, value in (
            ("expected", d.expected_secondary_paid),
            ("actual", d.actual_secondary_paid),
            ("difference", d.difference),
        )
        if value is not None
    ]
    lines = f", lines {', '.join(d.line_ids)}" if d.line_ids else ""
    return (": " + ", ".join(parts) if parts else "") + lines
