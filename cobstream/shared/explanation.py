"""One claim replayed through the real engine and explained (`models.explain.claim`): shared by
`cobstream explain --replay` and the web UI's claim page.

`explain_from_messages` runs (topic, key, value) messages in arrival order through
`cobstream.engine.Engine` and explains the claim's final state; `replay_messages` turns replay
JSONL lines into such messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from cobstream.engine import Engine
from cobstream.shared.replay_format import line_key_text, value_text
from models.contract.types import NonFinite, RawNumber
from models.explain.claim import ClaimExplanation, explain_claim
from models.remittance.decode import load_json

# One input message, exactly what `cobstream.engine.Engine.receive` takes: topic, key, value.
Message = tuple[str | None, str | None, bytes | str | None]
# One record read back from Kafka: the message and the record's time (the work queue's store).
Received = tuple[str | None, str | None, bytes | str | None, datetime]


def replay_messages(lines: Iterable[bytes]) -> Iterator[Message]:
    """Replay JSONL lines as messages. A line that is not a usable record becomes a message with
    no topic (the engine dead-letters it, as `cobstream replay` does); it concerns no claim."""
    for line in lines:
        if not line.strip():
            continue
        try:
            record = load_json(line)
            topic = record.get("topic") if isinstance(record, dict) else None
            if not isinstance(topic, str) or isinstance(topic, RawNumber | NonFinite):
                raise ValueError("no topic")
            message: Message = (topic, line_key_text(record.get("key")), value_text(record.get("value")))
        except (ValueError, TypeError, RecursionError):  # orjson's encode error is a TypeError
            message = (None, None, line)
        yield message


def run_messages(messages: Iterable[Message], now: datetime | None) -> Engine:
    """A fresh engine that has received the messages in order (and moved its clock to `now`)."""
    engine = Engine()
    for topic, key, value in messages:
        engine.receive(topic, key, value)
    if now is not None:
        engine.advance(now)
    return engine


def run_received(records: Iterable[Received], now: datetime | None) -> Engine:
    """A fresh engine that has received the records in order, its clock on the records' times as
    a worker's is (a claim is kept `retention` after it was received, not after its EOBs'
    adjudication dates), then moved to `now`."""
    engine = Engine()
    for topic, key, value, received_at in records:
        engine.receive(topic, key, value, received_at=received_at)
    if now is not None:
        engine.advance(now)
    return engine


def explained(engine: Engine, claim_id: str) -> ClaimExplanation | None:
    """The explanation of the claim's state in the engine; None when the engine has no such claim."""
    state = engine.claims.get(claim_id)
    return explain_claim(state, engine.reference, engine.clock) if state is not None else None


def explain_from_messages(
    messages: Iterable[Message], claim_id: str, now: datetime | None = None
) -> ClaimExplanation | None:
    """Run messages (topic, key, value bytes, in arrival order) through the real engine and explain
    the claim's final state; None when the claim is not there. `now` moves the clock after the
    last message, as `cobstream replay --now` does (the timeouts then due fire)."""
    return explained(run_messages(messages, now), claim_id)
