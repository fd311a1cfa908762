"""The audit's vocabulary, shared by reading, judging and reporting: a Kafka record as the audit
sees it (`TopicRecord`), what a finding can say, a `Finding`, and the `AuditReport` they make up."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# What a finding can say. All but NOT_RECONCILED are problems (exit status 1).
NOT_TAKEN_IN = "not taken in"  # an EOB with neither a claim event nor a dead letter
NO_SUCH_INPUT = "no such input"  # a claim event naming an input record that is not on its topic
MISSING = "missing outcome"  # the core publishes it for an accepted EOB; the topics do not have it
DIFFERS = "differs from the core"  # same event id, other content
UNEXPECTED = "unexpected outcome"  # on the topics, but the core never publishes it
CONFLICTING = "conflicting duplicate"  # the same event id (or dead letter) twice with other bytes
REVISION_GAP = "revision gap"  # a claim's published revisions skip a number
UNREADABLE = "unreadable record"  # a claim event or output that is not what its topic carries
CORE_FAILED = "core failed"  # the core raised on a claim event the claims agent applied
NOT_RECONCILED = "not reconciled"  # a claim event the claims agent dead-lettered (accounted for)
PROBLEMS = frozenset(
    {NOT_TAKEN_IN, NO_SUCH_INPUT, MISSING, DIFFERS, UNEXPECTED, CONFLICTING, REVISION_GAP, UNREADABLE, CORE_FAILED}
)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    claim_id: str | None = None
    revision: int | None = None
    event_ids: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    note: str = ""

    @property
    def is_problem(self) -> bool:
        return self.kind in PROBLEMS


@dataclass
class AuditReport:
    """What the audit found, with the counts an operator checks first."""

    since: datetime | None = None
    until: datetime | None = None
    inputs: int = 0  # EOB records audited (in the time range)
    taken_in: int = 0  # of those, with a claim event
    dead_lettered: int = 0  # of those, with a dead letter
    claims: int = 0  # claims audited
    expected: int = 0  # outcomes the core publishes for them (that the audit requires)
    published: int = 0  # distinct outcomes on the output topics
    repeats: int = 0  # identical redeliveries of an outcome or a dead letter (harmless)
    reordered: int = 0  # claims whose published outcomes are those of another order than record time
    dead_letters: Counter[str] = field(default_factory=Counter)  # by reason
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.is_problem]

    @property
    def exit_status(self) -> int:
        return 1 if self.problems else 0

    def add(self, kind: str, claim_id: str | None = None, **details: Any) -> None:
        self.findings.append(Finding(kind, claim_id, **details))


def ms(moment: datetime) -> int:
    """A moment as Kafka record time (milliseconds since the epoch)."""
    return int(moment.timestamp() * 1000)
