"""The bench's sizes and command-line options, and what every part of it shares."""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository (this file is cobstream/bench/options.py)
SECTIONS = (
    "core", "convert", "replay", "baseline", "faust", "faust_table", "pipeline", "audit", "latency", "scaleout",
    "rekeyed", "state",
)  # fmt: skip
IN_PROCESS = ("core", "convert", "replay")  # phases that need no broker
FAUST_PHASES = {"faust": "passthrough", "faust_table": "table"}  # phase: cobstream.bench.faust_app's mode
MILLION = 1_000_000
MIB = 1024 * 1024


class BenchError(Exception):
    """A phase could not be measured (not a slow result: those are reported, never errors)."""


@dataclass
class Sizes:
    claims: int = 10_000
    state_claims: int = MILLION
    replay_claims: int = 100_000
    seconds_latency: float = 30.0
    scaleout_workers: int = 2
    partitions: int = 3
    latency_gap: float = 0.2
    latency_rate: float | None = None
    stall: float = 120.0
    settle: float = 2.0
    baseline_messages: int = 100_000

    @classmethod
    def smoke(cls) -> Sizes:
        return cls(
            claims=200, state_claims=500, replay_claims=200, seconds_latency=5.0, stall=45.0, settle=1.0,
            baseline_messages=0,
        )  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--claims",
        type=int,
        help="claims of generated traffic for core, baseline, faust, faust_table, pipeline, scaleout, rekeyed "
        "(default 10000; --smoke 200)",
    )
    parser.add_argument(
        "--state-claims",
        type=int,
        help="open claims for the state phase (default 1000000; "
        "--smoke 500); below 1000000 the per-million figures are extrapolated",
    )
    parser.add_argument(
        "--replay-claims",
        type=int,
        help="claims of the generated traffic file `cobstream replay` runs in the replay phase, and half as many "
        "(default 100000; --smoke 200); below 1000000 the per-million figures are fitted and labelled so",
    )
    parser.add_argument("--seconds-latency", type=float, help="seconds of offered load for latency (default 30)")
    parser.add_argument("--workers-scaleout", type=int, metavar="N", help="workers in the scale-out phase (default 2)")
    parser.add_argument(
        "--partitions",
        type=int,
        help="partitions of the EOB, claim-events and output topics (default: COBSTREAM_PARTITIONS or 3)",
    )
    parser.add_argument(
        "--latency-rate",
        type=float,
        metavar="EOB_PER_S",
        help="offered load for latency (default: half the pipeline rate measured in this run)",
    )
    parser.add_argument(
        "--latency-gap",
        type=float,
        default=0.2,
        metavar="S",
        help="seconds between a claim's primary and its secondary under offered load (default 0.2)",
    )
    parser.add_argument("--only", type=_sections, help=f"comma-separated phases: {','.join(SECTIONS)} (default all)")
    parser.add_argument("--json", dest="json_path", help="write the results here (default bench-results/<time>.json)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes that keep the bench working (CI)")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="attach py-spy to the pipeline worker and to the Faust table-passthrough and write their "
        "samples and a summary of hot spots to DIR (slows them: do not compare their figures)",
    )
    parser.add_argument("--keep-topics", action="store_true", help="leave the bench topics on the broker")
    parser.add_argument("--note", help="free text kept in the JSON (what this run measures, e.g. the tree)")
    parser.add_argument(
        "--stall", type=float, help="give a phase up after this many seconds without progress (default 120; --smoke 45)"
    )


def _sections(text: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown phase {', '.join(unknown)}; choose from {','.join(SECTIONS)}")
    return chosen


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.smoke() if args.smoke else Sizes()
    env_partitions = os.environ.get("COBSTREAM_PARTITIONS")
    overrides = {
        "claims": args.claims,
        "state_claims": args.state_claims,
        "replay_claims": args.replay_claims,
        "seconds_latency": args.seconds_latency,
        "scaleout_workers": args.workers_scaleout,
        "partitions": args.partitions or (int(env_partitions) if env_partitions else None),
        "latency_rate": args.latency_rate,
        "latency_gap": args.latency_gap,
        "stall": args.stall,
    }
    sizes = dataclasses.replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
    for name in ("claims", "state_claims", "replay_claims", "scaleout_workers", "partitions"):
        if getattr(sizes, name) < 1:
            raise BenchError(f"--{name.replace('_', '-')} must be at least 1")
    if sizes.seconds_latency <= 0 or sizes.stall <= 0 or sizes.latency_gap < 0:
        raise BenchError("--seconds-latency and --stall must be positive, --latency-gap not negative")
    return sizes
