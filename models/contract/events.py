"""Input contracts (CONTRACT.md "Inputs"): EOB events, claim submissions (COVERAGE.md) and the
billing office's reference data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import CoreSchema, PydanticCustomError, SchemaValidator, ValidationError
from pydantic_core import core_schema as cs

from models.contract.types import (
    MAX_CODE_LENGTH,
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
    Code,
    Days,
    Flag,
    Identifier,
    IsoDate,
    Money,
    NonNegativeMoney,
    Rate,
    Text,
    Timestamp,
    cents_text_schema,
    iso_date_schema,
    parse_timestamp,
    plain_text_schema,
    rust_validator,
)

MAX_LINES_PER_CLAIM = 999  # the X12 835 limit on service lines in one claim payment
MAX_ADJUSTMENTS_PER_LINE = 99
MAX_CODES_PER_LINE = 20

Role = Literal["primary", "secondary"]
CoverageRole = Literal["primary", "secondary", "tertiary"]
SubmissionFrequency = Literal["original", "replacement", "void"]
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


def _false(value: bool) -> bool:
    return not value


def _none(value: object) -> bool:
    return value is None


class Adjustment(BaseModel):
    """One CAS entry: group code, CARC reason code, amount.

    The amount may be negative in any group (X12 5010 allows it: OA-94 -9.00 in the guide's COB
    example, CO-45 below zero when the allowed amount exceeds the charge). `apportioned` marks a
    line's share of a claim-level adjustment (COVERAGE.md section 3).
    """

    model_config = _INPUT

    group: AdjustmentGroup
    reason: Code
    amount: Money
    # Written out only when true, so that an adjustment of a payer's own reads as it always did.
    apportioned: Flag = Field(default=False, exclude_if=_false)


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
        """The line's own amounts, which only a reversed EOB may carry negative (adjustment
        amounts may be negative on any EOB)."""
        return [("charge", self.charge), ("paid", self.paid), ("allowed", self.allowed)]

    # Plain loops rather than generators in these helpers: the core asks them for every line of
    # every EOB, and a generator costs more than the few adjustments it walks.
    def carries(self, codes: frozenset[str]) -> bool:
        """Whether any adjustment on the line has one of these CARCs, whatever its group."""
        for adjustment in self.adjustments:  # noqa: SIM110 - a loop, not any(): see above
            if adjustment.reason in codes:
                return True
        return False


class EobEvent(BaseModel):
    """One payer's adjudication of a claim (X12 835 or its JSON equivalent).

    The topic gives the role. `secondary_payer_id` has three states on `eob.primary`: a payer
    id (the primary crossed the claim over), null (the sender knows there is no secondary) or
    absent (the sender does not know: `states_secondary` is false, and the claim's submission
    decides, COVERAGE.md section 1). It is ignored on `eob.secondary`; `decode_eob` enforces that
    difference.
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
    # Whether the EOB states the claim's secondary coverage at all (`secondary_payer_id` present).
    # Written out only when false, so that a stored EOB from before the three states (always
    # stated, null meaning none) reads as it did.
    states_secondary: Flag = Field(default=True, exclude_if=bool)
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
                    # `field`: where the fault is, for an error the model as a whole raises
                    {"index": index, "line_id": repr(line.line_id), "field": "lines[].line_id"},
                )
            seen.add(line.line_id)
            if self.status != "reversed":
                for name, amount in line.amounts():
                    if amount is not None and amount < 0:
                        raise PydanticCustomError(
                            "amount_negative",
                            "lines[{index}].{name}: must not be negative"
                            " (only a reversed EOB carries a negative charge, paid or allowed amount)",
                            {"index": index, "name": name, "field": f"lines[].{name}"},
                        )
        return self

    def is_duplicate_notice(self) -> bool:
        """A payer's duplicate-claim notice: every line carries CARC 18."""
        for line in self.lines:  # noqa: SIM110 - asked of every EOB; all() of a generator costs more
            if not line.carries(DUPLICATE_CLAIM):
                return False
        return True

    def line(self, line_id: str) -> ServiceLine | None:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        return None

    @property
    def total_paid(self) -> Decimal:
        return sum((line.paid for line in self.lines), Decimal("0.00"))

    @property
    def stated_secondary(self) -> tuple[bool, str | None]:
        """(whether the EOB states the secondary coverage, the secondary payer it names or None)."""
        return self.states_secondary, self.secondary_payer_id

    @property
    def line_ids(self) -> list[str]:
        return [line.line_id for line in self.lines]


DUPLICATE_CLAIM = frozenset({"18"})


class CoverageEntry(BaseModel):
    """One payer of the claim's coverage and its place in the COB order."""

    model_config = _INPUT

    payer_id: Identifier
    role: CoverageRole


class SubmittedLine(BaseModel):
    """One service line as the provider billed it (837 LX with SV1 or SV2)."""

    model_config = _INPUT

    line_id: Identifier
    procedure_code: Code
    modifiers: tuple[Code, ...] = Field(default=(), max_length=MAX_CODES_PER_LINE)
    service_date: IsoDate
    charge: NonNegativeMoney


class ClaimSubmission(BaseModel):
    """The claim as the provider billed it, with its coverage in COB order (COVERAGE.md; an 837P
    or 837I claim, or the billing system's record of it on `claims.submitted`)."""

    model_config = _INPUT

    event_id: Identifier
    claim_id: Identifier
    submitted_at: Timestamp
    frequency: SubmissionFrequency = "original"
    coverage: tuple[CoverageEntry, ...] = Field(min_length=1, max_length=3)
    lines: tuple[SubmittedLine, ...] = Field(min_length=1, max_length=MAX_LINES_PER_CLAIM)
    # The claim's own 837 as the provider sent it: one interchange holding only this claim (the
    # transaction header, 1000A/1000B, its 2000A/2000B/2000C loops and this 2300 loop with its
    # lines), set by the X12 converter (`models.remittance.x12_837_claim`) and never read from
    # JSON input (`models.remittance.decode.decode_submission` drops it). The secondary 837 is
    # built from it (`models.remittance.x12_837_secondary`). Written out only when set, so a
    # JSON submission reads as it always did; the contract's JSON (`ConvertedSubmission.value`)
    # leaves it out.
    original_837: str | None = Field(default=None, exclude_if=_none)

    @field_validator("frequency", mode="before")
    @classmethod
    def _original_when_null(cls, value: object) -> object:
        return "original" if value is None else value

    @field_validator("coverage", "lines", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        if isinstance(value, list | tuple) and not value:
            raise PydanticCustomError("list_empty", "must be a non-empty list")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ClaimSubmission:
        roles = [entry.role for entry in self.coverage]
        if roles.count("primary") != 1:
            raise PydanticCustomError(
                "coverage_primary",
                "coverage: names {count} primary payers; exactly one is required",
                {"count": roles.count("primary"), "field": "coverage[].role"},
            )
        for role in ("secondary", "tertiary"):
            if roles.count(role) > 1:
                raise PydanticCustomError(
                    "coverage_role_twice",
                    "coverage: names more than one {role} payer",
                    {"role": role, "field": "coverage[].role"},
                )
        payers = [entry.payer_id for entry in self.coverage]
        if len(set(payers)) != len(payers):
            raise PydanticCustomError(
                "coverage_payer_twice", "coverage: names one payer in two roles", {"field": "coverage[].payer_id"}
            )
        line_ids = [line.line_id for line in self.lines]
        if len(set(line_ids)) != len(line_ids):
            raise PydanticCustomError(
                "line_id_duplicate",
                "lines[].line_id: a line id appears twice in this submission",
                {"field": "lines[].line_id"},
            )
        return self

    def payer(self, role: CoverageRole) -> str | None:
        """The payer the submission names in `role`, or None."""
        for entry in self.coverage:
            if entry.role == role:
                return entry.payer_id
        return None

    @property
    def line_ids(self) -> list[str]:
        return [line.line_id for line in self.lines]


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
    # Other ids this payer is known by (a Medicare COBA id in NM1*TT, an 835's REF*2U, a
    # clearinghouse id): comparisons and lookups use the payer an id resolves to.
    aliases: tuple[Identifier, ...] = Field(default=(), max_length=MAX_CODES_PER_LINE)

    @field_validator("aliases", mode="before")
    @classmethod
    def _none_when_null(cls, value: object) -> object:
        return () if value is None else value


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
    if not modifiers:  # most lines: asked for on every line of every claim computed
        return f"{payer_id}|{procedure_code}|"
    return f"{payer_id}|{procedure_code}|{','.join(sorted(set(modifiers)))}"


# ---- EOBs validated inside pydantic-core -------------------------------------------------------
# The models above, as `decode_eob` tries them first: straight from the JSON text, every field
# checked in Rust. Each field accepts a subset of what the model accepts (money only as plain
# cents text, non-negative but for adjustment amounts, dates only as YYYY-MM-DD), and the model
# validators run below in one pass. Anything refused goes through the full validation, which
# words the error.

_CONFIG = cs.CoreConfig(extra_fields_behavior="ignore")


def _required(schema: CoreSchema) -> Any:
    return cs.model_field(schema)


def _optional(schema: CoreSchema, default: object) -> Any:
    return cs.model_field(cs.with_default_schema(schema, default=default))


def _items(item: CoreSchema, max_length: int, min_length: int | None = None) -> CoreSchema:
    return cs.tuple_schema([item], variadic_item_index=0, min_length=min_length, max_length=max_length)


def _line_schema() -> CoreSchema:
    code, money = plain_text_schema(1, MAX_CODE_LENGTH), cents_text_schema()
    groups = list(AdjustmentGroup.__args__)  # type: ignore[attr-defined]
    adjustment = cs.model_fields_schema(
        {
            "group": _required(cs.literal_schema(groups)),
            "reason": _required(code),
            "amount": _required(cents_text_schema(signed=True)),
            "apportioned": _optional(cs.bool_schema(strict=True), False),
        }
    )
    fields = {
        "line_id": _required(plain_text_schema(1, MAX_ID_LENGTH)),
        "procedure_code": _required(code),
        "service_date": _required(iso_date_schema()),
        "modifiers": _optional(_items(code, MAX_CODES_PER_LINE), ()),
        "remarks": _optional(_items(code, MAX_CODES_PER_LINE), ()),
        "charge": _required(money),
        "paid": _required(money),
        "allowed": _optional(cs.nullable_schema(money), None),
        "adjustments": _optional(
            _items(cs.model_schema(Adjustment, adjustment, config=_CONFIG), MAX_ADJUSTMENTS_PER_LINE), ()
        ),
    }
    return cs.model_schema(ServiceLine, cs.model_fields_schema(fields), config=_CONFIG)


def _eob_schema(role: Role) -> CoreSchema:
    identifier = plain_text_schema(1, MAX_ID_LENGTH)
    text = cs.nullable_schema(plain_text_schema(0, MAX_TEXT_LENGTH))
    secondary_payer = cs.nullable_schema(identifier)
    fields = {
        "event_id": _required(identifier),
        "claim_id": _required(identifier),
        "payer_id": _required(identifier),
        "payer_name": _optional(text, None),
        "payer_claim_number": _optional(text, None),
        "status": _required(cs.literal_schema(list(EobStatus.__args__))),  # type: ignore[attr-defined]
        "adjudicated_at": _required(cs.no_info_after_validator_function(parse_timestamp, cs.str_schema(strict=True))),
        # Present (possibly null) on eob.primary: absent takes the full validation, which marks
        # the EOB as not stating the coverage. eob.secondary ignores it whatever it holds: it
        # is read from a key that no JSON text spells without an escape (escapes never come here).
        "secondary_payer_id": _required(secondary_payer)
        if role == "primary"
        else cs.model_field(cs.with_default_schema(secondary_payer, default=None), validation_alias="\x00"),
        # Never read from the JSON (the key no JSON text spells): the full validation sets it.
        "states_secondary": cs.model_field(
            cs.with_default_schema(cs.bool_schema(strict=True), default=True), validation_alias="\x00"
        ),
        "lines": _required(_items(_line_schema(), MAX_LINES_PER_CLAIM, min_length=1)),
    }
    return cs.model_schema(EobEvent, cs.model_fields_schema(fields), config=_CONFIG)


_FAST_EOB: dict[str, SchemaValidator] = {role: rust_validator(_eob_schema(role)) for role in ("primary", "secondary")}


def fast_eob(role: Role, text: str) -> EobEvent | None:
    """The EOB in `text` (JSON without backslash escapes) when it is plainly valid, else None:
    then only the full validation can say whether it is valid, and why not."""
    try:
        eob = _FAST_EOB[role].validate_json(text)
    except ValidationError:
        return None
    lines = eob.lines
    for line in lines:
        # ServiceLine._balances. Amounts are cents here, so "within half a cent" means exactly.
        unexplained = line.charge - line.paid
        for adjustment in line.adjustments:
            unexplained -= adjustment.amount
        if unexplained:
            return None
    if len({line.line_id for line in lines}) != len(lines):
        return None  # EobEvent._consistent: a line id twice
    return eob
