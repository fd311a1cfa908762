"""`cobstream explain`'s command line; the body is `cobstream.explain.cmd_explain`."""

from __future__ import annotations

import argparse

from cobstream.commands import deferred
from cobstream.shared.arguments import timestamp_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    explain = subparsers.add_parser(
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
    explain.set_defaults(run=deferred("cobstream.explain:cmd_explain"))
