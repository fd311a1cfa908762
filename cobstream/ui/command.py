"""The `cobstream ui` command: the reader and the web pages in one process, until Ctrl-C or
SIGTERM. Loopback by default; the broker settings are the other commands' COBSTREAM_*
variables (brokers, topic prefix, SASL/TLS)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6067
LOOPBACK = ("127.0.0.1", "localhost", "::1")

DESCRIPTION = """\
Serve the discrepancy work queue: open discrepancies (blocking first, then oldest, then the
largest difference), filterable by payer and kind, and a page per claim with its explanation
and event history. A reader in the same process copies the environment's input, reference and
output topics (COBSTREAM_BROKERS, COBSTREAM_TOPIC_PREFIX, COBSTREAM_SECURITY_PROTOCOL, ...) from
the beginning into a local SQLite file and keeps its positions there, so a restart continues.
The pages show claim ids and amounts and have no login: keep the default loopback address
unless something in front of it authenticates. See docs/UI.md."""


def register(commands: Any) -> None:
    ui = commands.add_parser(
        "ui",
        help="the discrepancy work queue in the browser (reads the topics into a local SQLite file)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ui.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    ui.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    ui.add_argument("--db", type=Path, default=None, help="the SQLite store (default .cobstream-ui.sqlite3)")
    ui.set_defaults(run=cmd_ui)


def cmd_ui(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from cobstream.ui.server import serve
    from cobstream.ui.store import DEFAULT_PATH, Store, StoreError
    from streams.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
        store = Store(args.db or DEFAULT_PATH, settings.topic_prefix)
    except (SettingsError, StoreError) as exc:
        print(f"cobstream ui: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.host not in LOOPBACK:
        print(
            f"cobstream ui: listening on {args.host}, beyond this machine; the pages show claim ids and amounts "
            "and have no login",
            file=sys.stderr,
        )
    try:
        return asyncio.run(serve(settings, store, args.host, args.port))
    except OSError as exc:
        print(f"cobstream ui: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
