"""Garbage collection tuned for a stream of short-lived models.

Every EOB becomes a few hundred small objects (pydantic models, Decimals, tuples) that die a few
milliseconds later; with CPython's default threshold (700 allocations) the collector runs
thousands of times a second and re-scans every long-lived object (modules, the worker's caches)
on its older generations. Freezing what exists at start-up and collecting the youngest
generation every 50,000 allocations cut the core's CPU per claim by about a quarter
(docs/PERFORMANCE.md); reference counting still frees almost everything at once, and the
collector still runs, so cycles are reclaimed.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Call once, after the imports and before the work starts."""
    gc.collect()
    gc.freeze()  # start-up objects (modules, classes, schemas) are never scanned again
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)
