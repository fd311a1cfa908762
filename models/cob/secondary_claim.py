"""The secondary claim (COVERAGE.md section 5): the primary's adjudication the provider sends with
the claim to the secondary payer when the primary did not cross it over.

A claim version has one when its current primary EOB is in (processed or denied, not a COB-order
denial), its secondary payer comes from the current submission and is a payer, and no secondary
EOB is current. `models.cob.claim` emits an `open` one only at the moments an estimate is
emitted, and a `replaced` copy when the version changes so that the standing one no longer
holds (another primary EOB, another secondary payer or none); the secondary's EOB answers it and
replaces nothing. Pure: drafts only, stamped by the claim's emitter.
"""

from __future__ import annotations

from models.cob.arithmetic import PrimaryLine
from models.cob.reference import Reference
from models.cob.verdict import Draft, Version, is_cob_order_denial
from models.contract.events import EobEvent
from models.contract.outcomes import SecondaryClaim
from models.contract.types import ZERO


def secondary_claim_payer(version: Version) -> str | None:
    """The payer a secondary claim of this version goes to, when the version has one."""
    primary, secondary, _ = version
    if primary is None or secondary is not None or is_cob_order_denial(primary):
        return None
    coverage = version.coverage
    return coverage.payer if coverage.source == "submission" else None


def still_holds(standing: SecondaryClaim, version: Version, ref: Reference) -> bool:
    """Whether a standing secondary claim holds for a new version: the same primary EOB and the
    same secondary payer from the submission (through aliases), a secondary EOB in or not."""
    primary, coverage = version.primary, version.coverage
    if primary is None or primary.event_id != standing.primary_event_id or is_cob_order_denial(primary):
        return False
    if coverage.source != "submission" or coverage.payer is None:
        return False
    return ref.same_payer(coverage.payer, standing.secondary_payer_id)


def open_claim(primary: EobEvent, payer: str) -> Draft:
    """An `open` secondary claim: the primary's lines and adjustments as it reported them."""
    paid = remaining = ZERO
    lines = []
    for line in primary.lines:
        paid += line.paid
        remaining += PrimaryLine.of(line).primary_patient  # PR1, floored at 0 per line
        lines.append(
            {
                "line_id": line.line_id,
                "charge": line.charge,
                "primary_paid": line.paid,
                "adjustments": tuple(
                    {"group": a.group, "reason": a.reason, "amount": a.amount} for a in line.adjustments
                ),
            }
        )
    return Draft(
        SecondaryClaim,
        {
            "status": "open",
            "secondary_payer_id": payer,
            "primary_payer_id": primary.payer_id,
            "primary_event_id": primary.event_id,
            "adjudicated_at": primary.adjudicated_at,
            "lines": tuple(lines),
            "primary_paid": paid,
            "remaining_patient_liability": remaining,
        },
    )


def replaced_claim(standing: SecondaryClaim) -> Draft:
    """The `replaced` copy of a standing secondary claim: every field of it, its own stamp."""
    fields = standing.model_dump(exclude={"event_id", "claim_id", "revision", "produced_at", "status"})
    return Draft(SecondaryClaim, {**fields, "status": "replaced", "replaces_event_id": standing.event_id})
