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
    key, read by the core and changed only through `apply`.

    A payer id resolves (`resolve`) to the profile whose own `payer_id` it is, else to the latest
    profile listing it in `aliases`, else to itself (COVERAGE.md section 1, not transitive): every
    lookup and comparison by payer id goes through it, while outputs carry ids as received."""

    profiles: MutableMapping[str, PayerProfile] = field(default_factory=dict)
    fee_schedule: MutableMapping[str, FeeScheduleEntry] = field(default_factory=dict)
    # Terms as last derived, with the profile they came from: a payer's terms are asked for on
    # every line and every timer check, and change only when its profile is replaced.
    _terms: dict[str, tuple[PayerProfile | None, PayerTerms]] = field(default_factory=dict)
    # Alias -> the payer ids of the profiles listing it, the latest listing last.
    _listed: dict[str, dict[str, None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for profile in self.profiles.values():
            self._list(profile)

    def resolve(self, payer_id: str) -> str:
        """The payer an id stands for: its own profile's, else the latest profile aliasing it."""
        if payer_id in self.profiles:
            return payer_id
        listing = self._listed.get(payer_id)
        return next(reversed(listing)) if listing else payer_id

    def same_payer(self, one: str, other: str) -> bool:
        return one == other or self.resolve(one) == self.resolve(other)

    def profile_of(self, payer_id: str) -> PayerProfile | None:
        """The profile in force for a payer id, through its aliases."""
        return self.profiles.get(self.resolve(payer_id))

    def terms(self, payer_id: str) -> PayerTerms:
        """The payer's terms (by the profile it resolves to), carrying the id as given."""
        profile = self.profile_of(payer_id)
        known = self._terms.get(payer_id)
        if known is not None and known[0] is profile:
            return known[1]
        terms = PayerTerms.of(payer_id, profile)
        self._terms[payer_id] = (profile, terms)
        return terms

    def apply(self, change: ReferenceChange) -> None:
        """One accepted reference message: upsert or delete in the mapping its topic feeds."""
        if change.topic == PAYERS:
            self._unlist(change.key)
        target: MutableMapping = self.profiles if change.topic == PAYERS else self.fee_schedule
        if change.value is None:
            target.pop(change.key, None)
        else:
            target[change.key] = change.value
            if isinstance(change.value, PayerProfile):
                self._list(change.value)

    def allowable(self, payer_id: str, procedure_code: str, modifiers: tuple[str, ...]) -> Decimal | None:
        """The payer's fee-schedule allowable: under the resolved payer's own id first, then the
        id as given, then the resolved profile's aliases in sorted order."""
        own = self.resolve(payer_id)
        entry = self.fee_schedule.get(fee_schedule_key(own, procedure_code, modifiers))
        if entry is None and own != payer_id:
            entry = self.fee_schedule.get(fee_schedule_key(payer_id, procedure_code, modifiers))
        if entry is None and (profile := self.profiles.get(own)) is not None and profile.aliases:
            for alias in sorted(profile.aliases):
                entry = self.fee_schedule.get(fee_schedule_key(alias, procedure_code, modifiers))
                if entry is not None:
                    break
        return entry.allowed if entry is not None else None

    def _list(self, profile: PayerProfile) -> None:
        for alias in profile.aliases:
            listing = self._listed.setdefault(alias, {})
            listing.pop(profile.payer_id, None)
            listing[profile.payer_id] = None

    def _unlist(self, payer_id: str) -> None:
        profile = self.profiles.get(payer_id)
        for alias in profile.aliases if profile is not None else ():
            listing = self._listed.get(alias)
            if listing is not None:
                listing.pop(payer_id, None)
                if not listing:
                    del self._listed[alias]


@dataclass(frozen=True, slots=True)
class ReferenceChange:
    """One accepted reference-topic message: upsert `value` at `key`, or delete when None."""

    topic: str  # PAYERS or FEE_SCHEDULE
    key: str
    value: PayerProfile | FeeScheduleEntry | None
