"""A claim payment of an 835 into the contract's `EobEvent` for its role topic: the claim status
code (CLP02) decides status and role, and where it does not say the role (4 denied, 22 reversal)
the rest of the remittance has to (docs/X12.md, "The role of a denial or a reversal").

Every produced event is validated by the contract, so a claim that the contract refuses (an id
too long, a line id used twice) becomes a rejection naming its segment, never a crash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from models.contract.events import EobEvent, EobStatus, Role
from models.remittance.results import ConversionRejected, ConvertedEob, refused_by_contract
from models.remittance.x12_835 import Remittance
from models.remittance.x12_claim import (
    ClaimPayment,
    check_claim_balance,
    crossover_payer,
    divide_claim,
    role_evidence,
    service_lines,
)
from models.remittance.x12_segments import Delimiters, Segment, X12Error

# CLP02, claim status code: what each says about status and role (None: the role is not said).
CLAIM_STATUS: dict[str, tuple[Role | None, EobStatus, str]] = {
    "1": ("primary", "processed", "processed as primary"),
    "19": ("primary", "processed", "processed as primary, forwarded to additional payer(s)"),
    "2": ("secondary", "processed", "processed as secondary"),
    "20": ("secondary", "processed", "processed as secondary, forwarded to additional payer(s)"),
    "4": (None, "denied", "denied"),
    "22": (None, "reversed", "reversal of previous payment"),
}
_TERTIARY = (
    "a third payer is beyond a primary/secondary reconciliation: post this payment by hand (the secondary's "
    "expected payment does not depend on it)"
)
NOT_RECONCILED = {
    "3": f"processed as tertiary: {_TERTIARY}",
    "21": f"processed as tertiary, forwarded: {_TERTIARY}",
    "23": "not our claim, forwarded to additional payer(s): this payer did not adjudicate the claim; the EOB of "
    "the payer it was forwarded to will",
    "25": "predetermination pricing only, no payment: an estimate, not an adjudication; nothing to reconcile until "
    "the claim is adjudicated",
}
FORWARDED = frozenset({"19"})  # the primary says it sent the claim on: NM1*TT must name to whom

KnownRoles = Mapping[tuple[str, str], Role]
"""(payer_id, claim_id) -> the role that payer holds on that claim, learnt elsewhere."""


@dataclass(slots=True)
class RoleContext:
    """Roles that payers hold on claims, from every claim status code 1/2/19/20 in the interchange
    and from what the caller already knows."""

    seen: dict[tuple[str, str], set[Role]] = field(default_factory=dict)
    # Whether a denial or reversal whose role nothing here tells is passed on without one (the
    # worker and replay: the claim's submission tells it, COVERAGE.md) instead of refused.
    by_coverage: bool = False

    @classmethod
    def starting_with(cls, known: KnownRoles | None, *, by_coverage: bool = False) -> RoleContext:
        return cls({pair: {role} for pair, role in (known or {}).items()}, by_coverage)

    def learn(self, payer_id: str, claim_id: str, status_code: str) -> None:
        role = CLAIM_STATUS.get(status_code, (None,))[0]
        if role is not None:
            self.seen.setdefault((payer_id, claim_id), set()).add(role)

    def roles(self, payer_id: str, claim_id: str) -> set[Role]:
        return self.seen.get((payer_id, claim_id), set())


def convert_claim(
    segments: list[Segment], ordinal: int, remittance: Remittance, context: RoleContext, delimiters: Delimiters
) -> ConvertedEob | ConversionRejected:
    """One claim payment (CLP and what follows it) into an event, or the reason it cannot be one."""
    role: Role | None = CLAIM_STATUS.get(segments[0].get(2), (None,))[0]  # known early for the dead letter
    try:
        claim = divide_claim(segments)
        role, status = _role_and_status(claim, remittance, context)
        lines = service_lines(claim, delimiters.component)
        check_claim_balance(claim, lines)
        fields = _event_fields(claim, role, status, lines, remittance, ordinal)
        event = _validated(claim, fields)
    except X12Error as exc:
        return ConversionRejected.of_claim(exc, segments[0], delimiters.join(segments), role=role)
    return ConvertedEob(role, event, _source(claim, remittance))


def _role_and_status(
    claim: ClaimPayment, remittance: Remittance, context: RoleContext
) -> tuple[Role | None, EobStatus]:
    code = claim.status_code
    if code in NOT_RECONCILED:
        raise X12Error(claim.clp, f"CLP02 {code}, {NOT_RECONCILED[code]}")
    if code not in CLAIM_STATUS:
        raise X12Error(claim.clp, f"CLP02 {code[:8]!r} is not a claim status code of the 835")
    role, status, label = CLAIM_STATUS[code]
    return role or _inferred_role(claim, remittance, context, f"CLP02 {code} ({label})"), status


def _inferred_role(claim: ClaimPayment, remittance: Remittance, context: RoleContext, said: str) -> Role | None:
    """The role of a denial or reversal: the same payer's other payment of the claim, else the claim's own signs."""
    payer = remittance.payer_id
    seen = context.roles(payer, claim.claim_id or "")
    if len(seen) == 1:
        return next(iter(seen))
    if seen:
        raise X12Error(
            claim.clp, f"{said}: {payer} paid this claim both as primary and as secondary; its role is unknown"
        )
    roles, why = role_evidence(claim)
    if len(roles) == 1:
        return roles.pop()  # type: ignore[return-value]
    if roles:
        raise X12Error(claim.clp, f"{said}: the claim points to both roles ({'; '.join(why)}); its role is unknown")
    if context.by_coverage:
        return None  # the claim's submission tells it, where the claim is kept
    raise X12Error(
        claim.clp,
        f"{said} does not say whether {payer} is the primary or the secondary payer, and nothing else does: no "
        f"other payment of this claim by {payer} in this file, no crossover carrier (NM1*TT), no corrected "
        "priority payer (NM1*PR), no CARC 23 or RARC MA04. Convert it together with the remittance that paid the claim",
    )


def _event_fields(
    claim: ClaimPayment,
    role: Role | None,
    status: EobStatus,
    lines: list[dict[str, Any]],
    remittance: Remittance,
    ordinal: int,
) -> dict[str, Any]:
    secondary = crossover_payer(claim) if role == "primary" else None
    if role == "primary" and claim.status_code in FORWARDED and secondary is None:
        raise X12Error(
            claim.clp,
            f"CLP02 {claim.status_code} says the claim was forwarded to another payer, but no crossover carrier "
            "(NM1*TT) names it: the secondary payer is unknown",
        )
    fields: dict[str, Any] = {
        "event_id": event_id(claim, remittance, ordinal),
        "claim_id": claim.claim_id,
        "payer_id": remittance.payer_id,
        "payer_name": remittance.payer_name,
        "payer_claim_number": claim.clp.get(7) or None,
        "status": status,
        "adjudicated_at": remittance.adjudicated_at,
        "secondary_payer_id": secondary,
        "lines": lines,
    }
    if role != "secondary" and secondary is None:
        # An 835 names a secondary only through a crossover (NM1*TT); without one it says nothing
        # of the claim's other coverage (CLP02 1 is not "no secondary"): `secondary_payer_id` is
        # absent, and the claim's submission decides (COVERAGE.md section 1).
        del fields["secondary_payer_id"]
        fields["states_secondary"] = False
    return fields


def event_id(claim: ClaimPayment, remittance: Remittance, ordinal: int) -> str:
    """Sender, interchange, group and transaction control numbers, the claim's place in its
    transaction, and a digest of its content: the same file gives the same ids, a control
    number reused for other content does not."""
    ids = remittance.envelope
    content = "\x1e".join("\x1f".join(s.elements) for s in claim.segments)
    digest = hashlib.blake2b(content.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    if ids.interchange is None:
        where = f"TRN:{remittance.trace_originator or ''}:{remittance.trace_number or ''}"
    else:
        where = f"{ids.sender}:{ids.interchange}:{ids.group}"
    return f"835:{where}:{ids.transaction}:{ordinal}:{digest}"


def _validated(claim: ClaimPayment, fields: dict[str, Any]) -> EobEvent:
    try:
        return EobEvent.model_validate(fields)
    except ValidationError as exc:
        raise refused_by_contract(exc, claim.clp, [line.svc for line in claim.lines]) from None


def _source(claim: ClaimPayment, remittance: Remittance) -> dict[str, Any]:
    ids = remittance.envelope
    return {
        "format": "x12-835",
        "interchange_control_number": ids.interchange,
        "group_control_number": ids.group,
        "transaction_control_number": ids.transaction,
        "segment_position": claim.clp.position,
        "claim_status_code": claim.status_code,
        "trace_number": remittance.trace_number,
    }
