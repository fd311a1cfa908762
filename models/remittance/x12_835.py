"""One 835 transaction set (ST..SE): its header (who pays, when, how much), its claim payments
cut apart, its provider-level adjustments (PLB), and whether the payment adds up.

The header is the guide's table 1: BPR (financial information), TRN (reassociation trace), DTM*405
(production date), loop 1000A (the payer: N1*PR, REF*2U) and loop 1000B (the payee). A fault in
the header spoils the whole transaction, since every claim in it depends on the payer and date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal

from models.contract.types import format_money
from models.remittance.results import PaymentNotice, ProviderAdjustment
from models.remittance.x12_envelope import Transaction
from models.remittance.x12_segments import Segment, X12Error, amount_element, date_element, text_element

HEADER_SEGMENTS = frozenset({"BPR", "TRN", "CUR", "REF", "DTM", "N1", "N3", "N4", "PER", "RDM"})
HEADER_NUMBER_SEGMENTS = frozenset({"LX", "TS3", "TS2"})  # loop 2000, between groups of claims


@dataclass(frozen=True, slots=True)
class EnvelopeIds:
    """The control numbers around a transaction (None for a bare ST..SE without its envelope)."""

    transaction: str
    sender: str | None = None
    interchange: str | None = None
    group: str | None = None


@dataclass(slots=True)
class Remittance:
    """What the transaction's header says about every claim payment in it."""

    payer_id: str
    payer_name: str | None
    adjudicated_at: datetime
    trace_number: str | None  # TRN02, the check or EFT trace number
    trace_originator: str | None  # TRN03, the payer's originating company identifier
    payment_amount: Decimal  # BPR02, negative for a debit (BPR03 D)
    envelope: EnvelopeIds
    component: str


@dataclass(slots=True)
class TransactionParts:
    """A transaction's segments sorted into header, claim payments and provider adjustments."""

    transaction: Transaction
    header: list[Segment] = field(default_factory=list)
    claims: list[list[Segment]] = field(default_factory=list)
    provider_adjustments: list[Segment] = field(default_factory=list)


def divide_transaction(transaction: Transaction) -> TransactionParts:
    """Cut ST..SE into header, claims (each from its CLP to the next CLP, LX or PLB) and PLBs.

    A segment that spoils the header, or that stands where no claim can hold it, is a fault of
    the transaction (X12Error); a bad segment inside a claim is left for that claim to reject.
    """
    parts = TransactionParts(transaction)
    claim: list[Segment] | None = None
    for segment in transaction.segments[1:-1]:
        if segment.id == "CLP" and not segment.problem and not parts.provider_adjustments:
            claim = [segment]
            parts.claims.append(claim)
        elif segment.id == "PLB" and not segment.problem:
            claim = None
            parts.provider_adjustments.append(segment)
        elif parts.provider_adjustments:
            raise X12Error(segment, f"{segment.problem or 'only PLB and SE may follow the provider adjustments'}")
        elif segment.id in HEADER_NUMBER_SEGMENTS and not segment.problem:
            claim = None
        elif claim is not None:
            claim.append(segment)
        elif parts.claims or segment.problem or segment.id not in HEADER_SEGMENTS:
            reason = segment.problem or f"{segment.id} does not belong in the header of an 835 (before the first CLP)"
            raise X12Error(segment, reason)
        else:
            parts.header.append(segment)
    return parts


def read_remittance(parts: TransactionParts, envelope: EnvelopeIds, component: str) -> Remittance:
    """The payer (REF*2U in loop 1000A, else N1*PR's id, else its name), the adjudication date
    (DTM*405, else BPR16) and the payment (BPR02, BPR03)."""
    header, st = parts.header, parts.transaction.st
    bpr = next((s for s in header if s.id == "BPR"), None)
    if bpr is None:
        raise X12Error(st, "the transaction has no BPR (financial information) segment")
    amount = amount_element(bpr, 2, "total actual provider payment amount")
    payer = _payer_loop(header)
    if not payer:
        raise X12Error(st, "the transaction has no payer identification (loop 1000A, N1*PR)")
    name = payer[0].get(2) or None
    ref_2u = next((s.get(2) for s in payer[1:] if s.id == "REF" and s.get(1) == "2U" and s.get(2)), None)
    payer_id = ref_2u or payer[0].get(4) or name
    if not payer_id:
        raise X12Error(payer[0], "N1*PR names no payer: no REF*2U, no N104 identifier and no N102 name")
    trn = next((s for s in header if s.id == "TRN"), None)
    return Remittance(
        payer_id=payer_id,
        payer_name=name,
        adjudicated_at=_adjudication_date(header, bpr),
        trace_number=(trn.get(2) or None) if trn else None,
        trace_originator=(trn.get(3) or None) if trn else None,
        payment_amount=-amount if bpr.get(3) == "D" else amount,
        envelope=envelope,
        component=component,
    )


def _payer_loop(header: list[Segment]) -> list[Segment]:
    """N1*PR and the segments after it up to the next N1 (loop 1000A)."""
    start = next((i for i, s in enumerate(header) if s.id == "N1" and s.get(1) == "PR"), None)
    if start is None:
        return []
    end = next((i for i in range(start + 1, len(header)) if header[i].id == "N1"), len(header))
    return header[start:end]


def _adjudication_date(header: list[Segment], bpr: Segment) -> datetime:
    production = next((s for s in header if s.id == "DTM" and s.get(1) == "405"), None)
    if production is not None:
        day = date_element(production, 2, "production date")
    elif bpr.get(16):
        day = date_element(bpr, 16, "check issue or EFT effective date")
    else:
        raise X12Error(bpr, "no adjudication date: neither DTM*405 (production date) nor BPR16 is given")
    return datetime.combine(day, time(0), tzinfo=UTC)


def provider_adjustments(segment: Segment, remittance: Remittance) -> list[ProviderAdjustment]:
    """One PLB: the provider, the fiscal period, and up to six (reason:reference, amount) pairs."""
    provider = text_element(segment, 1, "provider identifier")
    fiscal = date_element(segment, 2, "fiscal period date") if segment.get(2) else None
    found = []
    for at in range(3, 15, 2):
        if not segment.get(at) and not segment.get(at + 1):
            continue
        reason, _, reference = text_element(segment, at, "adjustment identifier").partition(remittance.component)
        amount = amount_element(segment, at + 1, "provider adjustment amount")
        found.append(
            ProviderAdjustment(
                payer_id=remittance.payer_id,
                provider_id=provider,
                fiscal_period_date=fiscal,
                reason_code=reason,
                reference=reference or None,
                amount=amount,
                position=segment.position,
                trace_number=remittance.trace_number,
            )
        )
    if not found:
        raise X12Error(segment, "PLB has no adjustment (PLB03 identifier and PLB04 amount)")
    return found


def payment_notice(parts: TransactionParts, remittance: Remittance) -> PaymentNotice | None:
    """BPR02 should be the claim payments (CLP04) less the provider adjustments (PLB)."""
    try:
        paid = sum((amount_element(c[0], 4, "claim payment amount") for c in parts.claims), Decimal(0))
        withheld = sum(
            (a.amount for s in parts.provider_adjustments for a in provider_adjustments(s, remittance)), Decimal(0)
        )
    except X12Error:
        return None  # the unreadable claim or PLB is rejected on its own
    if paid - withheld == remittance.payment_amount:
        return None
    bpr = next(s for s in parts.header if s.id == "BPR")
    return PaymentNotice(
        bpr.where,
        f"BPR02 total payment {format_money(remittance.payment_amount)} is not the claim payments "
        f"{format_money(paid)} less the provider adjustments {format_money(withheld)} "
        f"(= {format_money(paid - withheld)}): part of this payment is missing or wrong",
        "BPR",
        bpr.position,
    )
