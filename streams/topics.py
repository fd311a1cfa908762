"""How every topic of CONTRACT.md (named in `models.contract.topics`), plus the internal one that
keys EOBs by claim, is created on Kafka: partitions, compaction, message size."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from models.contract.topics import (
    CLAIM_EVENTS,
    DEAD_LETTER,
    DISCREPANCY,
    EXPECTED,
    FEE_SCHEDULE,
    PAYERS,
    PRIMARY,
    READY,
    REMITTANCE_X12,
    SECONDARY,
    SECONDARY_CLAIM,
    SUBMITTED,
)
from streams.settings import Settings

# A claim's state holds up to two EOBs of up to 1 MiB each (models.remittance.decode.MAX_MESSAGE_BYTES)
# with its outcomes: what this system writes may be larger than Kafka's 1 MB default.
MAX_WRITTEN_BYTES = 16 * 1024 * 1024
LARGE_MESSAGES = {"max.message.bytes": str(MAX_WRITTEN_BYTES)}


@dataclass(frozen=True)
class TopicSpec:
    name: str  # unprefixed
    partitions: int
    compacted: bool = False
    written_here: bool = False  # by this system, so it takes messages up to MAX_WRITTEN_BYTES
    large_messages: bool = False  # takes messages up to MAX_WRITTEN_BYTES (a payer's 835 transaction)
    # The EOB topics, the claim-events topic and the claims changelog must agree on this.
    claim_partitioned: bool = False


def topic_specs(settings: Settings) -> list[TopicSpec]:
    n = settings.partitions
    return [
        TopicSpec(PRIMARY, n, claim_partitioned=True),
        TopicSpec(SECONDARY, n, claim_partitioned=True),
        TopicSpec(SUBMITTED, n, claim_partitioned=True),
        TopicSpec(REMITTANCE_X12, n, large_messages=True),
        TopicSpec(CLAIM_EVENTS, n, claim_partitioned=True, written_here=True),
        TopicSpec(PAYERS, 1, compacted=True),
        TopicSpec(FEE_SCHEDULE, 1, compacted=True),
        TopicSpec(EXPECTED, n, written_here=True),
        TopicSpec(READY, n, written_here=True),
        TopicSpec(DISCREPANCY, n, written_here=True),
        TopicSpec(SECONDARY_CLAIM, n, written_here=True),
        TopicSpec(DEAD_LETTER, n, written_here=True),
    ]


async def create_topics(settings: Settings, *, timeout: float = 30.0) -> list[str]:
    """Create the missing topics; existing ones are left as they are (and reported).

    Returns one line per topic saying what happened.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.broker_list,
        request_timeout_ms=int(timeout * 1000),
        **settings.security.aiokafka_options(),
    )
    await admin.start()
    try:
        existing = await existing_partitions(admin, [settings.topic(s.name) for s in topic_specs(settings)])
        missing = [s for s in topic_specs(settings) if settings.topic(s.name) not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        settings.topic(s.name),
                        s.partitions,
                        settings.replication_factor,
                        topic_configs={
                            **({"cleanup.policy": "compact"} if s.compacted else {}),
                            **(LARGE_MESSAGES if s.written_here or s.large_messages else {}),
                        },
                    )
                    for s in missing
                ]
            )
            await _leaders_elected(admin, {settings.topic(s.name) for s in missing}, timeout)
        report = []
        for spec in topic_specs(settings):
            name = settings.topic(spec.name)
            if name in existing:
                report.append(f"{name}: exists with {existing[name]} partitions")
            else:
                report.append(
                    f"{name}: created with {spec.partitions} partitions" + (", compacted" if spec.compacted else "")
                )
        return report
    finally:
        await admin.close()


async def _leaders_elected(admin: AIOKafkaAdminClient, names: set[str], timeout: float) -> None:
    """Wait (up to `timeout`) until every partition of the topics just created has a leader, so
    that a client started right after (the demo's own consumer) meets no NotLeaderForPartition
    while the broker elects them. The topics exist either way: past the timeout, clients retry."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        described = {t["topic"]: t for t in await admin.describe_topics(None) if t["topic"] in names}
        if len(described) == len(names) and all(_led(topic) for topic in described.values()):
            return
        await asyncio.sleep(0.1)


def _led(topic: dict) -> bool:
    partitions = topic.get("partitions") or []
    return (
        not topic.get("error_code")
        and bool(partitions)
        and all(not p.get("error_code") and p.get("leader", -1) >= 0 for p in partitions)
    )


async def missing_topics(settings: Settings, names: list[str], *, timeout: float = 30.0) -> list[str]:
    """Those of the (prefixed) topic `names` that do not exist on the broker."""
    existing = await partition_counts(settings, names, timeout=timeout)
    return [name for name in names if name not in existing]


async def partition_counts(settings: Settings, names: list[str], *, timeout: float = 30.0) -> dict[str, int]:
    """Partition counts of those of the (prefixed) topic `names` that exist on the broker."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.broker_list,
        request_timeout_ms=int(timeout * 1000),
        **settings.security.aiokafka_options(),
    )
    await admin.start()
    try:
        return await existing_partitions(admin, names)
    finally:
        await admin.close()


async def existing_partitions(admin: object, names: list[str]) -> dict[str, int]:
    """Partition counts of those of `names` that exist."""
    # Ask for every topic: naming them would auto-create them on a cluster with
    # auto.create.topics.enable (Kafka's default), with the wrong partitions and no compaction.
    described = await admin.describe_topics(None)  # type: ignore[attr-defined]
    wanted = set(names)
    return {
        t["topic"]: len(t["partitions"])
        for t in described
        if t["topic"] in wanted and t.get("error_code", 0) == 0 and t["partitions"]
    }


def run_create_topics(settings: Settings) -> list[str]:
    return asyncio.run(create_topics(settings))
