"""How fast `cobstream replay` runs the bench's generated traffic from a file, and how much memory
it holds: the command itself, as a user runs it, in a child process (wall and CPU seconds, peak
RSS). Two sizes, the full one and half of it, give a fixed-plus-per-claim fit of the time (per
claim replayed) and of the memory (per claim held: replay forgets a claim its retention after its
last EOB, `held`), and their figures for a million claims (measured when the run is a million).
Reports numbers; never fails on a timing.

    python -m cobstream.bench.replay_speed [CLAIMS]

The traffic file (`Traffic(claims, seed=7)`, reference data first, then every claim's EOBs) is
written once per size into the cache folder and reused.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from cobstream.bench.commands import run_measured
from cobstream.bench.options import MILLION
from cobstream.bench.traffic import Traffic
from models.cob.processor import DEFAULT_RETENTION

START = datetime(2026, 11, 1, tzinfo=UTC)  # fixed: the file is the same from one run to the next
CACHE = Path(".cache") / "bench"


@dataclass(frozen=True)
class ReplayRun:
    """One `cobstream replay FILE` of `claims` claims."""

    claims: int
    input_lines: int
    output_lines: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float

    @property
    def claims_per_s(self) -> float:
        return self.claims / max(self.seconds, 1e-9)


def traffic_file(claims: int, folder: Path = CACHE) -> Path:
    """The generated traffic of `claims` claims as a replay file, written once."""
    path = folder / f"traffic-{claims}-seed7.jsonl"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        for record in Traffic(claims, seed=7, start=START).records():
            out.write(orjson.dumps({"topic": record["topic"], "key": record["key"], "value": record["value"]}))
            out.write(b"\n")
    partial.replace(path)
    return path


def run_replay(path: Path, claims: int) -> ReplayRun:
    """`cobstream replay FILE` in a child process; its outcomes counted, not kept."""
    output, run = run_measured(
        ["replay", str(path)],
        os.environ,
        lambda out: sum(chunk.count(b"\n") for chunk in iter(lambda: out.read(1 << 20), b"")),
    )
    if run.exit_code != 0:
        raise RuntimeError(f"cobstream replay exited with {run.exit_code}")
    with path.open("rb") as lines:
        inputs = sum(1 for _ in lines)
    return ReplayRun(
        claims=claims,
        input_lines=inputs,
        output_lines=output,
        seconds=run.seconds,
        cpu_seconds=run.cpu_seconds,
        peak_rss_mib=run.peak_rss_mib,
    )


def fit(small: float, large: float, small_n: int, large_n: int) -> tuple[float, float]:
    """(fixed, per claim) of the line through two measurements."""
    per_claim = (large - small) / max(large_n - small_n, 1)
    return large - per_claim * large_n, per_claim


def fit_or_proportional(small: float, large: float, small_n: int, large_n: int) -> tuple[float, float]:
    """`fit`, unless noise swamped the per-claim part (the half run measured more than the whole,
    at smoke sizes), or the two runs had as many claims (the memory of a half million and of a
    million claims replayed, both holding a retention's worth): then all of the larger
    measurement per claim, no fixed part."""
    fixed, per_claim = fit(small, large, small_n, large_n)
    return (fixed, per_claim) if per_claim > 0 and small_n != large_n else (0.0, large / max(large_n, 1))


def held(claims: int) -> int:
    """How many claims replay holds at most: the generator adjudicates one claim a minute, and a
    claim is forgotten its retention after its last EOB (14 days later), so at most a retention's
    worth of minutes of claims (and those 14 days) are held at once."""
    window = (DEFAULT_RETENTION + timedelta(days=14)) // timedelta(minutes=1)
    return min(claims, window)


def measure_replay(claims: int) -> dict[str, Any]:
    """Replay `claims` and half as many; the per-million figures from the fit of the two (measured
    when `claims` is a million): time per claim replayed, memory per claim held."""
    half = max(1, claims // 2)
    runs = [run_replay(traffic_file(n), n) for n in (half, claims)]
    small, large = runs
    seconds = fit_or_proportional(small.seconds, large.seconds, half, claims)
    rss = fit_or_proportional(small.peak_rss_mib, large.peak_rss_mib, held(half), held(claims))
    return {
        "runs": [asdict(run) | {"claims_per_s": round(run.claims_per_s, 1)} for run in runs],
        "claims_per_s": round(large.claims_per_s, 1),
        "claims_per_cpu_s": round(claims / max(large.cpu_seconds, 1e-9), 1),
        "peak_rss_mib": large.peak_rss_mib,
        "rss_fixed_mib": round(rss[0], 1),
        "rss_kib_per_claim": round(rss[1] * 1024, 2),
        "extrapolated": claims != MILLION,
        "seconds_per_million": round(large.seconds if claims == MILLION else seconds[0] + seconds[1] * MILLION, 1),
        "claims_held_per_million": held(MILLION),
        "rss_mib_per_million": round(large.peak_rss_mib if claims == MILLION else rss[0] + rss[1] * held(MILLION), 1),
    }


if __name__ == "__main__":
    print(orjson.dumps(measure_replay(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)).decode())
