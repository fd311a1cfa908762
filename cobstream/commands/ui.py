"""`cobstream ui`'s command line; the body is `cobstream.ui.command.cmd_ui`."""

from __future__ import annotations

import argparse
from pathlib import Path

from cobstream.commands import deferred

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6067

DESCRIPTION = """\
Serve the discrepancy work queue: open discrepancies (blocking first, then oldest, then the
largest difference), filterable by payer and kind, and a page per claim with its explanation
and event history. A reader in the same process copies the environment's input, reference and
output topics (COBSTREAM_BROKERS, COBSTREAM_TOPIC_PREFIX, COBSTREAM_SECURITY_PROTOCOL, ...) from
the beginning into a local SQLite file and keeps its positions there, so a restart continues.
The pages show claim ids and amounts and have no login: keep the default loopback address
unless something in front of it authenticates. See docs/UI.md."""


def register(subparsers: argparse._SubParsersAction) -> None:
    ui = subparsers.add_parser(
        "ui",
        help="the discrepancy work queue in the browser (reads the topics into a local SQLite file)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ui.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    ui.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    ui.add_argument("--db", type=Path, default=None, help="the SQLite store (default .cobstream-ui.sqlite3)")
    ui.set_defaults(run=deferred("cobstream.ui.command:cmd_ui"))
