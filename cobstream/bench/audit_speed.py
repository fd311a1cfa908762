"""The bench's audit phase: `cobstream audit` as a user runs it, in a child process, over the topics
the pipeline phase's worker left (every claim with its EOBs and its outcomes), timed and sized
from the child's own accounting (`wait4`), its report read for what it judged."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import orjson

from cobstream.bench.options import MIB, MILLION, BenchError


def run_audit(env: dict[str, str], claims: int) -> dict[str, Any]:
    """`cobstream audit --json` over one deployment's topics (`env` names the broker, the topic
    prefix and the partitions, as for its workers); `claims` is how many the traffic had, for the
    per-million figure (proportional: the audit reads and replays every claim once)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "cobstream.cli", "audit", "--json"],
            stdout=subprocess.PIPE,
            stderr=err,
            env={**env, "PYTHONHASHSEED": "0"},
        )
        assert child.stdout is not None
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        try:
            report = orjson.loads(out)
        except orjson.JSONDecodeError:
            err.seek(0)
            last = err.read().decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise BenchError(f"cobstream audit gave no report (exit {child.returncode}): {last[0]}") from None
    counts = report["counts"]
    return {
        "claims": claims,
        "exit_status": report["exit_status"],
        "counts": counts,
        "seconds": round(seconds, 3),
        "claims_per_s": round(claims / max(seconds, 1e-9), 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mib": round(usage.ru_maxrss * 1024 / MIB, 1),  # Linux: kilobytes
        "extrapolated": claims != MILLION,
        "seconds_per_million": round(seconds * MILLION / max(claims, 1), 1),
    }
