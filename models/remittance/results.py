"""What converting a remittance yields, item by item, in the order of the file.

- `ConvertedEob`: one claim payment as an `EobEvent` for its role topic (`eob.primary` or
  `eob.secondary`), already validated by the contract.
- `ConvertedSubmission`: one billed claim (an 837P/837I CLM) as a `ClaimSubmission` for
  `claims.submitted`, already validated by the contract.
- `ConversionRejected`: one claim (paid or billed), transaction, functional group, interchange or
  resource that cannot be used: where (segment id and 1-based position), why, and its original text. It becomes
  one dead letter (`rejected()` gives the `models.remittance.decode.Rejected` the dead-letter code takes).
- `ProviderAdjustment`: a provider-level adjustment (X12 PLB): money moved between payer and
  provider outside any claim. Not a claim event; reported so that nothing is dropped silently.
- `PaymentNotice`: a finding about the payment as a whole (the transaction's total does not
  add up), reported alongside the claims it does not invalidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import ValidationError

from models.cob.claim import EobReceived, SubmissionReceived
from models.contract.events import ClaimSubmission, EobEvent, Role
from models.contract.topics import ROLE_TOPICS, SUBMITTED
from models.contract.types import MAX_ID_LENGTH, format_money
from models.remittance.decode import Rejected, describe
from models.remittance.x12_segments import Segment, X12Error

RejectedUnit = Literal["claim", "transaction", "group", "interchange", "file", "resource", "provider adjustment"]


@dataclass(frozen=True, slots=True)
class ConvertedEob:
    """One payer's adjudication of one claim, ready to publish on its role topic. `role` None
    only where the caller asked for it (`convert_x12(roles_by_coverage=True)`): a denial or
    reversal whose role the claim's submission will tell; it has no topic of its own."""

    role: Role | None
    event: EobEvent
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        assert self.role is not None, "an EOB without a role is for the claim's coverage to place"
        return ROLE_TOPICS[self.role]

    @property
    def key(self) -> str:
        return self.event.claim_id

    def value(self) -> dict[str, Any]:
        """The event as JSON-ready data; `source` says where in the remittance it came from
        (an extra field, which the contract accepts and ignores).

        The contract's JSON never carries `states_secondary`: an EOB that does not state the
        claim's secondary coverage leaves `secondary_payer_id` out, which is how `decode_eob`
        knows it (CONTRACT.md, COVERAGE.md section 1)."""
        data = self.event.model_dump(mode="json")
        data.pop("states_secondary", None)
        if not self.event.states_secondary:
            data.pop("secondary_payer_id", None)
        return {**data, "source": self.source}

    def replay_line(self) -> dict[str, Any]:
        """CONTRACT.md's replay format: `{"topic", "key", "value"}`."""
        return {"topic": self.topic, "key": self.key, "value": self.value()}

    def received(self) -> EobReceived:
        """What the core's `step` takes, for a worker that skips the JSON round trip."""
        return EobReceived(self.role, self.event)


@dataclass(frozen=True, slots=True)
class ConvertedSubmission:
    """One claim as the provider billed it (an 837P/837I claim), ready to publish on `claims.submitted`."""

    submission: ClaimSubmission
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        return SUBMITTED

    @property
    def key(self) -> str:
        return self.submission.claim_id

    def value(self) -> dict[str, Any]:
        """The submission as JSON-ready data; `source` says where in the 837 it came from (an
        extra field, which the contract accepts and ignores).

        The contract's JSON never carries `original_837`: `decode_submission` would drop it, and
        the 837 itself is the message that carries it (docs/X12.md, "The secondary 837")."""
        data = self.submission.model_dump(mode="json", exclude={"original_837"})
        return {**data, "source": self.source}

    def replay_line(self) -> dict[str, Any]:
        """CONTRACT.md's replay format: `{"topic", "key", "value"}`."""
        return {"topic": self.topic, "key": self.key, "value": self.value()}

    def received(self) -> SubmissionReceived:
        """What the core's `step` takes, for a worker that skips the JSON round trip."""
        return SubmissionReceived(self.submission)

    def roles(self) -> dict[tuple[str, str], Role]:
        """(payer_id as given, claim_id) -> role, for the primary and secondary payers it names:
        what settles the role of a later denial or reversal (`known_roles`). The tertiary has no
        EOB topic, so it teaches nothing."""
        claim = self.submission.claim_id
        return {
            (entry.payer_id, claim): entry.role
            for entry in self.submission.coverage
            if entry.role in ("primary", "secondary")
        }


@dataclass(frozen=True, slots=True)
class ConversionRejected:
    """A unit of the remittance (or of the 837) that cannot become an EOB event (or a submission), and why."""

    where: str  # "CAS segment 23", "SE segment 112", "ExplanationOfBenefit eob-7 (line 3)"
    reason: str
    unit: RejectedUnit
    segment_id: str | None = None
    position: int | None = None  # X12: 1-based segment ordinal in the interchange; FHIR: line or entry
    claim_id: str | None = None
    role: Role | None = None
    original: str = ""
    # A billed claim (837) that cannot become a submission: its topic is claims.submitted.
    # Out of the repr, so that an 835's rejections read exactly as they always did.
    submission: bool = field(default=False, repr=False)

    @classmethod
    def of_claim(cls, exc: X12Error, first: Segment, original: str, **more: Any) -> ConversionRejected:
        """One claim (835 CLP or 837 CLM, `first`) refused for `exc`, naming the segment at fault
        (the claim's first when the fault names none) and the claim when its id can be one."""
        where, claim_id = exc.segment or first, first.get(1)
        return cls(
            where.where,
            exc.reason,
            "claim",
            None if where.problem else where.id,
            where.position,
            claim_id=claim_id if 0 < len(claim_id) <= MAX_ID_LENGTH else None,
            original=original,
            **more,
        )

    @property
    def topic(self) -> str | None:
        if self.submission:
            return SUBMITTED
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


def refused_by_contract(exc: ValidationError, claim: Segment, lines: Sequence[Segment | None]) -> X12Error:
    """The contract's refusal of a converted claim, at the segment of the line it is about (SVC,
    SV1, SV2), else at the claim's own (CLP, CLM)."""
    line = line_at_fault(exc)
    at_line = lines[line] if line is not None and line < len(lines) else None
    return X12Error(at_line or claim, f"the contract refuses this claim: {describe(exc)}")


def line_at_fault(exc: ValidationError) -> int | None:
    """Which line the contract's first complaint is about, if it is about a line."""
    error = exc.errors(include_url=False)[0]
    loc, context = error["loc"], error.get("ctx") or {}
    if len(loc) > 1 and loc[0] == "lines" and isinstance(loc[1], int):
        return loc[1]
    index = context.get("index")  # EOB-wide checks (a line id used twice, a negative amount) name the line
    return index if isinstance(index, int) else None


Item = ConvertedEob | ConvertedSubmission | ConversionRejected | ProviderAdjustment | PaymentNotice
