"""`cobstream explain --worker`: the workers' explanation page says what `--replay` says for the
same input, from whichever worker is asked (Faust's table routing finds the claim's owner)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import ROOT, Deployment, replayed, wait_for

from cobstream.explain import WorkerError, fetch_explanation
from cobstream.shared.explanation import explain_from_messages, replay_messages
from cobstream.shared.processes import free_port
from cobstream.shared.replay_format import shift_times
from models.remittance.decode import load_json

EXAMPLE = ROOT / "examples" / "day-2026-03-24.jsonl"
ODD_ID = "CLM/2026 #7?ü"  # a claim id that must be percent-encoded in the path


def small_day() -> list[bytes]:
    """The example day moved to yesterday (no timeout due on the wall clock), plus the article's
    claim again under an id with a slash, a space, a hash, a question mark and a non-ASCII letter."""
    lines = EXAMPLE.read_bytes().splitlines(keepends=True)
    copies = []
    for line in lines:
        record = load_json(line)
        if isinstance(record, dict) and record.get("key") == "CLM-2026-0001":
            value = {**record["value"], "claim_id": ODD_ID, "event_id": record["value"]["event_id"] + "-odd"}
            copies.append(json.dumps({**record, "key": ODD_ID, "value": value}).encode() + b"\n")
    return shift_times([*lines, *copies], datetime.now(UTC))


def without_time(explanation: dict[str, Any]) -> dict[str, Any]:
    return {**explanation, "explained_at": None}


def start_worker(deployment: Deployment, name: str) -> str:
    port = free_port()
    deployment.env_extra["COBSTREAM_WEB_PORT"] = str(port)
    deployment.start_worker(name)
    return f"http://127.0.0.1:{port}"


def answered(url: str, claim_id: str) -> dict[str, Any] | None:
    """The worker's explanation as JSON, waiting out a rebalance (503)."""
    found: list[Any] = []

    def ask() -> bool:
        try:
            explanation = fetch_explanation(url, claim_id, timeout=10)
        except WorkerError as exc:
            if "answered 503" in str(exc):
                return False
            raise
        found.append(explanation)
        return True

    wait_for(ask, 60, f"{url} to answer")
    return found[0].model_dump(mode="json") if found[0] is not None else None


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cobstream.cli", "explain", *args],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env=env,
    )


def undated(x12: bytes) -> list[list[str]]:
    """An 837's segments without the times of its creation (ISA09-10, GS04-05, BHT04-05)."""
    created = {"ISA": (9, 10), "GS": (4, 5), "BHT": (4, 5)}
    segments = []
    for text in x12.decode().replace("\n", "").split("~"):
        elements = text.split("*")
        for n in created.get(elements[0], ()):
            elements[n] = ""
        segments.append(elements)
    return segments


def export(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cobstream.cli", "export", "837", *args],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_any_worker_explains_every_claim_as_replay_does(deployment: Deployment, tmp_path: Path) -> None:
    lines = small_day()
    day = tmp_path / "day.jsonl"
    day.write_bytes(b"".join(lines))
    urls = [start_worker(deployment, "w1"), start_worker(deployment, "w2")]
    deployment.produce(lines, interval=0.02)
    deployment.outputs(len(replayed(lines)))

    claims = sorted({load_json(line)["value"]["claim_id"] for line in lines if b'"claim_id"' in line})
    assert ODD_ID in claims
    for claim_id in claims:
        replay = explain_from_messages(replay_messages(lines), claim_id)
        assert replay is not None
        want = without_time(replay.model_dump(mode="json"))
        for url in urls:  # each worker owns some partitions and routes the rest
            got = answered(url, claim_id)
            assert got is not None, f"{url} does not find a claim"
            assert without_time(got) == want, f"{url} explains a claim otherwise than replay"
    assert answered(urls[0], "CLM-NEVER-SEEN") is None
    assert answered(urls[1], "CLM-NEVER-SEEN") is None

    # The command itself, as an operator runs it.
    for claim_id in ("CLM-2026-0013", ODD_ID):
        by_worker = cli(claim_id, "--worker", urls[1], "--json")
        by_replay = cli(claim_id, "--replay", str(day), "--json")
        assert (by_worker.returncode, by_replay.returncode) == (0, 0), by_worker.stderr + by_replay.stderr
        assert without_time(json.loads(by_worker.stdout)) == without_time(json.loads(by_replay.stdout))
    missing = cli("CLM-NEVER-SEEN", "--worker", urls[0])
    assert missing.returncode == 1
    assert f"the worker at {urls[0]}" in missing.stderr.decode()
    text = cli("CLM-2026-0013", "--worker", urls[0])
    assert text.returncode == 0
    assert "secondary_underpaid (blocking)" in text.stdout.decode()

    # The secondary 837 (COVERAGE.md section 5): each worker answers what the file gives.
    for url in urls:
        exported = export("CLM-2026-0201", "--worker", url)
        assert exported.returncode == 0, exported.stderr
        # The same file but for its creation time (the outcome's time: the record's in a worker).
        assert undated(exported.stdout) == undated(export("CLM-2026-0201", "--replay", str(day)).stdout)
        assert exported.stdout.startswith(b"ISA*")
    json_only = export("CLM-2026-0037", "--worker", urls[0])
    assert json_only.returncode == 1
    assert b"an 837 can only be built from an 837" in json_only.stderr

    for worker in deployment.workers:
        log = worker.text()
        assert "CLM-2026-0013" not in log  # the page logs no claim id
        assert "Traceback" not in log, log[-3000:]
