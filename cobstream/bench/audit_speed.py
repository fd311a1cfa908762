"""The bench's audit phase: `cobstream audit` as a user runs it, in a child process
(`cobstream.bench.commands`), over the topics the pipeline phase's worker left (every claim with
its EOBs and its outcomes), its report read for what it judged."""

from __future__ import annotations

from typing import Any

import orjson

from cobstream.bench.commands import run_measured
from cobstream.bench.options import MILLION, BenchError
from cobstream.shared.processes import available_cores


def run_audit(env: dict[str, str], claims: int, jobs: int | None = None) -> dict[str, Any]:
    """`cobstream audit --json --jobs N` over one deployment's topics (`env` names the broker, the
    topic prefix and the partitions, as for its workers); `claims` is how many the traffic had,
    for the per-million figure (proportional: the audit reads and replays every claim once).
    `jobs`: the audit's default, one process a core. The peak RSS is the largest process's
    (wait4's): with several jobs the whole audit holds more."""
    jobs = jobs or available_cores()
    out, run = run_measured(["audit", "--json", "--jobs", str(jobs)], env, lambda stdout: stdout.read())
    try:
        report = orjson.loads(out)
    except orjson.JSONDecodeError:
        why = run.last_error_line or "no output"
        raise BenchError(f"cobstream audit gave no report (exit {run.exit_code}): {why}") from None
    counts = report["counts"]
    return {
        "claims": claims,
        "jobs": jobs,
        "exit_status": report["exit_status"],
        "counts": counts,
        "seconds": run.seconds,
        "claims_per_s": round(claims / max(run.seconds, 1e-9), 1),
        "cpu_s": run.cpu_seconds,
        "peak_rss_mib": run.peak_rss_mib,
        "extrapolated": claims != MILLION,
        "seconds_per_million": round(run.seconds * MILLION / max(claims, 1), 1),
    }
