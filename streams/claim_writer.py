"""The worker's one write path for claims: a claim event at one place (an offset of the
claim-events topic or, on the direct input path, of an input topic, on the claim's partition),
applied to the claims table exactly once, with what it publishes kept for a redelivery.

`ClaimWriter.write` runs the claim processor (`models.cob.processor.process`, the same function
replay and the audit run over a dict) and persists its `Change` in one place. The commit order
for one claim event at (topic, partition, offset), written once, here:

1. Read the claim's record from the claims table, once.
2. A redelivery (the offset is at or below the record's applied offset for that topic, after a
   crash or a rebalance): write the record again unchanged, so that the changelog has what the local state
   has (docs/RELIABILITY.md, hazard 4), and return what that offset published, from the outbox,
   byte for byte. Stop.
3. Process: the state, the event, the reference data in force, the event's time and the
   retention give the `Change`.
4. Build the record: the state after, this offset as the topic's applied one, the outbox pruned
   below the offsets this worker last committed for its entries' partitions (never delivered
   again), plus this place's entry: each outcome's topic, kind and JSON as it will be sent.
5. Persist: assign the record to the table, or delete the claim when it is forgotten; a change
   that writes nothing (a duplicate, a tick that fired nothing) persists nothing. The changelog
   write goes out before any offset is committed past it (`streams.kafka_internals`: a commit
   waits for every table write).
6. Account: move the claim in the census, index its deadlines.
7. Return the entry's outcomes; the claims agent publishes them in order.

Quix Streams' partition transaction (`state/base/transaction.py`: offsets recorded with the
changelog writes) and checkpoint (`checkpointing/checkpoint.py`: the commit order as numbered
steps) are the models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Protocol

from models.cob.census import ClaimCensus
from models.cob.claim import ClaimState
from models.cob.processor import Change, DeadlineIndex, process
from models.cob.reference import Reference
from models.contract.outcomes import event_json
from models.contract.topics import DEAD_LETTER
from models.remittance.decode import Rejected, dead_letter
from models.remittance.intake import ROLE_REFUSAL
from streams.codec import ClaimEvent, ClaimRecord, OutboxEntry, Place, Sent

log = logging.getLogger(__name__)


def refusal_letter(event: ClaimEvent, why: str) -> Sent:
    """The dead letter of a claim event the processor refused (an EOB whose role nothing tells):
    where the EOB was read, the claim as its key, the EOB as the contract's JSON."""
    place = Place.parse(event.source)
    letter = dead_letter(
        Rejected(why, event.claim_id, reason=ROLE_REFUSAL),
        source_topic=place.topic if place else None,
        partition=place.partition if place else None,
        offset=place.offset if place else None,
        key=event.claim_id,
        raw=event.eob.model_dump_json() if event.eob is not None else None,
        received_at=event.at,
    )
    return Sent(DEAD_LETTER, "dead_letter", event_json(letter).decode())


class ClaimRecords(Protocol):
    """What the writer needs of the claims table (`streams.app.ClaimTable` is one)."""

    def get(self, claim_id: str) -> ClaimRecord | None: ...

    def put(self, record: ClaimRecord) -> None: ...

    def delete(self, claim_id: str) -> None: ...

    def states(self) -> Iterable[ClaimState]: ...


class ClaimWriter:
    """The claims table, written one claim event at a time (the module docstring's steps)."""

    def __init__(
        self,
        table: ClaimRecords,
        reference: Reference,
        retention: timedelta,
        committed_offset: Callable[[str, int], int],
        census: ClaimCensus,
    ) -> None:
        self.table = table
        self.reference = reference
        self.retention = retention
        # The offset this worker last committed for a partition of a topic (contract name; -1 if none).
        self.committed_offset = committed_offset
        self.census = census
        self.deadlines = DeadlineIndex()

    def write(self, event: ClaimEvent, place: Place) -> tuple[Sent, ...]:
        """Apply the claim event read at `place` once; what it publishes, every time it is delivered."""
        record = self.table.get(event.claim_id)  # 1
        if record is not None and record.applied(place.topic, place.offset):  # 2
            self.table.put(record)
            return record.published_at(place.topic, place.offset)
        state = record.state if record is not None else None
        change = process(state, event.claim_id, event.for_the_core(), self.reference, event.at, self.retention)  # 3
        if change.refused is not None:  # nothing changes: the same letter again on a redelivery
            return (refusal_letter(event, change.refused),)
        sent = tuple(Sent(p.topic, p.kind, event_json(p.value).decode()) for p in change.published)
        self._persist(change, record, place, sent)  # 4, 5
        self.census.account(change)  # 6
        self.deadlines.account(change)
        return sent  # 7

    def _persist(self, change: Change, record: ClaimRecord | None, place: Place, sent: tuple[Sent, ...]) -> None:
        if not change.written:
            return
        if change.after is None:
            self.table.delete(change.claim_id)
            log.info("claim %s forgotten after its retention", change.claim_id)
            return
        committed = self.committed_offset
        earlier = record.outbox if record else ()
        outbox = tuple(entry for entry in earlier if entry.offset >= committed(entry.topic, place.partition))
        if sent:
            outbox += (OutboxEntry(topic=place.topic, offset=place.offset, events=sent),)
        applied = {**(record.applied_offsets if record else {}), place.topic: place.offset}
        self.table.put(ClaimRecord(state=change.after, applied_offsets=applied, outbox=outbox))

    def due(self, now: datetime) -> list[str]:
        """The claims with a timeout or the end of their retention due at `now`."""
        return self.deadlines.pop_due(self.reference, now)

    def rebuild(self) -> Iterator[int]:
        """Index and count every claim of the table again, in one scan (after an assignment: the
        table is the truth); yields every few hundred claims so that the agents can run. The new
        index is current from the start, so a claim written meanwhile is indexed too."""
        self.deadlines = DeadlineIndex()
        yield from self.deadlines.fill(self.census.counting(self.table.states()), self.retention)
