"""A commit never runs ahead of the claims table: fault injection on the real broker.

The worker of tests/integration/faulty_worker.py hands each changelog write to the producer 0.3 s
late and SIGKILLs itself right after its first commit of the claims agent's offsets (claim-events,
and on the direct input path the EOB topics it reads itself). A worker with an
empty state folder then takes over, recovering the claims table from its changelog, and the
secondaries arrive. On Faust's own transport the commit went ahead of table writes still in the
buffer, so the new worker lacks primaries whose claim events (or EOB records) are marked done, and outcomes are
lost: the test shows that first, so that it is known to catch the fault. With
streams/kafka_internals.py the commit waits for every table write and nothing is lost.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness import Deployment, assert_exactly_the_replay, expected_outcomes, phases, wait_for

CLAIMS = 60
FAULTY_WORKER = (str(Path(__file__).with_name("faulty_worker.py")),)


def run_with_a_crash_after_the_first_commit(deployment: Deployment, stock_faust: bool) -> tuple[int, list, dict]:
    """Returns the table writes unsent at the fatal commit, the outputs, and the replay's outcomes."""
    reference, primaries, secondaries = phases(CLAIMS)
    expected = expected_outcomes(reference + primaries + secondaries)
    deployment.produce(reference + primaries)
    faulty_env = {"COBSTREAM_FAULT_STOCK_FAUST": "1"} if stock_faust else {}
    deployment.env_extra.update(faulty_env)
    faulty = deployment.start_worker("faulty", command=FAULTY_WORKER)
    wait_for(lambda: faulty.process.poll() is not None, 120, "the faulty worker to die after its first commit")
    fault = re.search(r"FAULT: claims agent offsets committed with (\d+) table writes unsent", faulty.text())
    assert fault, faulty.text()[-3000:]
    for name in faulty_env:
        del deployment.env_extra[name]
    deployment.start_worker("takes-over")  # an empty state folder: the table comes from its changelog
    deployment.produce(secondaries)
    return int(fault.group(1)), deployment.outputs(len(expected), timeout=90, settle=5), expected


def test_stock_faust_commits_ahead_of_the_table_and_loses_outcomes(deployment: Deployment) -> None:
    unsent, events, expected = run_with_a_crash_after_the_first_commit(deployment, stock_faust=True)
    missing = set(expected) - {e["value"].get("event_id") for e in events}
    lost = f"{len(missing)} of {len(expected)} outcomes lost"
    print(f"\nstock Faust: committed with {unsent} table writes unsent; {lost}")
    assert unsent > 0
    assert missing, "the fault went unnoticed: this test no longer shows the hazard"
    audited = deployment.audit()
    assert audited.returncode == 1
    assert {f["event_ids"][0] for f in audited.problems("missing outcome")} == missing


def test_with_the_safeguards_a_commit_waits_for_the_table_and_nothing_is_lost(deployment: Deployment) -> None:
    unsent, events, expected = run_with_a_crash_after_the_first_commit(deployment, stock_faust=False)
    assert unsent == 0
    repeats = assert_exactly_the_replay(events, expected)
    audited = deployment.audit()
    assert audited.returncode == 0, audited.problems()[:5]
    print(f"\nsafeguarded: {len(expected)} outcomes, none lost, {sum(repeats.values())} identical repeats")


def test_a_worker_restarted_on_its_own_state_writes_again_what_the_changelog_lacks(deployment: Deployment) -> None:
    """Killed before its first commit, a worker leaves table writes in its RocksDB state that
    never reached the changelog. Restarted on that state it reads the claim events again and
    finds them applied; unless it writes those records again, it commits over them and the
    next owner of the partition, recovering from the changelog, never sees those claims."""
    reference, primaries, secondaries = phases(CLAIMS)
    expected_primaries = expected_outcomes(reference + primaries)
    expected = expected_outcomes(reference + primaries + secondaries)
    deployment.produce(reference + primaries)
    deployment.env_extra["COBSTREAM_FAULT_MODE"] = "before-any-commit"
    faulty = deployment.start_worker("own-state", command=FAULTY_WORKER)
    wait_for(lambda: faulty.process.poll() is not None, 120, "the faulty worker to die before its first commit")
    assert "FAULT: 20 table writes in RocksDB" in faulty.text(), faulty.text()[-3000:]
    del deployment.env_extra["COBSTREAM_FAULT_MODE"]
    restarted = deployment.start_worker("own-state")  # the same state folder
    deployment.outputs(len(expected_primaries), timeout=90, settle=2)
    restarted.stop()  # a clean stop: it commits everything it did
    deployment.start_worker("fresh")  # an empty state folder: the table comes from the changelog
    deployment.produce(secondaries)
    repeats = assert_exactly_the_replay(deployment.outputs(len(expected), timeout=90, settle=5), expected)
    audited = deployment.audit()
    assert audited.returncode == 0, audited.problems()[:5]
    print(f"\nrestarted on its own state: {len(expected)} outcomes, none lost, {sum(repeats.values())} repeats")
