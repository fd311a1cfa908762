"""Garbage collection tuned for a stream of short-lived models.

Every EOB becomes a few hundred small objects (pydantic models, Decimals, tuples) that die a few
milliseconds later; with CPython's default threshold (700 allocations) the collector runs
thousands of times a second and re-scans every long-lived object (modules, the worker's caches)
on its older generations. Freezing what exists at start-up and collecting the youngest
generation every 20,000 allocations cut the core's CPU per claim by about a quarter
(docs/PERFORMANCE.md); reference counting still frees almost everything at once, and the
collector still runs, so cycles are reclaimed.

What a collection costs is what it has to walk: the survivors of the young collections pile up
in the middle generation until it is collected. With the middle generation collected only every
20 young collections (the first tuning: 50,000, 20, 20) it held up to a million survivors, and
each of its collections held the event loop for 0.5-0.8 s of CPU while freeing nothing: the
latency phase's stalls, traced by the worker's stall watch (docs/PERFORMANCE.md, fourth round).
Collecting it with every young collection moves survivors on to the oldest generation at once,
which is collected rarely (CPython waits until it has grown by a quarter): every pause stayed
under 50 ms, for the same total time in the collector.

A batch command (`cobstream replay`, `cobstream audit`) holds what it has read until it ends, so
every young collection finds survivors, and the collector walks them again in every middle and
full collection: replaying the bench's million claims spent 125 s of 538 s in the collector, 71
s of it in nine full collections (docs/PERFORMANCE.md). Such a command runs inside
`survivors_frozen()`: whatever outlives a collection is frozen at once, so the collector walks
each object at most once (the same million, the run after: 451 s, 44 s of it collecting). That
is safe because the core makes no reference cycles (a replay of 10,000 claims with the
collector off left 0 unreachable objects); a cycle that dies young is still collected, and
anything frozen is still freed by reference counting. The worker, which runs for months, keeps
collecting its old generations.

The worker also collects on a clock (`pace_collections`): its young and middle generations every
50 ms, everything every ten minutes. Left to the allocation counts, a young collection in the
worker sometimes walked for 0.15-0.4 s (all of it on the CPU, nothing freed: the latency phase's
p99 stalls, docs/PERFORMANCE.md), which an in-process run of the same work never showed. The
young generation's count is allocations less deallocations of any generation, so a worker that
keeps replacing what it caches (the claims table's recent records) makes young objects while
the count hardly moves, and the collection that finally comes walks them all: the likeliest
reason, not proven. Paced, in two bench runs each way, the longest young collection took
3.7-7.6 ms (366-391 ms unpaced), and at the same load (about 560 EOB/s) the latency p99 was
248 ms against 881 ms. What survives 50 ms is then old, so a full collection walks everything
the worker keeps: with the claims table's 10,000 recent records that paused the worker for a
second (`streams.app.RECENT_RECORDS`, now 1,000: about 0.12 s). Hence only one every ten
minutes, enough for the few reference cycles that outlive 50 ms.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

YOUNG_THRESHOLD = 20_000  # allocations between young collections
MIDDLE_THRESHOLD = 1  # young collections between collections of the middle generation
OLD_THRESHOLD = 40  # middle collections before the oldest is considered (and its 25 % rule)


def tune_gc() -> None:
    """Call once, after the imports and before the work starts."""
    gc.collect()
    gc.freeze()  # start-up objects (modules, classes, schemas) are never scanned again
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)


@contextmanager
def survivors_frozen() -> Iterator[None]:
    """A batch command's work: `tune_gc`, and every collection's survivors frozen (the module
    docstring says why). A process that goes on after the block (a test that runs a command
    in-process) keeps what was frozen frozen: freed by reference counting as usual, only a cycle
    among those objects would outlive its use."""
    tune_gc()
    gc.callbacks.append(_freeze_survivors)
    try:
        yield
    finally:
        gc.callbacks.remove(_freeze_survivors)


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop":
        gc.freeze()


PACE_INTERVAL = 0.05  # seconds between the worker's paced collections of the young generations
FULL_EVERY = 12_000  # paced collections between two full ones (ten minutes)


async def pace_collections() -> None:
    """The worker's collections on a clock (an app task, until it stops): the young and middle
    generations every PACE_INTERVAL, everything every FULL_EVERY of those (the module docstring
    says why). Each pause is then bounded by what the worker made in the last interval."""
    paced = 0
    while True:
        await asyncio.sleep(PACE_INTERVAL)
        paced += 1
        gc.collect(2 if paced % FULL_EVERY == 0 else 1)
