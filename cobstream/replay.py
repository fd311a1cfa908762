"""`cobstream replay`'s body: a replay JSONL file through the in-process engine, outcomes as JSONL
on standard output (the format: `cobstream.shared.replay_format`; the command line:
`cobstream.commands.replay`)."""

from __future__ import annotations

import argparse
import sys

from cobstream.engine import Engine
from cobstream.shared.gc_tuning import survivors_frozen
from cobstream.shared.replay_format import replay_lines, write_jsonl


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as exc:
        print(f"cobstream replay: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    with source, survivors_frozen():
        write_jsonl(replay_lines(source, Engine(), args.now), sys.stdout.buffer)
    sys.stdout.flush()
    return 0
