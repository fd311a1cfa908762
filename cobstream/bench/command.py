"""`cobstream bench`: run the phases, print the table, write the JSON."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import shutil
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from cobstream.bench.options import SECTIONS, BenchError, sizes_from
from cobstream.bench.phases import Bench
from cobstream.bench.report import consumer_settings, default_json_path, figures, git_commit, machine, table


def run_bench(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    try:
        sizes = sizes_from(args)
    except BenchError as exc:
        print(f"cobstream bench: {exc}", file=sys.stderr)
        return 2
    sections = args.only or list(SECTIONS)
    bench = Bench(sizes, sections, profile=Path(args.profile) if args.profile else None, keep_topics=args.keep_topics)

    def terminated(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminated)
    # The producer's retries while a new topic gets its leader are expected here, not news.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    fatal = None
    try:
        asyncio.run(bench.run())
    except BenchError as exc:
        fatal = str(exc)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if fatal:
        print(f"cobstream bench: {fatal}", file=sys.stderr)
        shutil.rmtree(bench.tmp, ignore_errors=True)
        return 2
    report = {
        "schema": 1,
        "run_id": bench.run_id,
        "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "git": git_commit(),
        "machine": machine(),
        "brokers": bench.base_settings.brokers,
        "store": bench.base_settings.store,
        "processing_guarantee": bench.base_settings.processing_guarantee,
        "consumer": consumer_settings(bench.base_settings),
        "smoke": bool(args.smoke),
        "note": args.note,
        "sections": sections,
        "sizes": dataclasses.asdict(sizes),
        "results": bench.results,
        "figures": figures(bench.results),
        "errors": bench.errors,
    }
    print(table(report))
    path = Path(args.json_path) if args.json_path else default_json_path(started)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    print(f"\nresults: {path}", file=sys.stderr)
    if bench.errors:
        print(f"worker logs kept in {bench.tmp}", file=sys.stderr)
    else:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    return 1 if bench.errors else 0
