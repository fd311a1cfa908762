"""`cobstream worker`'s command line; the body is `cobstream.worker.run_worker(loglevel)`."""

from __future__ import annotations

import argparse

from cobstream.commands import deferred


def register(subparsers: argparse._SubParsersAction) -> None:
    worker = subparsers.add_parser(
        "worker",
        help="run the stream worker (Faust) against Kafka",
        description="Run the cobstream worker. Settings come from COBSTREAM_* environment variables (see README).",
    )
    worker.add_argument("--loglevel", default=None, help="debug, info, warning (default: COBSTREAM_LOG_LEVEL)")
    worker.set_defaults(run=deferred("cobstream.worker:run_worker", "loglevel"))
