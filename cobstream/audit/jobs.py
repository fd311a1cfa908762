"""The claims' judgement split over processes (`cobstream audit --jobs N`).

Each claim is judged on its own (its claim events replayed through the core, its outcomes
compared), so N processes each judge one share of the claims (`ClaimsToJudge.share`, by a hash
of the claim id): the audit's own and N - 1 forked ones. Their findings are put together
(`Judged.merged`). The processes are forked once everything is read and accounted for: each
inherits the records instead of receiving them through a pipe, and sends back only its findings,
its counts and the claims it replayed.

The findings are those of one process (a test judges the same records both ways); their order
is by share, then as one process finds them. A process that fails or is killed fails the audit
(`BrokenProcessPool`: `cobstream audit` exits 2 with one line).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from cobstream.audit.judge import ClaimsToJudge, Judged, judge_claims

# The shares the forked processes judge: set just before they are forked, never pickled.
_SHARES: list[ClaimsToJudge] = []


def in_processes(jobs: int) -> Callable[[ClaimsToJudge], Judged]:
    """A judge for `audit(..., judge=)`: the claims split in `jobs` shares, one judged in this
    process and each other in a forked one (one share: nothing forked)."""

    def judge(claims: ClaimsToJudge) -> Judged:
        if jobs <= 1:
            return judge_claims(claims)
        # Split before the fork: a process that sorted out its own share after it would touch every
        # claim's objects, and the pages of those it shares with this one would be copied.
        _SHARES.extend(claims.share(index, jobs) for index in range(jobs))
        try:
            # An executor, not a Pool: a process killed (out of memory, say) fails the audit
            # (BrokenProcessPool) instead of leaving it waiting for a share that never comes.
            with ProcessPoolExecutor(jobs - 1, mp_context=multiprocessing.get_context("fork")) as pool:
                others = [pool.submit(_judge_share, index) for index in range(1, jobs)]
                mine = judge_claims(_SHARES[0])  # this process judges a share too
                parts = [mine, *(other.result() for other in others)]
        finally:
            _SHARES.clear()
        return Judged.merged(parts)

    return judge


def _judge_share(index: int) -> Judged:
    return judge_claims(_SHARES[index])
