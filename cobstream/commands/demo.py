"""`cobstream demo`'s command line; the body is `cobstream.demo.cmd_demo`."""

from __future__ import annotations

import argparse

from cobstream.commands import deferred


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="broker, topics, worker, example day and its outcomes, in one go")
    demo.add_argument("file", nargs="?", default="examples/day-2026-03-24.jsonl")
    demo.add_argument("--interval", type=float, default=0.05, help="seconds between published messages")
    demo.add_argument("--jsonl", action="store_true", help="print JSONL instead of a table")
    demo.set_defaults(run=deferred("cobstream.demo:cmd_demo"))
