"""The `cobstream` command: the table of subcommands, and `main`.

Every subcommand is a module of `cobstream.commands` with `register(subparsers)`, which adds its
parser and sets its `run`; `COMMANDS` lists them once, in the order `cobstream --help` shows.
Those modules are light (argparse only): a command's body is imported when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cobstream.commands import (
    Command,
    audit,
    bench,
    convert,
    demo,
    explain,
    export,
    produce,
    replay,
    schema,
    tail,
    topics,
    ui,
    worker,
)

COMMANDS = (replay, schema, convert, explain, export, worker, topics, produce, tail, audit, demo, bench, ui)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cobstream",
        description="Coordination-of-benefits reconciliation of primary and secondary EOBs on Kafka.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
