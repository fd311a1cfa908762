"""`cobstream ui`'s body: the reader and the web pages in one process, until Ctrl-C or SIGTERM.
Loopback by default; the broker settings are the other commands' COBSTREAM_* variables
(brokers, topic prefix, SASL/TLS). The command line: `cobstream.commands.ui`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from cobstream.ui.server import serve
from cobstream.ui.store import DEFAULT_PATH, Store, StoreError
from streams.settings import Settings, SettingsError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def cmd_ui(args: argparse.Namespace) -> int:
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
