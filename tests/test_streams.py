"""The Kafka-side pieces that need no broker: the claims table's record format, where a claim
lives, and the key setting."""

from __future__ import annotations

import pytest

from models.claim import ClaimState
from streams.codec import ClaimRecord, OutboxEntry, claim_record_codec
from streams.settings import Settings, SettingsError
from streams.topics import CLAIM_EVENTS, PRIMARY, owning_partition

# Kafka's own murmur2 test vectors (clients' UtilsTest), as signed 32-bit results.
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


@pytest.mark.parametrize(("key", "signed"), JAVA_MURMUR2.items())
@pytest.mark.parametrize("partitions", [1, 3, 12, 50])
def test_a_claim_lives_on_the_partition_the_java_producer_picks(key: str, signed: int, partitions: int) -> None:
    # The Java client's default partitioner: toPositive(murmur2(key)) % partitions.
    assert owning_partition(key, partitions) == (signed & 0x7FFFFFFF) % partitions


def test_a_record_written_before_per_topic_offsets_reads_as_claim_events_offsets() -> None:
    legacy = b'{"state": {"claim_id": "C1"}, "applied_offset": 41, "outbox": [{"offset": 41, "events": []}]}'
    record = claim_record_codec.loads(legacy)
    assert record.applied == {CLAIM_EVENTS: 41}
    assert record.already_applied(CLAIM_EVENTS, 41)
    assert not record.already_applied(CLAIM_EVENTS, 42)
    assert not record.already_applied(PRIMARY, 41)
    assert record.outbox[0].topic == CLAIM_EVENTS


def test_redelivery_is_recognised_per_input_topic() -> None:
    sent = (("billing.ready", '{"event_id": "e1"}'),)
    record = ClaimRecord(
        state=ClaimState(claim_id="C1"),
        applied={PRIMARY: 7, CLAIM_EVENTS: 3},
        outbox=(
            OutboxEntry(topic=PRIMARY, offset=7, events=sent),
            OutboxEntry(topic=CLAIM_EVENTS, offset=3, events=()),
        ),
    )
    again = claim_record_codec.loads(claim_record_codec.dumps(record))
    assert again == record
    assert again.published_at(PRIMARY, 7) == sent
    assert again.published_at(CLAIM_EVENTS, 7) == ()
    assert again.already_applied(PRIMARY, 6)
    assert not again.already_applied(PRIMARY, 8)


@pytest.mark.parametrize("value", ["claim_id", "any"])
def test_eob_keys_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("COBSTREAM_EOB_KEYS", value)
    assert Settings.from_env().eob_keys == value


def test_an_unknown_eob_keys_setting_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COBSTREAM_EOB_KEYS", "claim")
    with pytest.raises(SettingsError, match="COBSTREAM_EOB_KEYS='claim' must be any or claim_id"):
        Settings.from_env()


def test_keys_are_not_relied_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COBSTREAM_EOB_KEYS", raising=False)
    assert Settings.from_env().eob_keys == "any"
