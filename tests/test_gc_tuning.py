"""The collector's tuning (`cobstream.shared.gc_tuning`): survivors frozen in the batch commands,
what `cobstream replay` and `cobstream audit` rely on to hold a million claims without the
collector walking them again and again, and the fact about the core that makes it safe; the
worker's collections on a clock, which keep every pause short without leaving garbage behind."""

from __future__ import annotations

import asyncio
import gc
import io
import weakref

import orjson
import pytest

from cobstream.bench.traffic import Traffic
from cobstream.engine import Engine
from cobstream.shared import gc_tuning
from cobstream.shared.gc_tuning import _freeze_survivors, survivors_frozen
from cobstream.shared.replay_format import replay_lines, write_jsonl


class Node:
    def __init__(self) -> None:
        self.itself = self


def walked(thing: object) -> bool:
    """Whether the collector still walks `thing` (frozen objects are in no generation)."""
    return any(candidate is thing for candidate in gc.get_objects())


def test_survivors_of_a_collection_are_frozen_and_garbage_cycles_still_collected() -> None:
    with survivors_frozen():
        kept = [Node() for _ in range(3)]
        dropped = Node()
        gone = weakref.ref(dropped)
        del dropped  # a reference cycle, garbage before the next collection
        assert walked(kept)
        gc.collect(0)
        assert gone() is None, "a cycle that died young was not collected"
        assert not walked(kept), "a survivor of the collection is walked again"
    assert _freeze_survivors not in gc.callbacks
    after = [Node()]
    gc.collect(0)
    assert walked(after), "survivors are still frozen after the block"


def test_the_core_leaves_no_reference_cycles_behind() -> None:
    """Replay frees everything by reference counting, which is what makes freezing survivors
    safe: a cycle among frozen objects would live until the process ends."""
    lines = [orjson.dumps(record) for record in Traffic(claims=300, seed=3, secondary_first_share=0.3).records()]
    gc.collect()
    gc.disable()
    try:
        write_jsonl(replay_lines(lines, Engine()), io.BytesIO())
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert unreachable == 0


async def test_the_worker_collects_young_garbage_on_a_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference cycle dropped while allocations stay under the collector's threshold is still
    collected within one PACE_INTERVAL; an old one (promoted past the middle generation) within
    FULL_EVERY of them."""
    monkeypatch.setattr(gc_tuning, "FULL_EVERY", 40)  # two seconds
    thresholds = gc.get_threshold()
    gc.set_threshold(0)  # no collection from allocation counts: only the paced ones
    pacer = asyncio.create_task(gc_tuning.pace_collections())
    try:
        old = Node()
        gone_old = weakref.ref(old)
        gc.collect(1)  # survived: in the oldest generation, which only a full collection walks
        young = Node()
        gone_young = weakref.ref(young)
        del old, young
        assert await collected(gone_young, within=1.0), "young garbage waited for the allocation count"
        assert gone_old() is not None, "a full collection came before FULL_EVERY paced ones"
        assert await collected(gone_old, within=10.0), "no full collection after FULL_EVERY paced ones"
    finally:
        pacer.cancel()
        gc.set_threshold(*thresholds)


async def collected(ref: weakref.ref[Node], within: float) -> bool:
    for _ in range(int(within / 0.01)):
        if ref() is None:
            return True
        await asyncio.sleep(0.01)
    return False
