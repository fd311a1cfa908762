"""`cobstream produce`'s command line; the body is `cobstream.produce.cmd_produce`."""

from __future__ import annotations

import argparse

from cobstream.commands import deferred

X12_SUFFIXES = (".835", ".837", ".x12", ".edi")


def register(subparsers: argparse._SubParsersAction) -> None:
    produce = subparsers.add_parser(
        "produce",
        help="publish a replay JSONL file to the input topics, or an X12 835/837 file to remittance.x12",
        description="Publish a replay JSONL file ({topic, key, value} per line) to its input topics; or an X12 835 "
        "or 837P/837I "
        f"file ({', '.join(X12_SUFFIXES)}, or --x12) to remittance.x12, one ST/SE transaction a message.",
    )
    produce.add_argument("file", help="replay JSONL or X12 835/837 file, or - for stdin")
    produce.add_argument("--x12", action="store_true", help="the file is X12 (835 or 837) whatever its name")
    produce.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds to wait between messages (keeps arrival order across topics)",
    )
    produce.set_defaults(run=deferred("cobstream.produce:cmd_produce"))
