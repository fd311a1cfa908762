"""Input contracts (CONTRACT.md "Inputs"): EOB events and the billing office's reference data."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from models.types import Code, Days, Flag, Identifier, IsoDate, Money, NonNegativeMoney, Rate, Text, Timestamp

MAX_LINES_PER_CLAIM = 999  # the X12 835 limit on service lines in one claim payment
MAX_ADJUSTMENTS_PER_LINE = 99
MAX_CODES_PER_LINE = 20

Role = Literal["primary", "secondary"]
EobStatus = Literal["processed", "denied", "reversed"]
AdjustmentGroup = Literal["CO", "PR", "OA", "PI", "CR"]
CobMethod = Literal[
    "lesser_of_allowables",
    "standard",
    "non_duplication",
    "medicare_secondary",
    "medicaid",
    "supplemental",
]
COB_METHODS: tuple[str, ...] = CobMethod.__args__  # type: ignore[attr-defined]

# Half a cent: COB_RULES.md's balancing tolerance. Amounts are cents, so this means exact.
BALANCE_TOLERANCE = Decimal("0.005")

_INPUT = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class Adjustment(BaseModel):
    """One CAS entry: group code, CARC reason code, amount."""

    model_config = _INPUT

    group: AdjustmentGroup
    reason: Code
    amount: Money


class ServiceLine(BaseModel):
    """One service line (X12 SVC), matched across payers by `line_id`."""

    model_config = _INPUT

    line_id: Identifier
    procedure_code: Code
    service_date: IsoDate
    modifiers: tuple[Code, ...] = Field(default=(), max_length=MAX_CODES_PER_LINE)
    remarks: tuple[Code, ...] = Field(default=(), max_length=MAX_CODES_PER_LINE)
    charge: Money
    paid: Money
    allowed: Money | None = None
    adjustments: tuple[Adjustment, ...] = Field(default=(), max_length=MAX_ADJUSTMENTS_PER_LINE)

    @model_validator(mode="after")
    def _balances(self) -> ServiceLine:
        adjusted = sum((a.amount for a in self.adjustments), Decimal(0))
        if abs(self.charge - adjusted - self.paid) > BALANCE_TOLERANCE:
            raise PydanticCustomError(
                "line_unbalanced",
                "does not balance: charge {charge} - adjustments {adjusted} = {expected}, but paid is {paid}",
                {
                    "charge": f"{self.charge}",
                    "adjusted": f"{adjusted}",
                    "expected": f"{self.charge - adjusted}",
                    "paid": f"{self.paid}",
                },
            )
        return self

    def amounts(self) -> list[tuple[str, Decimal | None]]:
        return [
            ("charge", self.charge),
            ("paid", self.paid),
            ("allowed", self.allowed),
            *((f"adjustments[{i}].amount", a.amount) for i, a in enumerate(self.adjustments)),
        ]

    def carries(self, codes: frozenset[str]) -> bool:
        """Whether any adjustment on the line has one of these CARCs, whatever its group."""
        return any(a.reason in codes for a in self.adjustments)

    def patient_adjustments(self, *reasons: str) -> Decimal:
        """Sum of the line's PR adjustments, limited to `reasons` when given."""
        return sum(
            (a.amount for a in self.adjustments if a.group == "PR" and (not reasons or a.reason in reasons)),
            Decimal("0.00"),
        )


class EobEvent(BaseModel):
    """One payer's adjudication of a claim (X12 835 or its JSON equivalent).

    The topic gives the role. `secondary_payer_id` is required (possibly null) on `eob.primary`
    and ignored on `eob.secondary`; `decode_eob` enforces that difference.
    """

    model_config = _INPUT

    event_id: Identifier
    claim_id: Identifier
    payer_id: Identifier
    payer_name: Text | None = None
    payer_claim_number: Text | None = None
    status: EobStatus
    adjudicated_at: Timestamp
    secondary_payer_id: Identifier | None = None
    lines: tuple[ServiceLine, ...] = Field(min_length=1, max_length=MAX_LINES_PER_CLAIM)

    @field_validator("lines", mode="before")
    @classmethod
    def _lines_listed(cls, value: object) -> object:
        if isinstance(value, list | tuple) and not value:
            raise PydanticCustomError("lines_empty", "must be a non-empty list")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EobEvent:
        seen: set[str] = set()
        for index, line in enumerate(self.lines):
            if line.line_id in seen:
                raise PydanticCustomError(
                    "line_id_duplicate",
                    "lines[{index}].line_id: {line_id} appears twice in this EOB",
                    {"index": index, "line_id": repr(line.line_id)},
                )
            seen.add(line.line_id)
            if self.status != "reversed":
                for name, amount in line.amounts():
                    if amount is not None and amount < 0:
                        raise PydanticCustomError(
                            "amount_negative",
                            "lines[{index}].{name}: must not be negative"
                            " (only a reversed EOB carries negative amounts)",
                            {"index": index, "name": name},
                        )
        return self

    def is_duplicate_notice(self) -> bool:
        """A payer's duplicate-claim notice: every line carries CARC 18."""
        return all(line.carries(DUPLICATE_CLAIM) for line in self.lines)

    def line(self, line_id: str) -> ServiceLine | None:
        return next((line for line in self.lines if line.line_id == line_id), None)

    @property
    def total_paid(self) -> Decimal:
        return sum((line.paid for line in self.lines), Decimal("0.00"))

    @property
    def line_ids(self) -> list[str]:
        return [line.line_id for line in self.lines]


DUPLICATE_CLAIM = frozenset({"18"})


class PayerProfile(BaseModel):
    """A payer's COB terms as the billing office configures them; absent fields take defaults."""

    model_config = _INPUT

    payer_id: Identifier
    cob_method: CobMethod | None = None
    in_network: Flag | None = None
    coinsurance_rate: Rate | None = None
    copay: NonNegativeMoney | None = None
    covers_deductible: Flag | None = None
    tolerance: NonNegativeMoney | None = None
    secondary_wait_days: Days | None = None
    primary_wait_days: Days | None = None


class FeeScheduleEntry(BaseModel):
    """A payer's allowable for one procedure code with one set of modifiers."""

    model_config = _INPUT

    payer_id: Identifier
    procedure_code: Code
    modifiers: tuple[Code, ...] = Field(default=(), max_length=MAX_CODES_PER_LINE)
    allowed: NonNegativeMoney

    def key(self) -> str:
        return fee_schedule_key(self.payer_id, self.procedure_code, self.modifiers)


def fee_schedule_key(payer_id: str, procedure_code: str, modifiers: tuple[str, ...] | list[str]) -> str:
    """The compacted topic's key: ``payer_id|procedure_code|modifiers`` (sorted, comma-joined)."""
    return f"{payer_id}|{procedure_code}|{','.join(sorted(set(modifiers)))}"
