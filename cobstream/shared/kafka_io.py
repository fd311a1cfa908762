"""Publishing replay files to the input topics, and reading the output topics back."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterable
from typing import IO, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cobstream.shared.replay_format import line_key_text, value_text
from models.contract.topics import (
    DISCREPANCY,
    EXPECTED,
    INPUT_TOPICS,
    OUTPUT_TOPICS,
    READY,
    REMITTANCE_X12,
    SECONDARY_CLAIM,
)
from models.remittance import TransactionMessage, split_transactions
from models.remittance.decode import load_json
from streams.settings import Settings
from streams.topics import missing_topics


def producer(settings: Settings, **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.broker_list,
        acks="all",
        enable_idempotence=True,
        **settings.security.aiokafka_options(),
        **options,
    )


class MissingTopics(Exception):
    """The broker lacks input topics: `cobstream topics` creates them."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"the broker has no topic {', '.join(names)}; create them with `cobstream topics`")


async def produce_file(settings: Settings, lines: Iterable[bytes], *, interval: float = 0.0) -> tuple[int, int]:
    """Publish each replay line to its (prefixed) topic, in order; returns (sent, skipped).

    Lines that are not JSON, name no topic or an unknown one cannot be published and are
    reported on stderr. With `interval`, each message is acknowledged before the next is sent
    and the pause lets the worker take them in file order across topics.
    """
    missing = await missing_topics(settings, [settings.topic(t) for t in sorted(INPUT_TOPICS)])
    if missing:
        raise MissingTopics(missing)
    sent = skipped = 0
    client = producer(settings)
    await client.start()
    try:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = load_json(line)
                topic = record["topic"]
                if topic not in INPUT_TOPICS:
                    raise ValueError(f"unknown input topic {topic!r}")
                key, value = line_key_text(record.get("key")), value_text(record.get("value"))
            except (ValueError, KeyError, TypeError) as exc:
                print(f"line {number}: not published ({exc})", file=sys.stderr)
                skipped += 1
                continue
            future = await client.send(
                settings.topic(topic),
                key=key.encode() if key is not None else None,
                value=value.encode("utf-8", "surrogatepass") if value is not None else None,
            )
            sent += 1
            if interval:
                await future
                await asyncio.sleep(interval)
        await client.flush()
    finally:
        await client.stop()
    return sent, skipped


def remittance_lines(data: bytes) -> list[bytes]:
    """An X12 835 (or 837P/837I) file as replay lines for `remittance.x12`, one ST/SE transaction a
    message (each in its own envelope, so that a large remittance fits Kafka's messages), keyed by its
    interchange so that one file's transactions keep their order. An envelope that cannot be
    trusted is published as it is: the worker dead-letters it, saying why."""
    lines = []
    for part in split_transactions(data):
        if isinstance(part, TransactionMessage):
            key, value = f"{part.interchange_control_number}:{part.group_control_number}", part.data.decode("latin-1")
        else:
            key, value = None, part.original
        lines.append(json.dumps({"topic": REMITTANCE_X12, "key": key, "value": value}).encode() + b"\n")
    return lines


def summary(topic: str, value: dict[str, Any]) -> str:
    """One line a billing team can read, for an outcome of a contract topic (unprefixed)."""
    if topic == READY:
        return (
            f"{value['status']:<7} patient {value['patient_responsibility']:>9}  write-off {value['write_off']:>9}"
            f"  secondary paid {value['secondary_paid']}"
        )
    if topic == DISCREPANCY:
        money = ", ".join(
            f"{name} {value[field]}"
            for name, field in (
                ("expected", "expected_secondary_paid"),
                ("actual", "actual_secondary_paid"),
                ("difference", "difference"),
            )
            if value.get(field) is not None
        )
        return f"{value['kind']}{' (blocking)' if value['blocking'] else ''}  {money}"
    if topic == EXPECTED:
        return (
            f"{value['cob_method']}: secondary should pay {value['expected_secondary_paid']}, "
            f"patient {value['expected_patient_responsibility']}"
        )
    if topic == SECONDARY_CLAIM:
        return (
            f"{value['status']:<8} to {value['secondary_payer_id']}: {value['primary_payer_id']} paid "
            f"{value['primary_paid']}, patient liability {value['remaining_patient_liability']}"
        )
    return f"{value.get('source_topic')}@{value.get('offset')}: {value.get('error')}"


async def tail(
    settings: Settings,
    *,
    jsonl: bool = False,
    from_beginning: bool = False,
    limit: int | None = None,
    idle_timeout: float | None = None,
    out: IO[str] = sys.stdout,
) -> int:
    names = {settings.topic(t): t for t in OUTPUT_TOPICS}
    consumer = AIOKafkaConsumer(
        *names,
        bootstrap_servers=settings.broker_list,
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        **settings.security.aiokafka_options(),
    )
    await consumer.start()
    seen = 0
    try:
        if not jsonl:
            print(f"{'topic':<20} {'claim':<16} {'rev':>3}  outcome", file=out, flush=True)
        idle = 0.0
        while limit is None or seen < limit:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch:
                idle += 0.5
                if idle_timeout is not None and idle >= idle_timeout:
                    break
                continue
            idle = 0.0
            for records in batch.values():
                for record in records:
                    value = json.loads(record.value)
                    key = record.key.decode() if record.key else None
                    if jsonl:
                        print(json.dumps({"topic": names[record.topic], "key": key, "value": value}), file=out)
                    else:
                        print(
                            f"{names[record.topic]:<20} {key or '-':<16} {value.get('revision', ''):>3}  "
                            f"{summary(names[record.topic], value)}",
                            file=out,
                        )
                    seen += 1
            out.flush()
    finally:
        await consumer.stop()
    return 0
