"""`cobstream bench`'s command line (its options: `cobstream.bench.options`); the body is
`cobstream.bench.command.run_bench`."""

from __future__ import annotations

import argparse

from cobstream.bench.options import add_arguments
from cobstream.commands import deferred


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser(
        "bench",
        help="measure throughput, latency, memory and recovery on the broker (docs/PERFORMANCE.md)",
        description="Benchmark cobstream on the broker of COBSTREAM_BROKERS: passthrough baseline, one worker, "
        "latency at half load, the core in-process, state at scale, scale-out. Prints a table and writes JSON; "
        "never fails on a timing. See docs/PERFORMANCE.md.",
    )
    add_arguments(bench)
    bench.set_defaults(run=deferred("cobstream.bench.command:run_bench"))
