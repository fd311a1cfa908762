"""`cobstream tail`'s command line; the body is `cobstream.tail.cmd_tail`."""

from __future__ import annotations

import argparse

from cobstream.commands import deferred


def register(subparsers: argparse._SubParsersAction) -> None:
    tail = subparsers.add_parser("tail", help="print the output topics as events arrive")
    tail.add_argument("--jsonl", action="store_true", help="print JSONL ({topic, key, value}) instead of a table")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest retained events")
    tail.add_argument("--limit", type=int, default=None, help="stop after this many events")
    tail.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")
    tail.set_defaults(run=deferred("cobstream.tail:cmd_tail"))
