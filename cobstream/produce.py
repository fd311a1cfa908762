"""`cobstream produce`'s body: a replay JSONL file published to its input topics, or an X12 835
or 837P/837I file to remittance.x12, one ST/SE transaction a message (the command line:
`cobstream.commands.produce`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from cobstream.commands.produce import X12_SUFFIXES
from cobstream.shared.kafka_io import MissingTopics, produce_file, remittance_lines
from cobstream.shared.progress import bar
from streams.settings import Settings


def cmd_produce(args: argparse.Namespace) -> int:
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
    if isinstance(lines, list):
        return bar(f"produce {Path(name).name}", total=len(lines), unit="msg")
    if by_bytes:
        return bar(f"produce {Path(name).name}", total=os.fstat(source.fileno()).st_size, unit="B")
    return bar("produce", unit="line")


def _counting(lines: Iterable[bytes], progress: Any, by_bytes: bool) -> Iterator[bytes]:
    for line in lines:
        yield line
        progress.update(len(line) if by_bytes else 1)
