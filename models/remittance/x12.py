"""X12 835 remittances into EOB events: the public entry points.

`convert_x12(data)` reads one or more interchanges (or one bare ST..SE transaction) and returns,
in file order, one item per claim payment (an event or a rejection), the provider adjustments
(PLB) and payment notices. One bad claim rejects that claim, one bad transaction that
transaction, a bad envelope its group or interchange (models.remittance.x12_envelope); the rest
still converts. `split_transactions(data)` cuts an interchange into standalone one-transaction
interchanges for a producer whose messages must stay small. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.remittance.results import ConversionRejected, Item
from models.remittance.x12_835 import (
    EnvelopeIds,
    TransactionParts,
    divide_transaction,
    payment_notice,
    provider_adjustments,
    read_remittance,
)
from models.remittance.x12_envelope import (
    Interchange,
    Transaction,
    TransactionMessage,
    check_group,
    check_interchange,
    check_transaction,
    read_interchange,
    rewrap,
)
from models.remittance.x12_events import KnownRoles, RoleContext, convert_claim
from models.remittance.x12_segments import Delimiters, Segment, X12Error, cut_segments

__all__ = ["KnownRoles", "TransactionMessage", "convert_x12", "split_transactions"]


@dataclass(slots=True)
class _Unit:
    """A transaction that passed its envelope checks, with what it needs to convert its claims."""

    parts: TransactionParts
    envelope: EnvelopeIds
    delimiters: Delimiters


def convert_x12(data: bytes | str, *, known_roles: KnownRoles | None = None) -> list[Item]:
    """Every item of an 835 file, in file order.

    `known_roles` maps (payer_id, claim_id) to the role that payer holds on the claim, learnt
    from earlier remittances: it settles the role of a denial or reversal whose own file does not.
    """
    text = as_text(data)
    start = len(text) - len(text.lstrip())
    if text.startswith("ST", start):
        return _convert_bare(text, start, known_roles)
    items: list[Item] = []
    while start < len(text):
        if not text.startswith("ISA", start):
            items.append(_not_x12(text, start, after_interchange=bool(items)))
            break
        interchange, start = read_interchange(text, start)
        items += _convert_interchange(interchange, known_roles)
        start += len(text[start:]) - len(text[start:].lstrip())
    if not items:
        items.append(_not_x12(text, start, after_interchange=False))
    return items


def as_text(data: bytes | str) -> str:
    """X12 is ASCII in practice; UTF-8 is read as such, anything else byte for byte (Latin-1)."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    try:
        return data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _not_x12(text: str, start: int, *, after_interchange: bool) -> ConversionRejected:
    if after_interchange:
        reason = f"after the last IEA the file goes on with {text[start : start + 12]!r} instead of another ISA"
    elif start >= len(text):
        reason = "the file is empty"
    else:
        reason = f"not an X12 835: the data begins {text[start : start + 12]!r}, not an ISA (or ST) segment"
    return ConversionRejected(
        "start of the data" if not after_interchange else "end of the data",
        reason,
        "file",
        original=text[start : start + 65_536],
    )


def _convert_interchange(interchange: Interchange | ConversionRejected, known: KnownRoles | None) -> list[Item]:
    if isinstance(interchange, ConversionRejected):
        return [interchange]
    rejected = check_interchange(interchange)
    if rejected:
        return [rejected]
    items: list[Item] = []
    units: list[_Unit | ConversionRejected] = []
    for group in interchange.groups:
        rejected = check_group(interchange, group)
        if rejected:
            units.append(rejected)
            continue
        for transaction in group.transactions:
            ids = EnvelopeIds(
                transaction.control_number, interchange.sender_id, interchange.control_number, group.gs.get(6)
            )
            units.append(_unit(transaction, ids, interchange.delimiters))
    context = _role_context(units, known)
    for unit in units:
        items += [unit] if isinstance(unit, ConversionRejected) else _convert_unit(unit, context)
    return items


def _unit(transaction: Transaction, ids: EnvelopeIds, delimiters: Delimiters) -> _Unit | ConversionRejected:
    """A transaction ready to convert, or its rejection (ST/SE, or a fault in its header)."""
    try:
        fault = check_transaction(transaction)
        if fault:
            raise fault
        return _Unit(divide_transaction(transaction), ids, delimiters)
    except X12Error as exc:
        segment = exc.segment or transaction.st
        return ConversionRejected(
            segment.where,
            exc.reason,
            "transaction",
            None if segment.problem else segment.id,
            segment.position,
            original=delimiters.join(transaction.segments),
        )


def _role_context(units: list[_Unit | ConversionRejected], known: KnownRoles | None) -> RoleContext:
    context = RoleContext.starting_with(known)
    for unit in units:
        if isinstance(unit, _Unit):
            try:
                payer = read_remittance(unit.parts, unit.envelope, unit.delimiters.component).payer_id
            except X12Error:
                continue
            for claim in unit.parts.claims:
                context.learn(payer, claim[0].get(1), claim[0].get(2))
    return context


def _convert_unit(unit: _Unit, context: RoleContext) -> list[Item]:
    try:
        remittance = read_remittance(unit.parts, unit.envelope, unit.delimiters.component)
    except X12Error as exc:
        st = unit.parts.transaction.st
        segment = exc.segment or st
        return [
            ConversionRejected(
                segment.where,
                exc.reason,
                "transaction",
                segment.id,
                segment.position,
                original=unit.delimiters.join(unit.parts.transaction.segments),
            )
        ]
    items: list[Item] = [
        convert_claim(claim, n, remittance, context, unit.delimiters) for n, claim in enumerate(unit.parts.claims, 1)
    ]
    for segment in unit.parts.provider_adjustments:
        try:
            items += provider_adjustments(segment, remittance)
        except X12Error as exc:
            items.append(
                ConversionRejected(
                    segment.where,
                    exc.reason,
                    "provider adjustment",
                    "PLB",
                    segment.position,
                    original=unit.delimiters.join([segment]),
                )
            )
    notice = payment_notice(unit.parts, remittance)
    return [*items, notice] if notice else items


def _convert_bare(text: str, start: int, known: KnownRoles | None) -> list[Item]:
    """Transactions without their envelope (ST..SE, one after the other): delimiters read from
    the first ST and the SVC/PLB segments; a denial's role may come from any of them."""
    delimiters = bare_delimiters(text, start)
    segments = [segment for segment, _ in cut_segments(text, start, delimiters, 1)]
    units: list[_Unit | ConversionRejected] = []
    for found in _bare_transactions(segments, delimiters):
        if isinstance(found, ConversionRejected):
            units.append(found)
        else:
            units.append(_unit(found, EnvelopeIds(found.control_number), delimiters))
    context = _role_context(units, known)
    items: list[Item] = []
    for unit in units:
        items += [unit] if isinstance(unit, ConversionRejected) else _convert_unit(unit, context)
    return items


def _bare_transactions(segments: list[Segment], delimiters: Delimiters) -> list[Transaction | ConversionRejected]:
    """Each ST..SE in order (an ST before the previous one's SE leaves that one unclosed); segments
    between an SE and the next ST belong to no transaction and are rejected."""
    found: list[Transaction | ConversionRejected] = []
    current: list[Segment] = []
    stray: list[Segment] = []
    for segment in segments:
        if segment.id == "ST":
            if current:
                found.append(Transaction(current, closed=False))
            if stray:
                found.append(_stray(stray, delimiters))
            current, stray = [], []
        (current if current or segment.id == "ST" else stray).append(segment)
        if current and segment.id == "SE":
            found.append(Transaction(current, closed=True))
            current = []
    if current:
        found.append(Transaction(current, closed=False))
    if stray:
        found.append(_stray(stray, delimiters))
    return found


def _stray(segments: list[Segment], delimiters: Delimiters) -> ConversionRejected:
    first = segments[0]
    return ConversionRejected(
        first.where,
        f"{len(segments)} segment(s) after an SE and before any ST belong to no transaction",
        "file",
        None if first.problem else first.id,
        first.position,
        original=delimiters.join(segments),
    )


def bare_delimiters(text: str, start: int) -> Delimiters:
    """The element separator follows "ST"; the terminator is the first other non-alphanumeric
    character of the ST segment; the component separator follows SVC01's (or PLB03's) qualifier."""
    element = text[start + 2 : start + 3] or "*"
    terminator = next((c for c in text[start + 3 :] if not c.isalnum() and c != element), "~")
    component = ":"
    for tag in ("SVC", "PLB"):
        at = text.find(f"{terminator}{tag}{element}", start)
        if at >= 0:
            after = text[at + len(tag) + 2 :].lstrip("\r\n")
            qualifier_end = next((i for i, c in enumerate(after[:8]) if not c.isalnum()), None)
            if qualifier_end and after[qualifier_end] not in (element, terminator):
                component = after[qualifier_end]
                break
    return Delimiters(element, component, "^", terminator)


def split_transactions(data: bytes | str) -> list[TransactionMessage | ConversionRejected]:
    """Each transaction of each interchange as its own interchange, or the rejection of an
    envelope that cannot be trusted (so that re-wrapping never hides a count that did not match).

    ST/SE faults are not checked here: the message carries them to the converter, which rejects
    that transaction alone.
    """
    text = as_text(data)
    start = len(text) - len(text.lstrip())
    found: list[TransactionMessage | ConversionRejected] = []
    while start < len(text):
        if not text.startswith("ISA", start):
            found.append(_not_x12(text, start, after_interchange=bool(found)))
            break
        interchange, start = read_interchange(text, start)
        found += _split_one(interchange)
        start += len(text[start:]) - len(text[start:].lstrip())
    return found


def _split_one(interchange: Interchange | ConversionRejected) -> list[TransactionMessage | ConversionRejected]:
    if isinstance(interchange, ConversionRejected):
        return [interchange]
    rejected = check_interchange(interchange)
    if rejected:
        return [rejected]
    found: list[TransactionMessage | ConversionRejected] = []
    for group in interchange.groups:
        rejected = check_group(interchange, group)
        found += [rejected] if rejected else [rewrap(interchange, group, t) for t in group.transactions]
    return found
