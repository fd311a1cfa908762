"""Reference data: payer profiles and fee schedules, and the terms they give a payer.

The stream worker keeps reference data in global tables and the replay in dicts; both are
plain mappings here, so the core reads them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal

from models.contract.events import CobMethod, FeeScheduleEntry, PayerProfile, fee_schedule_key


@dataclass(frozen=True, slots=True)
class PayerTerms:
    """A payer's COB terms with CONTRACT.md's defaults filled in."""

    payer_id: str
    cob_method: CobMethod = "lesser_of_allowables"
    in_network: bool = True
    coinsurance_rate: Decimal = Decimal("1.00")
    copay: Decimal = Decimal("0.00")
    covers_deductible: bool = True
    tolerance: Decimal = Decimal("0.01")
    secondary_wait_days: int = 30
    primary_wait_days: int = 30

    @classmethod
    def of(cls, payer_id: str, profile: PayerProfile | None) -> PayerTerms:
        if profile is None:
            return cls(payer_id)
        given = {name: value for name, value in profile if name != "payer_id" and value is not None}
        return cls(payer_id, **given)


@dataclass(frozen=True, slots=True)
class Reference:
    """Read access to the reference data in force."""

    profiles: Mapping[str, PayerProfile]
    fee_schedule: Mapping[str, FeeScheduleEntry]
    # Terms as last derived, with the profile they came from: a payer's terms are asked for on
    # every line and every timer check, and change only when its profile is replaced.
    _terms: dict[str, tuple[PayerProfile | None, PayerTerms]] = field(default_factory=dict)

    def terms(self, payer_id: str) -> PayerTerms:
        profile = self.profiles.get(payer_id)
        known = self._terms.get(payer_id)
        if known is not None and known[0] is profile:
            return known[1]
        terms = PayerTerms.of(payer_id, profile)
        self._terms[payer_id] = (profile, terms)
        return terms

    def allowable(self, payer_id: str, procedure_code: str, modifiers: tuple[str, ...]) -> Decimal | None:
        entry = self.fee_schedule.get(fee_schedule_key(payer_id, procedure_code, modifiers))
        return entry.allowed if entry is not None else None


@dataclass(frozen=True, slots=True)
class ReferenceChange:
    """One accepted reference-topic message: upsert `value` at `key`, or delete when None."""

    topic: str  # "reference.payers" or "reference.fee-schedule"
    key: str
    value: PayerProfile | FeeScheduleEntry | None


def apply_reference_change(
    change: ReferenceChange,
    profiles: MutableMapping[str, PayerProfile],
    fee_schedule: MutableMapping[str, FeeScheduleEntry],
) -> None:
    """Store one change in the mapping its topic feeds (a dict in replay, a table in the worker)."""
    target: MutableMapping = profiles if change.topic == "reference.payers" else fee_schedule
    if change.value is None:
        target.pop(change.key, None)
    else:
        target[change.key] = change.value
