"""The claims table as the claim processor's store, and the worker's rule for a claim event that
Kafka delivers again.

`TableStore` adapts the claims table (`streams.app.ClaimTable`, `ClaimRecord` values) to
`models.cob.processor.ClaimStore`. Each write also records the claim-events offset being applied
and, in the record's outbox, the outcomes that offset publishes, as the JSON sent, so that a
redelivery after a crash publishes exactly the same bytes. Outbox entries below the offset the
worker has committed are pruned: those offsets are never delivered again.

`TableStore.apply_once` is the claims agent's decision, testable without a broker: a claim event
goes to the processor once per offset, and what it publishes is read back from the outbox; a
claim event delivered again writes its record again (docs/RELIABILITY.md, hazard 4).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from models.cob.claim import ClaimState
from models.cob.processor import ClaimProcessor, Published
from streams.codec import ClaimEvent, ClaimRecord, OutboxEntry, encode

log = logging.getLogger(__name__)

Events = tuple[tuple[str, str], ...]  # (unprefixed topic, JSON) as published, in order


class ClaimRecords(Protocol):
    """What the adapter needs of the claims table (`streams.app.ClaimTable` is one)."""

    def get(self, claim_id: str) -> ClaimRecord | None: ...

    def put(self, record: ClaimRecord) -> None: ...

    def delete(self, claim_id: str) -> None: ...

    def states(self) -> Iterable[ClaimState]: ...


class TableStore:
    """The claims table behind the `ClaimStore` interface, for one claims agent."""

    def __init__(self, table: ClaimRecords, committed_offset: Callable[[int], int]) -> None:
        self.table = table
        # The claim-events offset this worker last committed for a partition (-1 if none).
        self.committed_offset = committed_offset
        self._partition = -1  # where the claim event being applied comes from
        self._offset = -1

    def get(self, claim_id: str) -> ClaimState | None:
        record = self.table.get(claim_id)
        return record.state if record is not None else None

    def put(self, state: ClaimState, published: Sequence[Published]) -> None:
        record = self.table.get(state.claim_id)
        keep = self.committed_offset(self._partition)
        outbox = tuple(entry for entry in (record.outbox if record else ()) if entry.offset >= keep)
        if published:
            events = tuple((p.topic, encode(p.value).decode()) for p in published)
            outbox += (OutboxEntry(offset=self._offset, events=events),)
        self.table.put(ClaimRecord(state=state, applied_offset=self._offset, outbox=outbox))

    def delete(self, claim_id: str) -> None:
        self.table.delete(claim_id)
        log.info("claim %s forgotten after its retention", claim_id)

    def states(self) -> Iterable[ClaimState]:
        return self.table.states()

    def apply_once(self, processor: ClaimProcessor, event: ClaimEvent, partition: int, offset: int) -> Events:
        """What the claim event at `offset` publishes: the processor decides the first time;
        delivered again (after a crash or a rebalance) it is exactly what was published then."""
        record = self.table.get(event.claim_id)
        if record is None or offset > record.applied_offset:
            self._partition, self._offset = partition, offset
            processor.apply(event.claim_id, event.for_the_core(), event.at)
            record = self.table.get(event.claim_id)
        elif record is not None:
            # Write it again: a worker restarted on its own RocksDB state can hold a record that
            # never reached the changelog (killed before the write was sent); without this write
            # the offset is committed over it and the partition's next owner never sees the claim.
            self.table.put(record)
        return record.published_at(offset) if record is not None else ()
