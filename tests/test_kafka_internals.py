"""The commit safeguards of streams/kafka_internals.py, without a broker.

Each hazard is shown on stock Faust first (a strict xfail: if Faust fixes it, the test says so)
and then closed by the safeguard.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.exceptions import ProducerSendError
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.producer import ProducerBuffer
from faust.types import TP

from streams.kafka_internals import DurableProducer, DurableProducerBuffer, SafeConsumer, install

CLAIM_EVENTS = "cobstream.claim-events"
TP0 = TP(CLAIM_EVENTS, 0)
STOCK = pytest.param("stock", marks=pytest.mark.xfail(strict=True, reason="the Faust hazard the safeguard closes"))


class SlowChannel:
    """A topic whose hand-over to aiokafka takes 0.3 s a record, as under load."""

    def __init__(self) -> None:
        self.handed_over: list[Any] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await asyncio.sleep(0.3)
        self.handed_over.append(fut)


async def test_a_commit_flush_waits_for_every_table_write_to_reach_the_producer() -> None:
    await _flush_three_slow_writes(DurableProducerBuffer)


@pytest.mark.parametrize("faust_kind", [STOCK])
async def test_stock_faust_flush_returns_before_the_table_writes_are_sent(faust_kind: str) -> None:
    await _flush_three_slow_writes(ProducerBuffer)


async def _flush_three_slow_writes(buffer_class: type[ProducerBuffer]) -> None:
    buffer = buffer_class()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
    channel = SlowChannel()
    await buffer.start()
    try:
        for n in range(3):
            buffer.put(SimpleNamespace(message=SimpleNamespace(channel=channel), n=n))
        await buffer.flush()
        assert len(channel.handed_over) == 3, f"flush returned with {3 - len(channel.handed_over)} writes unsent"
    finally:
        await buffer.stop()


@pytest.fixture
def apps() -> dict[str, faust.App]:
    stock = faust.App("stock", broker="kafka://127.0.0.1:1")
    safe = faust.App("safe", broker="kafka://127.0.0.1:1")
    install(safe, [CLAIM_EVENTS])
    return {"stock": stock, "safe": safe}


def commit_point(consumer: Any, committed: int | None, acked: list[int], gaps: tuple[tuple[int, int], ...] = ()) -> Any:
    consumer._committed_offset[TP0] = committed
    consumer._acked[TP0] = list(acked)
    consumer._acked_index[TP0] = set(acked)
    for begin, end in gaps:
        asyncio.run(consumer._add_gap(TP0, begin, end))
    return consumer._new_offset(TP0)


def test_the_safe_consumer_is_installed(apps: dict[str, faust.App]) -> None:
    assert isinstance(apps["safe"].consumer, SafeConsumer)
    assert isinstance(apps["safe"].producer, DurableProducer)
    assert isinstance(apps["safe"].producer.buffer, DurableProducerBuffer)


@pytest.mark.parametrize("faust_kind", [STOCK, "safe"])
def test_no_commit_past_a_missing_offset_at_the_head(apps: dict[str, faust.App], faust_kind: str) -> None:
    # Committed 2585 means 2585 is the next to process; it never was.
    assert commit_point(apps[faust_kind].consumer, 2585, [2586, 2587, 2588, 2589]) is None


@pytest.mark.parametrize("faust_kind", [STOCK, "safe"])
def test_no_commit_past_unprocessed_offsets_when_nothing_was_committed(
    apps: dict[str, faust.App], faust_kind: str
) -> None:
    consumer = apps[faust_kind].consumer
    if isinstance(consumer, SafeConsumer):
        consumer.start_offset[TP0] = 0
    assert commit_point(consumer, None, [4, 5, 6]) is None


@pytest.mark.parametrize("faust_kind", [STOCK, "safe"])
def test_a_jump_in_delivered_offsets_is_not_taken_as_done(apps: dict[str, faust.App], faust_kind: str) -> None:
    # Offsets 101-104 were skipped by a stale fetch, not processed: the commit stops at 101.
    assert commit_point(apps[faust_kind].consumer, 100, [100, 105, 106], gaps=((101, 104),)) == 101


@pytest.mark.parametrize("faust_kind", ["stock", "safe"])
def test_an_unbroken_run_is_committed(apps: dict[str, faust.App], faust_kind: str) -> None:
    assert commit_point(apps[faust_kind].consumer, 2585, [2585, 2586, 2587, 2589]) == 2588


def test_an_unbroken_run_from_the_start_is_committed(apps: dict[str, faust.App]) -> None:
    consumer = apps["safe"].consumer
    consumer.start_offset[TP0] = 0
    assert commit_point(consumer, None, [0, 1, 2]) == 3


def test_other_topics_keep_fausts_rules(apps: dict[str, faust.App]) -> None:
    # A compacted topic's gaps are real: Faust's gap filling stays for topics not verified.
    consumer = apps["safe"].consumer
    tp = TP("reference.payers", 0)
    consumer._committed_offset[tp] = 10
    consumer._acked[tp] = [10, 20]
    consumer._acked_index[tp] = {10, 20}
    asyncio.run(consumer._add_gap(tp, 11, 19))
    assert consumer._new_offset(tp) == 21


async def delivered(consumer: SafeConsumer, monkeypatch: pytest.MonkeyPatch, *batches: list[int]) -> list[int]:
    """What the consumer delivers when Faust's fetch returns these batches of offsets, one per call."""
    pending = list(batches)

    async def fetch(self: Any, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        for offset in pending.pop(0):
            yield TP0, SimpleNamespace(offset=offset)

    monkeypatch.setattr(FaustConsumer, "getmany", fetch)
    offsets = []
    for _ in batches:
        offsets += [message.offset async for _, message in consumer.getmany(1.0)]
    return offsets


@pytest.fixture
def safe_consumer(monkeypatch: pytest.MonkeyPatch) -> tuple[SafeConsumer, list[dict]]:
    app = faust.App("safe", broker="kafka://127.0.0.1:1")
    install(app, [CLAIM_EVENTS])
    consumer = app.consumer
    seeks: list[dict] = []

    async def seek_wait(partitions: dict) -> None:
        seeks.append(dict(partitions))

    monkeypatch.setattr(consumer, "seek_wait", seek_wait)
    return consumer, seeks


async def test_a_stale_fetch_past_the_committed_offset_is_read_again_from_it(
    safe_consumer: tuple[SafeConsumer, list[dict]], monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, seeks = safe_consumer
    consumer.next_offset[TP0] = 1303  # the seek after a rebalance: committed 1303
    got = await delivered(consumer, monkeypatch, [1394, 1395, 1396], [1303, 1304])
    assert got == [1303, 1304]
    assert seeks == [{TP0: 1303}]
    assert consumer.next_offset[TP0] == 1305


async def test_a_gap_the_broker_confirms_is_delivered_across_and_counts_as_done(
    safe_consumer: tuple[SafeConsumer, list[dict]], monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, seeks = safe_consumer
    consumer.next_offset[TP0] = 50  # 50 holds a transaction marker: a fetch from 50 starts at 51
    got = await delivered(consumer, monkeypatch, [51, 52], [51, 52])
    assert got == [51, 52]
    assert seeks == [{TP0: 50}]
    assert commit_point(consumer, 50, [51, 52]) == 53


async def test_records_in_order_are_delivered_without_a_seek(
    safe_consumer: tuple[SafeConsumer, list[dict]], monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, seeks = safe_consumer
    consumer.next_offset[TP0] = 7
    assert await delivered(consumer, monkeypatch, [7, 8], [9]) == [7, 8, 9]
    assert seeks == []


async def test_a_record_of_a_partition_not_seeked_yet_is_held_back(
    safe_consumer: tuple[SafeConsumer, list[dict]], monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, _ = safe_consumer
    assert await delivered(consumer, monkeypatch, [400]) == []


async def test_a_failed_delivery_stops_the_commit() -> None:
    app = faust.App("safe", broker="kafka://127.0.0.1:1")
    install(app, [CLAIM_EVENTS])
    producer = app.producer
    failed: asyncio.Future = asyncio.get_running_loop().create_future()
    failed.set_exception(RuntimeError("broker gone"))
    producer._count_undelivered(failed)
    with pytest.raises(ProducerSendError, match="1 records were not delivered"):
        await producer.flush()


async def test_stream_partitions_stay_paused_until_they_are_sought(monkeypatch: pytest.MonkeyPatch) -> None:
    app = faust.App("safe", broker="kafka://127.0.0.1:1")
    install(app, [CLAIM_EVENTS])
    app.Table("claims")
    consumer = app.consumer
    changelog = TP("safe-claims-changelog", 0)
    resumed: list[set[TP]] = []
    monkeypatch.setattr(FaustConsumer, "resume_partitions", lambda self, tps: resumed.append(set(tps)))
    monkeypatch.setattr(consumer, "_seek_to_start", lambda: asyncio.sleep(0))
    monkeypatch.setattr(consumer, "assignment", lambda: {TP0, changelog})

    consumer.seek_pending = True  # as on an assignment
    consumer.resume_partitions({TP0, changelog})
    assert resumed == [{changelog}], "only the changelog is read before the seek"
    await consumer.perform_seek()
    assert resumed == [{changelog}, {TP0}], "the stream partition is resumed once sought"
    consumer.resume_partitions({TP0})
    assert resumed[-1] == {TP0}


def test_a_stream_partition_left_paused_after_the_rebalance_is_resumed(monkeypatch: pytest.MonkeyPatch) -> None:
    app = faust.App("safe", broker="kafka://127.0.0.1:1")
    install(app, [CLAIM_EVENTS])
    app.Table("claims")
    consumer = app.consumer
    changelog, other = TP("safe-claims-changelog", 0), TP(CLAIM_EVENTS, 1)
    resumed: list[set[TP]] = []
    monkeypatch.setattr(FaustConsumer, "resume_partitions", lambda self, tps: resumed.append(set(tps)))
    monkeypatch.setattr(consumer, "assignment", lambda: {TP0, other, changelog})
    monkeypatch.setattr(consumer, "_get_active_partitions", lambda: {other})  # TP0 never resumed

    app.rebalancing = True  # during the rebalance Faust's own pauses stand
    consumer.seek_pending = False
    consumer._resume_forgotten_partitions()
    assert resumed == []
    app.rebalancing = False
    consumer.seek_pending = True  # sought not yet: still held
    consumer._resume_forgotten_partitions()
    assert resumed == []
    consumer.seek_pending = False  # over, and sought: the forgotten stream partition is read again
    consumer._resume_forgotten_partitions()
    assert resumed == [{TP0}], "only the stream partition, never the changelog Faust keeps paused"
