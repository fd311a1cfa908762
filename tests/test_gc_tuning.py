"""The collector's tuning for batch commands (`cobstream.shared.gc_tuning.survivors_frozen`): what
`cobstream replay` and `cobstream audit` rely on to hold a million claims without the collector
walking them again and again, and the fact about the core that makes it safe."""

from __future__ import annotations

import gc
import io
import weakref

import orjson

from cobstream.bench.traffic import Traffic
from cobstream.engine import Engine
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
