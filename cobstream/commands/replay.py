"""`cobstream replay`'s command line; the body is `cobstream.replay.cmd_replay`."""

from __future__ import annotations

import argparse

from cobstream.commands import deferred
from cobstream.shared.arguments import timestamp_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    replay = subparsers.add_parser(
        "replay",
        help="run the reconciliation over a JSONL file in-process (no broker)",
        description="Read replay JSONL ({topic, key, value} per line, in arrival order) and print the "
        "outcomes as JSONL on standard output. Event time drives the clock.",
    )
    replay.add_argument("file", help="replay JSONL file, or - for standard input")
    replay.add_argument(
        "--now",
        type=timestamp_argument,
        help="advance the clock to this time after the last line "
        "(fires the timeouts then due), e.g. 2027-01-31T00:00:00Z",
    )
    replay.set_defaults(run=deferred("cobstream.replay:cmd_replay"))
