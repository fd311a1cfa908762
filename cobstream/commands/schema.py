"""`cobstream schema`'s command line; the body is `cobstream.schema.cmd_schema`."""

from __future__ import annotations

import argparse

from cobstream.commands import deferred


def register(subparsers: argparse._SubParsersAction) -> None:
    schema = subparsers.add_parser("schema", help="write the JSON Schema of every event")
    schema.add_argument("--out", help="folder to write one NAME.schema.json per event (default: stdout)")
    schema.set_defaults(run=deferred("cobstream.schema:cmd_schema"))
