"""Models rebuilt from this system's own JSON, without running the contract's validators again.

The claim-events topic and the claims table hold only what the worker itself wrote from models
that had passed validation (`model_dump_json`). Reading them back through the validators again
(money grammar, text cleaning, line balancing) cost the worker more than the COB arithmetic, on
every claim event, every claim record read and every record of a schedule rebuild. These
functions rebuild the same models from that JSON's parsed form with `model_construct`,
converting only what JSON cannot carry (Decimal, date, datetime, tuples).

Never use them on anything from outside: input goes through `models.decode`. A value that does
not have every field (written by an older version, say) raises `KeyError`, so that the caller
falls back to full validation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

from models.claim import ClaimState
from models.events import Adjustment, EobEvent, ServiceLine
from models.outcomes import PatientBillingReady, ReadyLine

M = TypeVar("M", bound=BaseModel)
Converters = Mapping[str, Callable[[Any], Any]]


def build(model: type[M], data: Mapping[str, Any], convert: Converters) -> M:
    """`model` from its dumped JSON: every field present, the typed ones converted."""
    missing = model.model_fields.keys() - data.keys()
    if missing:
        raise KeyError(f"{model.__name__} without {sorted(missing)}")
    return model.model_construct(
        **{
            name: convert[name](data[name]) if name in convert and data[name] is not None else data[name]
            for name in model.model_fields
        }
    )


def _money_fields(*names: str) -> dict[str, Callable[[Any], Any]]:
    return dict.fromkeys(names, Decimal)


def adjustment(data: Mapping[str, Any]) -> Adjustment:
    return build(Adjustment, data, {"amount": Decimal})


def service_line(data: Mapping[str, Any]) -> ServiceLine:
    return build(
        ServiceLine,
        data,
        {
            **_money_fields("charge", "paid", "allowed"),
            "service_date": date.fromisoformat,
            "modifiers": tuple,
            "remarks": tuple,
            "adjustments": lambda items: tuple(adjustment(a) for a in items),
        },
    )


def eob(data: Mapping[str, Any]) -> EobEvent:
    return build(
        EobEvent,
        data,
        {
            "adjudicated_at": datetime.fromisoformat,
            "lines": lambda items: tuple(service_line(line) for line in items),
        },
    )


_READY_MONEY = _money_fields(
    "charge",
    "total_charge",
    "primary_paid",
    "secondary_paid",
    "expected_secondary_paid",
    "patient_responsibility",
    "write_off",
)


def ready_line(data: Mapping[str, Any]) -> ReadyLine:
    return build(ReadyLine, data, {**_READY_MONEY, "patient_reasons": tuple})


def billing_ready(data: Mapping[str, Any]) -> PatientBillingReady:
    return build(
        PatientBillingReady,
        data,
        {
            **_READY_MONEY,
            "produced_at": datetime.fromisoformat,
            "patient_reasons": tuple,
            "lines": lambda items: tuple(ready_line(line) for line in items),
        },
    )


def claim_state(data: Mapping[str, Any]) -> ClaimState:
    return build(
        ClaimState,
        data,
        {
            "seen_event_ids": tuple,
            "primary": eob,
            "secondary": eob,
            "standing_ready": billing_ready,
            "last_event_at": datetime.fromisoformat,
        },
    )
