"""The claims' judgement split over processes (`cobstream audit --jobs N`).

Each claim is judged on its own (its claim events replayed through the core, its outcomes
compared), so N processes each judge the claims of one group (`ClaimsToJudge.part`, by a hash of
the claim id) and their findings are put together (`Judged.merged`). The processes are forked
once everything is read and accounted for: each inherits the records instead of receiving them
through a pipe, and sends back only its findings, its counts and the claims it replayed.

The findings are those of one process (a test judges the same records both ways); their order
is by group, then as one process finds them. A process that fails fails the audit.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable

from cobstream.audit.judge import ClaimsToJudge, Judged, judge_claims

# What the forked processes judge: set just before they are forked, never pickled.
_TO_JUDGE: list[ClaimsToJudge] = []


def available_cores() -> int:
    """The cores this process may run on: the default for `--jobs`."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def in_processes(jobs: int) -> Callable[[ClaimsToJudge], Judged]:
    """A judge for `audit(..., judge=)`: the claims split over `jobs` forked processes (one: in
    this process, nothing forked)."""

    def judge(claims: ClaimsToJudge) -> Judged:
        if jobs <= 1:
            return judge_claims(claims)
        _TO_JUDGE.append(claims)
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                parts = pool.map(_judge_group, [(group, jobs) for group in range(jobs)], chunksize=1)
        finally:
            _TO_JUDGE.clear()
        return Judged.merged(parts)

    return judge


def _judge_group(group_of: tuple[int, int]) -> Judged:
    group, groups = group_of
    return judge_claims(_TO_JUDGE[0].part(group, groups))
