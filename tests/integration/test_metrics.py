"""The worker's /metrics page on the real broker: after a small day of traffic (the example day,
an 835 with a corrupt claim and one bad EOB), what Prometheus would scrape agrees with what went
in and what came out, the claims' census agrees with replay, the lag drains to 0, and no claim id
appears anywhere; the page is served on loopback only."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import Deployment, replayed
from prometheus_client.parser import text_string_to_metric_families
from test_remittance import CORRUPT, moved_to_yesterday
from test_stream import example_lines

from cobstream.engine import Engine
from cobstream.shared.kafka_io import remittance_lines
from cobstream.shared.processes import free_port
from cobstream.shared.replay_format import replay_lines
from models.cob.census import ClaimCensus
from models.cob.claim import EobReceived, SubmissionReceived
from models.remittance.decode import Rejected, load_json
from models.remittance.intake import decode_message, decode_remittance

SECRET_CLAIM = "CLM-METRICS-SECRET-31337"


class Scrape:
    """One scrape of the page: its text, headers, and its samples by metric name."""

    def __init__(self, port: int) -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            self.content_type = response.headers["Content-Type"]
            self.text = response.read().decode()
        self.samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(self.text):
            for found in family.samples:
                self.samples.setdefault(found.name, []).append((found.labels, found.value))

    def by(self, name: str, *labels: str) -> Counter:
        """The samples of `name` summed by these labels (zeros left out)."""
        summed: Counter = Counter()
        for found, value in self.samples.get(name, []):
            key = tuple(found[label] for label in labels)
            summed[key if len(key) > 1 else key[0]] += value
        return +summed


def bad_secondary() -> bytes:
    """An EOB whose bad `paid` makes it a dead letter naming lines[0].paid (and quoting the claim)."""
    secondary = next(load_json(line)["value"] for line in example_lines() if b'"eob.secondary"' in line)
    value = {**secondary, "claim_id": SECRET_CLAIM, "event_id": f"EOB-{SECRET_CLAIM}"}
    value["lines"] = [{**value["lines"][0], "paid": SECRET_CLAIM}]
    return json.dumps({"topic": "eob.secondary", "key": SECRET_CLAIM, "value": value}).encode() + b"\n"


def traffic(folder: Path) -> list[bytes]:
    corrupt = moved_to_yesterday(CORRUPT, folder)
    return example_lines() + remittance_lines(corrupt.read_bytes()) + [bad_secondary()]


def taken_in(lines: list[bytes], letters: list[dict[str, Any]]) -> tuple[Counter, Counter]:
    """Messages per input topic, and EOBs accepted per input topic (an 835's claim payments)."""
    records = [load_json(line) for line in lines]
    messages = Counter(r["topic"] for r in records)
    eobs = Counter(r["topic"] for r in records if r["topic"].startswith("eob."))
    eobs -= Counter(letter["source_topic"] for letter in letters)
    eobs["remittance.x12"] = sum(
        isinstance(item, EobReceived)
        for r in records
        if r["topic"] == "remittance.x12"
        for item in decode_remittance(r["value"])
    )
    return messages, +eobs


def x12_claims(lines: list[bytes]) -> int:
    """The claims the X12 messages carry (835 claim payments and 837 claims)."""
    return sum(
        isinstance(item, EobReceived | SubmissionReceived)
        for r in (load_json(line) for line in lines)
        if r["topic"] == "remittance.x12"
        for item in decode_remittance(r["value"])
    )


def rejections(lines: list[bytes]) -> Counter:
    """(input topic, reason) of every rejection the intake makes of these messages."""
    found: Counter = Counter()
    for record in (load_json(line) for line in lines):
        value = record["value"]
        raw = value if isinstance(value, str | None) else json.dumps(value)
        for item in decode_message(record["topic"], record.get("key"), raw):
            if isinstance(item, Rejected):
                found[record["topic"], item.reason] += 1
    return found


def census_of(lines: list[bytes]) -> Counter:
    engine = Engine()
    list(replay_lines(lines, engine, datetime.now(UTC)))
    census = ClaimCensus()
    for state in engine.claims.values():
        census.count(state)
    return +Counter(census.counts)


def scrape_until(port: int, settled: Callable[[Scrape], bool], timeout: float = 60) -> Scrape:
    deadline = time.monotonic() + timeout
    scrape = Scrape(port)
    while not settled(scrape) and time.monotonic() < deadline:
        time.sleep(0.5)
        scrape = Scrape(port)
    return scrape


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on `port` (Linux's /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, _, state = row.split()[1:4]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_the_metrics_page_accounts_for_what_went_in_and_what_came_out(deployment: Deployment, tmp_path: Path) -> None:
    port = free_port()
    deployment.env_extra["COBSTREAM_WEB_PORT"] = str(port)
    lines = traffic(tmp_path)
    expected = replayed(lines)
    worker = deployment.start_worker()
    deployment.produce(lines, interval=0.02)
    events = deployment.outputs(len(expected), timeout=120)
    outcomes = [e for e in events if e["topic"] != "eob.dead-letter"]
    letters = [e["value"] for e in events if e["topic"] == "eob.dead-letter"]
    census = census_of(lines)

    def settled(scrape: Scrape) -> bool:
        lags = scrape.samples.get("cobstream_consumer_lag_records", [])
        return (
            bool(lags)
            and all(value == 0 for _, value in lags)
            and scrape.by("cobstream_claims", "status") == census
            and sum(scrape.by("cobstream_outcomes_published_total", "topic").values()) == len(outcomes)
        )

    scrape = scrape_until(port, settled)
    messages, eobs = taken_in(lines, letters)
    assert scrape.by("cobstream_input_messages_total", "topic") == messages
    assert scrape.by("cobstream_eobs_received_total", "topic") == eobs
    # Keyed by claim id, the JSON EOBs and submissions were joined where they landed: only the X12
    # messages' claims (835 payments, 837 claims) went through claim-events.
    assert scrape.by("cobstream_rekeyed_total", "topic") == Counter({"remittance.x12": x12_claims(lines)})
    assert scrape.by("cobstream_dead_letters_total", "topic", "reason") == rejections(lines)
    assert sum(rejections(lines).values()) == len(letters)
    assert scrape.by("cobstream_dead_letters_total", "topic", "reason")[("eob.secondary", "lines[].paid")] == 1
    assert scrape.by("cobstream_outcomes_published_total", "topic") == Counter(e["topic"] for e in outcomes)
    discrepancies = Counter(e["value"]["kind"] for e in outcomes if e["topic"] == "billing.discrepancy")
    assert scrape.by("cobstream_outcomes_published_total", "kind") == discrepancies + Counter(
        "expected_payment" if e["topic"] == "secondary.expected" else e["value"]["status"]
        for e in outcomes
        if e["topic"] != "billing.discrepancy"
    )
    assert scrape.samples["cobstream_outcome_latency_seconds_count"][0][1] == len(outcomes)
    lags = scrape.samples["cobstream_consumer_lag_records"]
    assert {labels["topic"] for labels, _ in lags} >= {"eob.primary", "eob.secondary", "cobstream.claim-events"}
    assert all(value == 0 for _, value in lags), lags
    assert scrape.by("cobstream_claims", "status") == census
    assert scrape.samples["cobstream_open_claims"][0][1] == sum(n for s, n in census.items() if s != "settled")
    assert scrape.samples["cobstream_table_recovery_in_progress"][0][1] == 0
    assert scrape.content_type.startswith("text/plain")

    records = [load_json(line) for line in lines]
    claim_ids = {r["value"]["claim_id"] for r in records if isinstance(r["value"], dict) and "claim_id" in r["value"]}
    claim_ids |= {e["value"]["claim_id"] for e in events if e["value"].get("claim_id")} | {SECRET_CLAIM}
    assert len(claim_ids) > 20
    assert not [claim_id for claim_id in claim_ids if claim_id in scrape.text]
    assert listening_addresses(port) == {"0100007F"}, "the web server listens on 127.0.0.1 only"

    # A new worker with an empty state folder recovers the claims table from its changelog, says
    # so, and counts the same census from the recovered table.
    worker.stop()
    port = free_port()
    deployment.env_extra["COBSTREAM_WEB_PORT"] = str(port)
    deployment.start_worker("recovered")
    scrape = scrape_until(port, lambda s: s.by("cobstream_claims", "status") == census)
    assert scrape.by("cobstream_claims", "status") == census
    assert scrape.samples["cobstream_table_recovery_in_progress"][0][1] == 0
    ends = {labels["partition"]: value for labels, value in scrape.samples["cobstream_table_recovery_end_offset"]}
    recovered = {
        labels["partition"]: value for labels, value in scrape.samples["cobstream_table_recovery_recovered_offset"]
    }
    assert recovered == ends
    assert sum(end + 1 for end in ends.values()) >= sum(census.values()), "a changelog record per claim at least"
    assert {value for _, value in scrape.samples["cobstream_table_recovery_remaining_records"]} == {0}
    assert not scrape.by("cobstream_input_messages_total", "topic"), "nothing read again"
