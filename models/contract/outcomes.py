"""Output contracts (CONTRACT.md "Outputs"): what this system writes for downstream readers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import CoreSchema, SchemaValidator

from models.contract.events import AdjustmentGroup, CobMethod
from models.contract.topics import DEAD_LETTER, DISCREPANCY, EXPECTED, READY, SECONDARY_CLAIM
from models.contract.types import (
    Money,
    Timestamp,
    computed_money_schema,
    computed_timestamp_schema,
    parse_money,
    parse_timestamp,
    plain_validator_replaced,
    rust_validator,
    swapped,
)

AllowableSource = Literal["fee_schedule", "secondary_eob", "assumed_primary"]
PatientReason = Literal[
    "primary_deductible",
    "primary_coinsurance",
    "primary_copay",
    "primary_other",
    "secondary_deductible",
    "secondary_copay",
    "non_covered",
    "out_of_network",
    "secondary_allowable_at_or_below_primary_paid",
    "no_secondary_coverage",
]
PATIENT_REASON_ORDER: tuple[str, ...] = PatientReason.__args__  # type: ignore[attr-defined]

DiscrepancyKind = Literal[
    "cob_order_dispute",
    "missing_primary_eob_denial",
    "secondary_underpaid",
    "secondary_overpaid",
    "line_mismatch",
    "secondary_overdue",
    "orphan_secondary",
    "primary_reversed",
    "secondary_reversed",
    "coverage_unknown",
    "primary_overdue",
]

_OUTPUT = ConfigDict(frozen=True, extra="forbid")


class Outcome(BaseModel):
    """Fields every outcome carries."""

    model_config = _OUTPUT

    event_id: str
    claim_id: str
    revision: int
    produced_at: Timestamp


class ExpectedLine(BaseModel):
    model_config = _OUTPUT

    line_id: str
    allowable_source: AllowableSource
    secondary_allowable: Money
    secondary_benefit: Money
    expected_secondary_paid: Money
    expected_patient_responsibility: Money
    # Added for explainability (CONTRACT.md allows new fields): A1 and the ceiling K.
    primary_allowed: Money
    collectible_limit: Money


class ExpectedSecondaryPayment(Outcome):
    """`secondary.expected`: what the secondary should pay, estimated when the primary lands."""

    secondary_payer_id: str
    cob_method: CobMethod
    allowable_source: AllowableSource
    expected_secondary_paid: Money
    expected_patient_responsibility: Money
    lines: tuple[ExpectedLine, ...]


WriteOffReasonCode = Literal[
    "primary_adjustment",
    "primary_patient_credit",
    "medicaid_payment_in_full",
    "medicare_limit",
    "secondary_network_contract",
    "overpayment_credit",
]


class WriteOffReason(BaseModel):
    """One coded part of a line's write-off (COVERAGE.md section 5): a posting system's
    adjustment with its group and CARC (null where no CARC is the reason)."""

    model_config = _OUTPUT

    reason: WriteOffReasonCode
    group: AdjustmentGroup | None
    carc: str | None
    amount: Money


class ReadyLine(BaseModel):
    model_config = _OUTPUT

    line_id: str
    charge: Money
    primary_paid: Money
    secondary_paid: Money
    expected_secondary_paid: Money
    patient_responsibility: Money
    write_off: Money
    patient_reasons: tuple[PatientReason, ...]
    # Their amounts add up to `write_off`. Empty on a line of a ready event stored before they
    # existed (and on its voided copy).
    write_off_reasons: tuple[WriteOffReason, ...] = ()


class PatientBillingReady(Outcome):
    """`billing.ready`: the final patient balance and write-off, or the voiding of one."""

    status: Literal["ready", "voided"]
    primary_payer_id: str
    secondary_payer_id: str | None
    # The submission's third payer, yet to pay after this statement (COVERAGE.md); None when none.
    # Defaulted so that a ready event stored before it existed reads (and is voided) as it was.
    tertiary_payer_id: str | None = None
    cob_method: CobMethod | None
    total_charge: Money
    primary_paid: Money
    secondary_paid: Money
    expected_secondary_paid: Money
    patient_responsibility: Money
    write_off: Money
    patient_reasons: tuple[PatientReason, ...]
    lines: tuple[ReadyLine, ...]
    voids_event_id: str | None = None


class ReportedAdjustment(BaseModel):
    """One adjustment as the primary reported it on a line (zero and negative amounts included)."""

    model_config = _OUTPUT

    group: AdjustmentGroup
    reason: str
    amount: Money


class SecondaryClaimLine(BaseModel):
    model_config = _OUTPUT

    line_id: str
    charge: Money
    primary_paid: Money
    adjustments: tuple[ReportedAdjustment, ...]


class SecondaryClaim(Outcome):
    """`secondary.claim`: the primary's adjudication to send with the claim to the secondary payer
    (COVERAGE.md section 5; X12 837 loops 2320, 2330B and 2430), or a `replaced` copy of one that
    no longer holds."""

    status: Literal["open", "replaced"]
    secondary_payer_id: str
    primary_payer_id: str
    primary_event_id: str
    adjudicated_at: Timestamp
    lines: tuple[SecondaryClaimLine, ...]
    primary_paid: Money
    remaining_patient_liability: Money
    replaces_event_id: str | None = None


class PaymentDiscrepancy(Outcome):
    """`billing.discrepancy`: something a billing team must act on (or know about)."""

    kind: DiscrepancyKind
    blocking: bool
    expected_secondary_paid: Money | None
    actual_secondary_paid: Money | None
    difference: Money | None
    line_ids: tuple[str, ...]
    action: str
    primary_event_id: str | None
    secondary_event_id: str | None


class DeadLetter(BaseModel):
    """`eob.dead-letter`: input that could not be used, with the reason and the original bytes."""

    model_config = _OUTPUT

    source_topic: str | None
    partition: int | None
    offset: int | None
    key: str | None
    claim_id: str | None
    raw: str
    raw_encoding: Literal["utf-8", "base64"] = "utf-8"
    raw_truncated: bool = False
    raw_size: int = 0
    error: str
    received_at: Timestamp | None


OutcomeEvent = ExpectedSecondaryPayment | PatientBillingReady | PaymentDiscrepancy | SecondaryClaim


def event_json(event: Outcome | DeadLetter) -> bytes:
    """An output event as the contract's JSON, the bytes the worker publishes and the value of a
    replay output line: the model's own serializer, straight to bytes (the same text as its
    `model_dump(mode="json")` written by orjson, without the dict in between)."""
    return event.__pydantic_serializer__.to_json(event)


TOPIC_OF: dict[type, str] = {
    ExpectedSecondaryPayment: EXPECTED,
    PatientBillingReady: READY,
    PaymentDiscrepancy: DISCREPANCY,
    SecondaryClaim: SECONDARY_CLAIM,
    DeadLetter: DEAD_LETTER,
}


# ---- Outcomes built from the core's own values ---------------------------------------------------
# Every outcome is the core's arithmetic and clock, not outside input: its money and its time
# are checked for their ranges only, inside pydantic-core, instead of one Python call a field
# (models.contract.types "Validators that stay inside pydantic-core"). Anything refused is validated in
# full, which returns or raises exactly what it always did.


_TRUST: dict[Any, Callable[[], CoreSchema]] = {
    parse_money: computed_money_schema,
    parse_timestamp: computed_timestamp_schema,
}
_TRUSTED: dict[type, SchemaValidator] = {
    model: rust_validator(swapped(model.__pydantic_core_schema__, lambda node: plain_validator_replaced(node, _TRUST)))
    for model in (ExpectedSecondaryPayment, PatientBillingReady, PaymentDiscrepancy, SecondaryClaim)
}


def build_outcome(model: type[Outcome], fields: dict[str, Any]) -> Outcome:
    """`model.model_validate(fields)` for fields the core computed: the same outcome, or the same
    error."""
    try:
        return _TRUSTED[model].validate_python(fields)
    except ValidationError:
        return model.model_validate(fields)
