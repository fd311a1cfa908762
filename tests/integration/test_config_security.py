"""A worker with a bad configuration stops at once with one line saying what to fix; a worker on
the SASL/SCRAM listener works end to end; and the worker's log carries no patient data."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from harness import (
    ROOT,
    SASL_USER,
    Deployment,
    Exited,
    comparable,
    free_port,
    replayed,
    run_worker_to_exit,
    sasl_env,
)

from streams.topics import create_topics

SETTINGS_NAMED = re.compile(r"COBSTREAM_[A-Z_]+")


def assert_one_line(exited: Exited, code: int, *needles: str, within: float) -> str:
    """The worker exited with `code`, in time, printing exactly one line (no traceback) on stderr."""
    assert exited.returncode == code, (exited.returncode, exited.stderr[-3000:])
    assert exited.seconds < within, f"took {exited.seconds:.1f}s"
    assert len(exited.stderr_lines) == 1, exited.stderr[-3000:]
    assert "Traceback" not in exited.stderr + exited.stdout
    line = exited.stderr_lines[0]
    assert line.startswith("cobstream worker: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def eob(
    role: str,
    claim: str,
    *,
    lines: list[dict[str, Any]],
    status: str = "processed",
    extra: dict[str, Any] | None = None,
) -> bytes:
    value = {
        "event_id": f"{role[0].upper()}-{claim}",
        "claim_id": claim,
        "payer_id": "BCBS-TX" if role == "primary" else "AETNA",
        "status": status,
        "adjudicated_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "lines": lines,
        **({"secondary_payer_id": "AETNA"} if role == "primary" else {}),
        **(extra or {}),
    }
    return json.dumps({"topic": f"eob.{role}", "key": claim, "value": value}).encode()


def service_line(charge: str, paid: str, allowed: str | None, *adjustments: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "line_id": "1",
        "procedure_code": "99214",
        "service_date": "2026-03-02",
        "charge": charge,
        "paid": paid,
        "allowed": allowed,
        "adjustments": [{"group": g, "reason": r, "amount": a} for g, r, a in adjustments],
    }


# ---- SASL/SCRAM end to end ---------------------------------------------------------------------


def run_cli(deployment: Deployment, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "cobstream.cli", *args],
        env=deployment.env("cli"),
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return done


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_a_worker_on_the_scram_listener_reconciles_a_claim(tmp_path: Path, mechanism: str) -> None:
    deployment = Deployment(tmp_path, env_extra=sasl_env(mechanism))
    # Everything through the SASL listener: topic creation, publishing and the worker itself.
    created = run_cli(deployment, "topics", "create").stdout.decode()
    assert f"{deployment.prefix}eob.primary: created with 3 partitions" in created
    primary = eob(
        "primary",
        "CLM-SASL-1",
        lines=[service_line("150.00", "80.00", "100.00", ("CO", "45", "50.00"), ("PR", "2", "20.00"))],
    )
    secondary = eob("secondary", "CLM-SASL-1", lines=[service_line("150.00", "20.00", None, ("OA", "23", "130.00"))])
    expected = replayed([primary, secondary])
    assert sorted(e["topic"] for e in expected) == ["billing.ready", "secondary.expected"]
    try:
        worker = deployment.start_worker("sasl")
        # Paced, so that the worker takes the primary first, as the replay does.
        run_cli(deployment, "produce", "--interval", "0.5", "-", stdin=primary + b"\n" + secondary + b"\n")
        got = deployment.outputs(len(expected))  # read back on the plain listener: the same broker
    finally:
        deployment.stop()
    # aiokafka logs each login: every client of the worker (Faust's consumer, producer and
    # admin, the reference reader) went through SCRAM.
    assert f"Authenticated as {SASL_USER} via {mechanism}" in worker.text()
    missing, unexpected = comparable(expected) - comparable(got), comparable(got) - comparable(expected)
    assert not missing, f"missing {list(missing)}"
    assert not unexpected, f"unexpected {list(unexpected)}"
    ready = next(e["value"] for e in got if e["topic"] == "billing.ready")
    assert (ready["status"], ready["secondary_paid"], ready["patient_responsibility"], ready["write_off"]) == (
        "ready",
        "20.00",
        "0.00",
        "50.00",
    )


# ---- fail fast on a bad configuration ----------------------------------------------------------


def test_a_wrong_scram_password_stops_the_worker_with_one_line(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path, env_extra=sasl_env("SCRAM-SHA-512", password="not-the-password"))
    exited = run_worker_to_exit(deployment, timeout=40)
    line = assert_one_line(exited, 3, "refused the SASL credentials", within=20)
    assert set(SETTINGS_NAMED.findall(line)) >= {
        "COBSTREAM_SASL_USERNAME",
        "COBSTREAM_SASL_PASSWORD",
        "COBSTREAM_SASL_MECHANISM",
        "COBSTREAM_SECURITY_PROTOCOL",
    }
    assert "not-the-password" not in exited.stderr + exited.stdout


def test_sasl_settings_on_the_plaintext_listener_stop_the_worker_with_one_line(tmp_path: Path) -> None:
    env = sasl_env()
    env.pop("COBSTREAM_BROKERS")  # the deployment's plain listener
    exited = run_worker_to_exit(Deployment(tmp_path, env_extra=env), timeout=40)
    assert_one_line(exited, 3, "COBSTREAM_SECURITY_PROTOCOL", "COBSTREAM_BROKERS", within=20)


def test_a_plaintext_worker_on_the_sasl_listener_stops_with_one_line(tmp_path: Path) -> None:
    broker = sasl_env()["COBSTREAM_BROKERS"]
    exited = run_worker_to_exit(Deployment(tmp_path, env_extra={"COBSTREAM_BROKERS": broker}), timeout=40)
    assert_one_line(exited, 3, broker, "COBSTREAM_SECURITY_PROTOCOL", within=20)


def test_an_unreachable_broker_stops_the_worker_at_once(tmp_path: Path) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    exited = run_worker_to_exit(Deployment(tmp_path, env_extra={"COBSTREAM_BROKERS": nobody}), timeout=30)
    line = assert_one_line(exited, 3, within=10)
    assert line == (
        f"cobstream worker: cannot reach Kafka at {nobody} (connection refused); "
        "check COBSTREAM_BROKERS and that the broker is running"
    )


def test_an_invalid_setting_stops_the_worker_before_it_connects(tmp_path: Path) -> None:
    exited = run_worker_to_exit(Deployment(tmp_path, env_extra={"COBSTREAM_PARTITIONS": "0"}), timeout=30)
    line = assert_one_line(exited, 2, within=10)
    assert line == "cobstream worker: COBSTREAM_PARTITIONS=0 must be at least 1"


def test_missing_topics_stop_the_worker_naming_topics_create(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path)  # a fresh prefix, no `topics create`
    exited = run_worker_to_exit(deployment, timeout=30)
    line = assert_one_line(exited, 2, within=15)
    assert line.startswith(f"cobstream worker: topic {deployment.prefix}eob.primary does not exist")
    assert line.endswith("run: cobstream topics create (with the same COBSTREAM_TOPIC_PREFIX and COBSTREAM_PARTITIONS)")


async def _create(deployment: Deployment, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=deployment.settings.broker_list)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


@pytest.mark.parametrize("case", ["all-topics", "eob.primary", "changelog"])
def test_topics_partitioned_unlike_the_setting_stop_the_worker(tmp_path: Path, case: str) -> None:
    deployment = Deployment(tmp_path)
    prefix = deployment.prefix
    if case == "all-topics":
        asyncio.run(create_topics(replace(deployment.settings, partitions=2)))
        wrong = f"{prefix}eob.primary"
    elif case == "eob.primary":
        asyncio.run(_create(deployment, f"{prefix}eob.primary", 2))
        asyncio.run(create_topics(deployment.settings))
        wrong = f"{prefix}eob.primary"
    else:  # the claims table's changelog, as an earlier worker with other settings left it
        asyncio.run(_create(deployment, f"{prefix}cobstream-claims-changelog", 2))
        asyncio.run(create_topics(deployment.settings))
        wrong = f"{prefix}cobstream-claims-changelog"
    exited = run_worker_to_exit(deployment, timeout=30)
    line = assert_one_line(
        exited,
        2,
        f"topic {wrong} has 2 partitions but COBSTREAM_PARTITIONS=3",
        "the claims table must be co-partitioned with the claim topics; recreate ",
        within=15,
    )
    if case == "all-topics":
        assert line.endswith("recreate the topics or set COBSTREAM_PARTITIONS=2")
    else:
        assert line.endswith(f"recreate {wrong} with 3 partitions")


# ---- no patient data in the log ----------------------------------------------------------------

PATIENT = {
    "patient_name": "Zelda Quixotic-Marchbanks",
    "member_id": "MBR-77731-XQ",
    "subscriber_dob": "1951-07-04",
    "subscriber_name": "Octavius Pemberton-Ruiz",
}
# Every amount of the claims below is distinctive: none may reach the log.
AMOUNTS = [
    *("4321.87", "2469.13", "1975.30", "1852.74", "493.83", "3828.04"),  # claim 1
    *("1234.56", "987.65", "790.12", "246.91", "197.53", "1037.03"),  # claim 2
    *("8765.43", "6543.21", "5432.19", "1111.11", "7654.32"),  # unbalanced
    *("3141.59", "2718.28", "423.31"),  # bad status
]


def pii_lines() -> list[bytes]:
    def claim(name: str, charge: str, allowed: str, paid: str, co: str, pr: str, oa: str) -> list[bytes]:
        return [
            eob(
                "primary",
                name,
                lines=[service_line(charge, paid, allowed, ("CO", "45", co), ("PR", "2", pr))],
                extra=PATIENT,
            ),
            eob("secondary", name, lines=[service_line(charge, pr, None, ("OA", "23", oa))], extra=PATIENT),
        ]

    return [
        *claim("CLM-PII-1", "4321.87", "2469.13", "1975.30", "1852.74", "493.83", "3828.04"),
        *claim("CLM-PII-2", "1234.56", "987.65", "790.12", "246.91", "197.53", "1037.03"),
        # Dead letters: a line that does not balance, and a status with a member id in it.
        eob(
            "primary",
            "CLM-PII-3",
            lines=[service_line("8765.43", "5432.19", "6543.21", ("CO", "45", "1111.11"))],
            extra=PATIENT,
        ),
        eob(
            "primary",
            "CLM-PII-4",
            lines=[service_line("3141.59", "2718.28", "2718.28", ("CO", "45", "423.31"))],
            status=f"pended for {PATIENT['member_id']}",
            extra=PATIENT,
        ),
    ]


def test_the_debug_log_carries_no_patient_data_or_amounts(deployment: Deployment) -> None:
    lines = pii_lines()
    expected = replayed(lines)
    assert Counter(e["topic"] for e in expected) == {
        "secondary.expected": 2,
        "billing.ready": 2,
        "eob.dead-letter": 2,
    }
    deployment.env_extra["COBSTREAM_LOG_LEVEL"] = "debug"
    worker = deployment.start_worker("debug")
    deployment.produce(lines, interval=0.2)
    got = deployment.outputs(len(expected))
    worker.stop()
    assert comparable(got) == comparable(expected)
    log = worker.text()
    assert "dead letter" in log  # the log says what happened...
    assert "CLM-PII-3" in log or "eob.primary" in log
    leaks = {
        needle: [line.strip()[:300] for line in log.splitlines() if needle in line][:3]
        for needle in [*PATIENT.values(), *AMOUNTS]
        if needle in log
    }
    assert not leaks, f"the worker log carries patient data or amounts: {json.dumps(leaks, indent=1)}"
