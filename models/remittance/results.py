"""What converting a remittance yields, item by item, in the order of the file.

- `ConvertedEob`: one claim payment as an `EobEvent` for its role topic (`eob.primary` or
  `eob.secondary`), already validated by the contract.
- `ConversionRejected`: one claim, transaction, functional group, interchange or resource that
  cannot be used: where (segment id and 1-based position), why, and its original text. It becomes
  one dead letter (`rejected()` gives the `models.remittance.decode.Rejected` the dead-letter code takes).
- `ProviderAdjustment`: a provider-level adjustment (X12 PLB): money moved between payer and
  provider outside any claim. Not a claim event; reported so that nothing is dropped silently.
- `PaymentNotice`: a finding about the payment as a whole (the transaction's total does not
  add up), reported alongside the claims it does not invalidate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import ValidationError

from models.cob.claim import EobReceived
from models.contract.events import EobEvent, Role
from models.contract.topics import ROLE_TOPICS
from models.contract.types import format_money
from models.remittance.decode import Rejected

RejectedUnit = Literal["claim", "transaction", "group", "interchange", "file", "resource", "provider adjustment"]


@dataclass(frozen=True, slots=True)
class ConvertedEob:
    """One payer's adjudication of one claim, ready to publish on its role topic."""

    role: Role
    event: EobEvent
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        return ROLE_TOPICS[self.role]

    @property
    def key(self) -> str:
        return self.event.claim_id

    def value(self) -> dict[str, Any]:
        """The event as JSON-ready data; `source` says where in the remittance it came from
        (an extra field, which the contract accepts and ignores)."""
        return {**self.event.model_dump(mode="json"), "source": self.source}

    def replay_line(self) -> dict[str, Any]:
        """CONTRACT.md's replay format: `{"topic", "key", "value"}`."""
        return {"topic": self.topic, "key": self.key, "value": self.value()}

    def received(self) -> EobReceived:
        """What the core's `step` takes, for a worker that skips the JSON round trip."""
        return EobReceived(self.role, self.event)


@dataclass(frozen=True, slots=True)
class ConversionRejected:
    """A unit of the remittance that cannot become an EOB event, and why."""

    where: str  # "CAS segment 23", "SE segment 112", "ExplanationOfBenefit eob-7 (line 3)"
    reason: str
    unit: RejectedUnit
    segment_id: str | None = None
    position: int | None = None  # X12: 1-based segment ordinal in the interchange; FHIR: line or entry
    claim_id: str | None = None
    role: Role | None = None
    original: str = ""

    @property
    def topic(self) -> str | None:
        return ROLE_TOPICS[self.role] if self.role else None

    @property
    def error(self) -> str:
        return f"{self.where}: {self.reason}"

    def rejected(self) -> Rejected:
        return Rejected(self.error, self.claim_id, self.original or None)


@dataclass(frozen=True, slots=True)
class ProviderAdjustment:
    """One X12 PLB adjustment: positive amounts are withheld from the provider, negative ones paid."""

    payer_id: str
    provider_id: str
    fiscal_period_date: date | None
    reason_code: str  # PLB03-1, e.g. WO overpayment recovery, L6 interest, FB forwarding balance
    reference: str | None  # PLB03-2, often the claim or invoice the adjustment is about
    amount: Decimal
    segment_id: str = "PLB"
    position: int | None = None
    trace_number: str | None = None

    @property
    def where(self) -> str:
        return f"PLB segment {self.position}"

    def describe(self) -> str:
        direction = "withheld from" if self.amount >= 0 else "paid to"
        about = f" {self.reference}" if self.reference else ""
        return (
            f"provider adjustment {self.reason_code}{about}: {format_money(abs(self.amount))} {direction} "
            f"provider {self.provider_id} by {self.payer_id} (not a claim event)"
        )


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    """A finding about a payment as a whole; its claims are converted all the same."""

    where: str
    message: str
    segment_id: str | None = None
    position: int | None = None

    def describe(self) -> str:
        return self.message


def line_at_fault(exc: ValidationError) -> int | None:
    """Which line the contract's first complaint is about, if it is about a line."""
    error = exc.errors(include_url=False)[0]
    loc, context = error["loc"], error.get("ctx") or {}
    if len(loc) > 1 and loc[0] == "lines" and isinstance(loc[1], int):
        return loc[1]
    index = context.get("index")  # EOB-wide checks (a line id used twice, a negative amount) name the line
    return index if isinstance(index, int) else None


Item = ConvertedEob | ConversionRejected | ProviderAdjustment | PaymentNotice
