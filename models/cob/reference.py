"""Reference data: payer profiles and fee schedules, the terms they give a payer, and the one
way they change (`Reference.apply`), for replay, the audit and the worker's reference reader
alike.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal

from models.contract.events import CobMethod, FeeScheduleEntry, PayerProfile, fee_schedule_key
from models.contract.topics import PAYERS


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
        given = {name: value for name, value in profile if name not in _NOT_TERMS and value is not None}
        return cls(payer_id, **given)


_NOT_TERMS = frozenset({"payer_id", "aliases"})


@dataclass(frozen=True, slots=True)
class Reference:
    """The reference data in force: payer profiles by payer id and fee-schedule entries by their
    key, read by the core and changed only through `apply`."""

    profiles: MutableMapping[str, PayerProfile] = field(default_factory=dict)
    fee_schedule: MutableMapping[str, FeeScheduleEntry] = field(default_factory=dict)
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

    def apply(self, change: ReferenceChange) -> None:
        """One accepted reference message: upsert or delete in the mapping its topic feeds."""
        target: MutableMapping = self.profiles if change.topic == PAYERS else self.fee_schedule
        if change.value is None:
            target.pop(change.key, None)
        else:
            target[change.key] = change.value

    def allowable(self, payer_id: str, procedure_code: str, modifiers: tuple[str, ...]) -> Decimal | None:
        entry = self.fee_schedule.get(fee_schedule_key(payer_id, procedure_code, modifiers))
        return entry.allowed if entry is not None else None


@dataclass(frozen=True, slots=True)
class ReferenceChange:
    """One accepted reference-topic message: upsert `value` at `key`, or delete when None."""

    topic: str  # PAYERS or FEE_SCHEDULE
    key: str
    value: PayerProfile | FeeScheduleEntry | None
