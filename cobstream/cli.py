"""The `cobstream` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime

from models.contract.types import parse_timestamp

Command = Callable[[argparse.Namespace], int]


def timestamp_argument(text: str) -> datetime:
    """An argparse type: an ISO 8601 datetime with a zone (`--now`, `--since`, `--until`)."""
    try:
        return parse_timestamp(text)
    except Exception:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 datetime with a zone") from None


def cmd_replay(args: argparse.Namespace) -> int:
    from cobstream.engine import Engine
    from cobstream.gc_tuning import tune_gc
    from cobstream.replay import replay_lines, write_jsonl

    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as exc:
        print(f"cobstream replay: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    tune_gc()
    with source:
        write_jsonl(replay_lines(source, Engine(), args.now), sys.stdout.buffer)
    sys.stdout.flush()
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from cobstream.schema import write_schemas

    return write_schemas(args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cobstream",
        description="Coordination-of-benefits reconciliation of primary and secondary EOBs on Kafka.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay = commands.add_parser(
        "replay",
        help="run the reconciliation over a JSONL file in-process (no broker)",
        description="Read replay JSONL ({topic, key, value} per line, in arrival order) and print the "
        "outcomes as JSONL on standard output. Event time drives the clock.",
    )
    replay.add_argument("file", help="replay JSONL file, or - for standard input")
    replay.add_argument(
        "--now",
        type=timestamp_argument,
        help="advance the clock to this time after the last line "
        "(fires the timeouts then due), e.g. 2027-01-31T00:00:00Z",
    )
    replay.set_defaults(run=cmd_replay)

    schema = commands.add_parser("schema", help="write the JSON Schema of every event")
    schema.add_argument("--out", help="folder to write one NAME.schema.json per event (default: stdout)")
    schema.set_defaults(run=cmd_schema)

    from cobstream import convert, explain, stream_commands, ui

    convert.register(commands)
    explain.register(commands)
    stream_commands.register(commands)
    ui.register(commands)

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
