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
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000  # allocations between young collections
MIDDLE_THRESHOLD = 1  # young collections between collections of the middle generation
OLD_THRESHOLD = 40  # middle collections before the oldest is considered (and its 25 % rule)


def tune_gc() -> None:
    """Call once, after the imports and before the work starts."""
    gc.collect()
    gc.freeze()  # start-up objects (modules, classes, schemas) are never scanned again
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
