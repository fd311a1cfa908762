"""The commands that talk to Kafka: worker, topics, produce, tail, audit, demo, bench."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any


def cmd_worker(args: argparse.Namespace) -> int:
    from cobstream.worker import run_worker

    return run_worker(args.loglevel)


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.settings import Settings
    from streams.topics import run_create_topics

    for line in run_create_topics(Settings.from_env()):
        print(line)
    return 0


X12_SUFFIXES = (".835", ".x12", ".edi")


def cmd_produce(args: argparse.Namespace) -> int:
    from cobstream.kafka_io import MissingTopics, produce_file, remittance_lines
    from streams.settings import Settings

    try:
        source = Path(args.file).open("rb") if args.file != "-" else sys.stdin.buffer  # noqa: SIM115
    except OSError as exc:
        print(f"cobstream produce: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    with source:
        x12 = args.x12 or Path(args.file).suffix.lower() in X12_SUFFIXES
        lines = remittance_lines(source.read()) if x12 else source
        by_bytes = not isinstance(lines, list) and args.file != "-"
        with _progress(args.file, source, lines, by_bytes) as progress:
            counted = _counting(lines, progress, by_bytes)
            try:
                sent, skipped = asyncio.run(produce_file(Settings.from_env(), counted, interval=args.interval))
            except MissingTopics as exc:
                print(f"cobstream produce: {exc}", file=sys.stderr)
                return 2
    print(f"published {sent} messages" + (f"; skipped {skipped} unusable lines" if skipped else ""), file=sys.stderr)
    return 0


def _progress(name: str, source: IO[bytes], lines: Iterable[bytes], by_bytes: bool) -> Any:
    """A bar for `produce`: X12 transactions by count, a replay file by its bytes, stdin by lines."""
    from cobstream.progress import bar

    if isinstance(lines, list):
        return bar(f"produce {Path(name).name}", total=len(lines), unit="msg")
    if by_bytes:
        return bar(f"produce {Path(name).name}", total=os.fstat(source.fileno()).st_size, unit="B")
    return bar("produce", unit="line")


def _counting(lines: Iterable[bytes], progress: Any, by_bytes: bool) -> Iterator[bytes]:
    for line in lines:
        yield line
        progress.update(len(line) if by_bytes else 1)


def cmd_tail(args: argparse.Namespace) -> int:
    from cobstream.kafka_io import tail
    from streams.settings import Settings

    return asyncio.run(
        tail(
            Settings.from_env(),
            jsonl=args.jsonl,
            from_beginning=args.from_beginning,
            limit=args.limit,
            idle_timeout=args.idle_timeout,
        )
    )


def cmd_audit(args: argparse.Namespace) -> int:
    from cobstream.audit import run_audit

    return run_audit(since=args.since, until=args.until, as_json=args.json)


def _moment(text: str) -> datetime:
    from models.contract.types import parse_timestamp

    try:
        return parse_timestamp(text)
    except Exception:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 datetime with a zone") from None


AUDIT_DESCRIPTION = """\
Account for every EOB and every outcome on the topics of COBSTREAM_TOPIC_PREFIX, after an
incident. Reads eob.primary, eob.secondary, the reference topics, the internal
cobstream.claim-events topic and the output topics (no consumer group, read_committed), each
partition up to its end offset when the audit reaches it, and replays each claim's claim
events through the core in the order the workers applied them. It reports every EOB not taken
in (neither a claim event nor a dead letter), every outcome the core publishes for an accepted
EOB that is missing or differs, every outcome without an input, every revision gap, and every
conflicting duplicate (the same event_id with different bytes); identical repeats are counted
as harmless, dead letters are counted by reason. Findings name claim ids, event ids and
topic[partition]@offset places, never amounts.

With --since/--until only the EOBs whose record time is in the range are audited; the output
topics are read from --since to their end (outcomes of those claims may come later), and
cobstream.claim-events is always read from its beginning (a claim's replay needs its whole
history). Run it once the workers have caught up: EOBs still in flight show as not taken in.
The workers' COBSTREAM_CLAIM_RETENTION_DAYS must be set alike (forgotten claims start again).

Exit status: 0 everything accounted for; 1 anything missing, unexpected, differing or
conflicting; 2 unusable arguments, settings or broker (one line on stderr)."""


def cmd_demo(args: argparse.Namespace) -> int:
    from cobstream.demo import run_demo

    return run_demo(Path(args.file), interval=args.interval, jsonl=args.jsonl)


def cmd_bench(args: argparse.Namespace) -> int:
    from cobstream.bench import run_bench

    return run_bench(args)


def register(commands: Any) -> None:
    worker = commands.add_parser(
        "worker",
        help="run the stream worker (Faust) against Kafka",
        description="Run the cobstream worker. Settings come from COBSTREAM_* environment variables (see README).",
    )
    worker.add_argument("--loglevel", default=None, help="debug, info, warning (default: COBSTREAM_LOG_LEVEL)")
    worker.set_defaults(run=cmd_worker)

    topics = commands.add_parser("topics", help="manage the Kafka topics of the contract")
    topics_commands = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = topics_commands.add_parser("create", help="create every topic with its partitions and cleanup policy")
    create.set_defaults(run=cmd_topics)

    produce = commands.add_parser(
        "produce",
        help="publish a replay JSONL file to the input topics, or an X12 835 file to remittance.x12",
        description="Publish a replay JSONL file ({topic, key, value} per line) to its input topics; or an X12 835 "
        f"file ({', '.join(X12_SUFFIXES)}, or --x12) to remittance.x12, one ST/SE transaction a message.",
    )
    produce.add_argument("file", help="replay JSONL or X12 835 file, or - for stdin")
    produce.add_argument("--x12", action="store_true", help="the file is X12 835 whatever its name")
    produce.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds to wait between messages (keeps arrival order across topics)",
    )
    produce.set_defaults(run=cmd_produce)

    tail = commands.add_parser("tail", help="print the output topics as events arrive")
    tail.add_argument("--jsonl", action="store_true", help="print JSONL ({topic, key, value}) instead of a table")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest retained events")
    tail.add_argument("--limit", type=int, default=None, help="stop after this many events")
    tail.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")
    tail.set_defaults(run=cmd_tail)

    audit = commands.add_parser(
        "audit",
        help="account for every EOB and outcome on the topics (exit 1 when anything is missing)",
        description=AUDIT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument("--since", type=_moment, help="audit the EOBs received from this time (ISO 8601 with a zone)")
    audit.add_argument("--until", type=_moment, help="audit the EOBs received up to this time (ISO 8601 with a zone)")
    audit.add_argument("--json", action="store_true", help="print the report as JSON instead of a summary")
    audit.set_defaults(run=cmd_audit)

    demo = commands.add_parser("demo", help="broker, topics, worker, example day and its outcomes, in one go")
    demo.add_argument("file", nargs="?", default="examples/day-2026-03-24.jsonl")
    demo.add_argument("--interval", type=float, default=0.05, help="seconds between published messages")
    demo.add_argument("--jsonl", action="store_true", help="print JSONL instead of a table")
    demo.set_defaults(run=cmd_demo)

    bench = commands.add_parser(
        "bench",
        help="measure throughput, latency, memory and recovery on the broker (docs/PERFORMANCE.md)",
        description="Benchmark cobstream on the broker of COBSTREAM_BROKERS: passthrough baseline, one worker, "
        "latency at half load, the core in-process, state at scale, scale-out. Prints a table and writes JSON; "
        "never fails on a timing. See docs/PERFORMANCE.md.",
    )
    from cobstream.bench import add_arguments

    add_arguments(bench)
    bench.set_defaults(run=cmd_bench)
