"""`cobstream tail`'s body: the output topics printed as events arrive (the command line:
`cobstream.commands.tail`)."""

from __future__ import annotations

import argparse
import asyncio

from cobstream.shared.kafka_io import tail
from streams.settings import Settings


def cmd_tail(args: argparse.Namespace) -> int:
    return asyncio.run(
        tail(
            Settings.from_env(),
            jsonl=args.jsonl,
            from_beginning=args.from_beginning,
            limit=args.limit,
            idle_timeout=args.idle_timeout,
        )
    )
