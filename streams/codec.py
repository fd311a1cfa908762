"""Bytes on Kafka to models and back: keys, the claims table, the claim-events topic (an output
event's bytes are `models.contract.outcomes.event_json`)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal, NamedTuple

import orjson
from aiokafka.partitioner import DefaultPartitioner
from faust.serializers.codecs import Codec
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import SchemaValidator

from models.cob.claim import ClaimInput, ClaimState, ClockTick, EobReceived, SubmissionReceived
from models.contract.events import ClaimSubmission, EobEvent, Role
from models.contract.topics import CLAIM_EVENTS, DEAD_LETTER, DISCREPANCY, READY
from models.contract.types import Timestamp, rust_validator, stored_schema


class Utf8(Codec):
    """Keys as text (Faust's `raw` codec would hand back bytes after a changelog recovery)."""

    def _dumps(self, s: Any) -> bytes:
        return s.encode("utf-8") if isinstance(s, str) else bytes(s)

    def _loads(self, s: bytes) -> str:
        return s.decode("utf-8")


class PydanticCodec(Codec):
    """A pydantic model as its JSON, for table values."""

    def __init__(self, model: type[BaseModel], **kwargs: Any) -> None:
        self.model = model
        super().__init__(model=model, **kwargs)

    def _dumps(self, obj: Any) -> bytes:
        return obj.model_dump_json().encode() if isinstance(obj, BaseModel) else orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return self.model.model_validate_json(s)


def kafka_key_text(key: bytes | None) -> str | None:
    """A record key as text: UTF-8 as it is, anything else as `base64:...` (never guessed at)."""
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(key).decode("ascii")


def claim_partition(claim_id: str, partitions: int) -> int:
    """The partition a claim's records go to on the claim-partitioned topics when keyed by its
    id: the worker's producer's choice (aiokafka's default partitioner, the Java client's murmur2),
    so the partition of its claims-table entry."""
    every = list(range(partitions))
    return DefaultPartitioner()(claim_id.encode("utf-8"), every, every)


def record_time(timestamp: float | None) -> datetime:
    """A Kafka record's timestamp (seconds, as Faust gives it) as an aware datetime. Outcomes
    carry it as `produced_at`, so an event processed twice (after a crash) yields the same
    outcome both times."""
    if not timestamp or timestamp < 0:
        return datetime.now(UTC)
    return datetime.fromtimestamp(timestamp, UTC)


class Place(NamedTuple):
    """Where a record is on Kafka: its topic (without the environment's prefix), partition and
    offset, written `topic[partition]@offset` (a claim event's `source`); `parse` reads it back."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    @classmethod
    def parse(cls, text: str | None) -> Place | None:
        found = _PLACE.fullmatch(text or "")
        return cls(found["topic"], int(found["partition"]), int(found["offset"])) if found else None


_PLACE = re.compile(r"(?P<topic>.+)\[(?P<partition>\d+)\]@(?P<offset>\d+)")


@dataclass(frozen=True, slots=True)
class TopicRecord:
    """One Kafka record read back (by the audit, by the work queue): its topic without the
    environment's prefix, partition, offset, key and value bytes, and timestamp (ms)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int

    @property
    def place(self) -> str:
        return str(Place(self.topic, self.partition, self.offset))


def carries_input(kind: str) -> bool:
    """Whether a claim event of this kind carries an input message (an EOB or a submission), not a
    tick: `ClaimEvent.taken_in`, and the audit's for the events it keeps without their input."""
    return kind != "tick"


class ClaimEvent(BaseModel):
    """A message of the internal claim-events topic (key: claim id).

    `eob`: an EOB that passed validation, with its role and the time it was received.
    `submission`: a claim submission that passed validation (COVERAGE.md), and when received.
    `tick`: the timer found a timeout or the retention of this claim due at `at`.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["eob", "submission", "tick"]
    claim_id: str
    at: Timestamp
    role: Role | None = None
    eob: EobEvent | None = None
    submission: ClaimSubmission | None = None
    source: str | None = None  # topic/partition/offset of the original message, for logs

    @property
    def taken_in(self) -> bool:
        """Whether the event carries an input message (an EOB or a submission), not a tick."""
        return carries_input(self.kind)

    @classmethod
    def of_input(cls, decoded: EobReceived | SubmissionReceived, at: datetime, source: str) -> ClaimEvent:
        """The claim event of an EOB or a submission taken in at `source` (`Place` as text) and
        received at `at`: by the intake, the claims agent and the audit alike. Built from parts
        the contract has just validated: not validated again."""
        if isinstance(decoded, EobReceived):
            return cls.model_construct(
                kind="eob", claim_id=decoded.eob.claim_id, at=at, role=decoded.role, eob=decoded.eob, source=source
            )
        submission = decoded.submission
        return cls.model_construct(
            kind="submission", claim_id=submission.claim_id, at=at, submission=submission, source=source
        )

    def for_the_core(self) -> ClaimInput:
        """The event as `models.cob.claim.step` takes it."""
        if self.kind == "tick":
            return ClockTick()
        if self.kind == "submission":
            return SubmissionReceived(self.submission)  # type: ignore[arg-type]
        return EobReceived(self.role, self.eob)  # type: ignore[arg-type]


class Sent(NamedTuple):
    """One outcome as it is sent: its (unprefixed) topic, its kind (`Published.kind`) and its JSON."""

    topic: str
    kind: str
    json: str


class OutboxEntry(BaseModel):
    """What one claim event published, kept to publish exactly the same again: the topic it was
    read from (contract name; records from before the direct input path name none: claim-events),
    its offset there, and the outcomes."""

    model_config = ConfigDict(frozen=True)

    topic: str = CLAIM_EVENTS
    offset: int
    events: tuple[Sent, ...]

    @field_validator("events", mode="before")
    @classmethod
    def _kinds_of_older_records(cls, events: Any) -> Any:
        """Records written before the outbox kept kinds hold (topic, JSON) pairs: the kind is read
        from the JSON once, when such a record is read."""
        if isinstance(events, list | tuple):
            return [
                _with_kind(*event) if isinstance(event, list | tuple) and len(event) == 2 else event for event in events
            ]
        return events


class ClaimRecord(BaseModel):
    """A value of the claims table: the core's claim state, and what each input partition of the
    claim has already done to it.

    A crash between a table write and the publishing of its outcomes leaves a changelog that is
    ahead of the outputs; Faust then delivers the claim event again. `applied_offsets` (by the
    contract name of the topic the event was read from: claim-events, or an input topic on the
    direct path; the partition is the claim's on every one) recognises that redelivery (an
    upstream duplicate has a new offset), and `outbox` holds the outcomes to publish again, byte
    for byte, so nothing is lost and every repeat is exact.
    """

    model_config = ConfigDict(frozen=True)

    state: ClaimState
    applied_offsets: dict[str, int] = {}
    outbox: tuple[OutboxEntry, ...] = ()

    @classmethod
    def of_older(cls, data: dict[str, Any]) -> ClaimRecord:
        """A record written before the direct input path: its one `applied_offset` is of claim-events."""
        older = data.pop("applied_offset")
        data.setdefault("applied_offsets", {CLAIM_EVENTS: older} if older >= 0 else {})
        return cls.model_validate(data)

    def applied(self, topic: str, offset: int) -> bool:
        """Whether the claim event at this offset of `topic` has been applied already."""
        return offset <= self.applied_offsets.get(topic, -1)

    def published_at(self, topic: str, offset: int) -> tuple[Sent, ...]:
        return next((entry.events for entry in self.outbox if entry.offset == offset and entry.topic == topic), ())


def _with_kind(topic: str, payload: str) -> Sent:
    value = orjson.loads(payload)
    if topic == DISCREPANCY:
        kind = value["kind"]
    elif topic == READY:
        kind = value["status"]
    else:
        kind = "dead_letter" if topic == DEAD_LETTER else "expected_payment"
    return Sent(topic, kind, payload)


class ClaimRecordCodec(PydanticCodec):
    """Claim records as their JSON. A record from before the direct input path (its key
    `"applied_offset":`, which no JSON string can hold unescaped) is read through
    `ClaimRecord.of_older`; every other one straight from its JSON (a model validator on the
    record would cost every read about 9 %), first by the reader for records as this system
    writes them (`stored_schema`: money, dates and text checked inside pydantic-core, about a
    third of the full validation's time), and by the full validation when that refuses it, which
    then returns or raises exactly what it always did."""

    def _loads(self, s: bytes) -> Any:
        if _OLDER_RECORD in s:
            return ClaimRecord.of_older(orjson.loads(s))
        try:
            return stored_record_reader().validate_json(s)
        except ValidationError:
            return ClaimRecord.model_validate_json(s)


@cache
def stored_record_reader() -> SchemaValidator:
    """ClaimRecord's validator for JSON as `ClaimRecordCodec` writes it (built on first use)."""
    return rust_validator(stored_schema(ClaimRecord.__pydantic_core_schema__))


_OLDER_RECORD = b'"applied_offset":'
claim_record_codec = ClaimRecordCodec(ClaimRecord)
claim_event_codec = PydanticCodec(ClaimEvent)
