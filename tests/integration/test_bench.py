"""`cobstream bench --smoke` on the real broker: every phase measured, every figure a positive
number. Timings are never checked against the targets (a benchmark reports, CI keeps it working)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness import BROKER, ROOT

SECTIONS = (
    "core", "replay", "baseline", "faust", "faust_table", "pipeline", "audit", "latency", "scaleout", "rekeyed",
    "state",
)  # fmt: skip
POSITIVE = {
    "core": ("claims_per_s", "events_per_s"),
    "replay": ("claims_per_s", "claims_per_cpu_s", "peak_rss_mib", "seconds_per_million", "rss_mib_per_million"),
    "baseline": ("messages_per_s",),
    "faust": ("messages_per_s", "app_peak_rss_mib"),
    "faust_table": ("messages_per_s", "app_peak_rss_mib"),
    "pipeline": ("events_per_s", "claims_per_s", "ratio_to_baseline", "ratio_to_faust", "ratio_to_faust_table"),
    "audit": ("claims_per_s", "seconds_per_million", "cpu_s", "peak_rss_mib"),
    "latency": ("p50_ms", "p95_ms", "p99_ms", "samples", "offered_events_per_s"),
    "scaleout": ("events_per_s", "speedup"),
    "rekeyed": ("events_per_s", "direct_speedup"),
    "state": (
        "rss_mib",
        "disk_mib",
        "recovery_s",
        "changelog_records",
        "rss_mib_per_million",
        "disk_mib_per_million",
        "recovery_s_per_million",
    ),
}


def test_bench_smoke_measures_every_phase(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "cobstream.cli", "bench", "--smoke", "--json", str(out)],
        env={**os.environ, "COBSTREAM_BROKERS": BROKER or "127.0.0.1:9092"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["errors"] == {}
    assert report["smoke"] is True
    assert report["machine"]["nproc"] >= 1
    assert report["machine"]["python"]
    assert "commit" in report["git"]
    for section in SECTIONS:
        found = report["results"][section]
        for name in POSITIVE[section]:
            assert found[name] > 0, (section, name, found[name])
    for drained in ("pipeline", "rekeyed"):
        found = report["results"][drained]
        assert found["outcomes_arrived"] >= found["outcomes_expected"] > 0, drained
        assert found["dead_letters"] == 0, drained
    pipeline = report["results"]["pipeline"]
    # The audit judged the pipeline's topics clean: every EOB taken in, every outcome as the core says.
    audit = report["results"]["audit"]
    assert audit["exit_status"] == 0, audit
    assert audit["counts"]["taken_in"] == pipeline["eob_events"]
    assert audit["counts"]["expected"] == pipeline["outcomes_expected"]
    assert audit["counts"]["problems"] == 0
    assert report["results"]["state"]["changelog_records"] >= report["sizes"]["state_claims"]
    # The passthroughs passed the pipeline's whole backlog, every EOB message once.
    for section in ("faust", "faust_table"):
        assert report["results"][section]["messages"] == pipeline["eob_events"]
    assert report["consumer"]["stream_buffer_maxsize"] > 0
    # Each figure of the table: a number with its unit; targets only where the issue sets one.
    ids = {row["id"] for row in report["figures"]}
    assert {
        "baseline.messages_per_s",
        "faust.messages_per_s",
        "faust_table.messages_per_s",
        "pipeline.events_per_s",
        "pipeline.ratio_to_baseline",
        "pipeline.ratio_to_faust_table",
        "latency.p99_ms",
        "core.claims_per_s",
        "state.rss_mib_per_million",
        "state.recovery_s_per_million",
        "scaleout.events_per_s",
        "rekeyed.direct_speedup",
        "audit.seconds_per_million",
    } <= ids
    for row in report["figures"]:
        assert row["value"] > 0, row
        assert row["unit"], row
        assert (row["target"] is None) == (row["met"] is None), row
    assert "pipeline: one worker" in done.stdout
