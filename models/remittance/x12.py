"""X12 835 remittances into EOB events, and X12 837P/837I claims into submissions: the public
entry points.

`convert_x12(data)` reads one or more interchanges (or bare ST..SE transactions) and returns, in
file order, one item per claim payment (an event or a rejection), the provider adjustments (PLB)
and payment notices of each 835, and one item per claim (a submission or a rejection) of each 837
(models.remittance.x12_837). The functional group says which a transaction is (GS01 HP: 835;
HC: 837P or 837I by GS08), a bare transaction its ST01 (and ST03). One bad claim rejects that
claim, one bad transaction that transaction, a bad envelope its group or interchange
(models.remittance.x12_envelope); the rest still converts. `split_transactions(data)` cuts an
interchange into standalone one-transaction interchanges for a producer whose messages must stay
small. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.remittance.results import ConversionRejected, ConvertedSubmission, Item
from models.remittance.x12_835 import (
    EnvelopeIds,
    TransactionParts,
    divide_transaction,
    payment_notice,
    provider_adjustments,
    read_remittance,
)
from models.remittance.x12_837 import convert_claims
from models.remittance.x12_bare import bare_delimiters, bare_set, bare_transactions
from models.remittance.x12_envelope import (
    Interchange,
    Transaction,
    TransactionMessage,
    TransactionSet,
    check_group,
    check_interchange,
    check_transaction,
    group_set,
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


@dataclass(slots=True)
class _Claims:
    """An 837 transaction that passed its envelope checks, converted: its claims' items in order."""

    items: list[ConvertedSubmission | ConversionRejected]


_Prepared = _Unit | _Claims | ConversionRejected


def convert_x12(
    data: bytes | str, *, known_roles: KnownRoles | None = None, roles_by_coverage: bool = False
) -> list[Item]:
    """Every item of an 835 or 837 file, in file order.

    `known_roles` maps (payer_id, claim_id) to the role that payer holds on the claim, learnt
    from earlier remittances and submissions: it settles the role of a denial or reversal whose
    own file does not. The submissions of an interchange teach the interchanges after it. With
    `roles_by_coverage`, a denial or reversal whose role nothing here tells converts without a
    role (the worker's claims know their submissions, COVERAGE.md) instead of being refused.
    """
    text = as_text(data)
    start = len(text) - len(text.lstrip())
    if text.startswith("ST", start):
        return _convert_bare(text, start, known_roles, roles_by_coverage)
    items: list[Item] = []
    known = known_roles
    while start < len(text):
        if not text.startswith("ISA", start):
            items.append(_not_x12(text, start, after_interchange=bool(items)))
            break
        interchange, start = read_interchange(text, start)
        found = _convert_interchange(interchange, known, roles_by_coverage)
        known = _learnt(known, found)
        items += found
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
        reason = f"not an X12 835 or 837: the data begins {text[start : start + 12]!r}, not an ISA (or ST) segment"
    return ConversionRejected(
        "start of the data" if not after_interchange else "end of the data",
        reason,
        "file",
        original=text[start : start + 65_536],
    )


def _convert_interchange(
    interchange: Interchange | ConversionRejected, known: KnownRoles | None, by_coverage: bool
) -> list[Item]:
    if isinstance(interchange, ConversionRejected):
        return [interchange]
    rejected = check_interchange(interchange)
    if rejected:
        return [rejected]
    items: list[Item] = []
    units: list[_Prepared] = []
    for group in interchange.groups:
        rejected = check_group(interchange, group)
        if rejected:
            units.append(rejected)
            continue
        for transaction in group.transactions:
            ids = EnvelopeIds(
                transaction.control_number, interchange.sender_id, interchange.control_number, group.gs.get(6)
            )
            wrapper = (interchange.isa, group.gs)
            units.append(_unit(transaction, ids, interchange.delimiters, group_set(group.gs), wrapper))
    context = _role_context(units, known, by_coverage)
    for unit in units:
        items += [unit] if isinstance(unit, ConversionRejected) else _convert_unit(unit, context)
    return items


def _unit(
    transaction: Transaction,
    ids: EnvelopeIds,
    delimiters: Delimiters,
    kind: TransactionSet | None,
    wrapper: tuple[Segment, Segment] | None = None,
) -> _Prepared:
    """A transaction ready to convert (an 837's already converted), or its rejection (ST/SE, or a
    fault in its header). `kind` is what its group says it is; None for a bare transaction.
    `wrapper`: its ISA and GS, which each 837 claim's own 837 keeps."""
    try:
        kind = kind or bare_set(transaction.st)
        fault = check_transaction(transaction, "835" if kind == "835" else "837")
        if fault:
            raise fault
        if kind != "835":
            return _Claims(convert_claims(transaction, kind, ids, delimiters, wrapper))
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


def _learnt(known: KnownRoles | None, items: list[Item]) -> KnownRoles | None:
    """`known` with the roles the submissions among `items` give their primary and secondary payers."""
    learnt = [pair for item in items if isinstance(item, ConvertedSubmission) for pair in item.roles().items()]
    return {**(known or {}), **dict(learnt)} if learnt else known


def _role_context(units: list[_Prepared], known: KnownRoles | None, by_coverage: bool) -> RoleContext:
    context = RoleContext.starting_with(known, by_coverage=by_coverage)
    for unit in units:
        if isinstance(unit, _Claims):
            _learn_submissions(context, unit.items)
        elif isinstance(unit, _Unit):
            try:
                payer = read_remittance(unit.parts, unit.envelope, unit.delimiters.component).payer_id
            except X12Error:
                continue
            for claim in unit.parts.claims:
                context.learn(payer, claim[0].get(1), claim[0].get(2))
    return context


def _learn_submissions(context: RoleContext, items: list[ConvertedSubmission | ConversionRejected]) -> None:
    """A submission names its primary and secondary payers: a denial or reversal by one of them takes that role."""
    for item in items:
        if isinstance(item, ConvertedSubmission):
            for pair, role in item.roles().items():
                context.seen.setdefault(pair, set()).add(role)


def _convert_unit(unit: _Unit | _Claims, context: RoleContext) -> list[Item]:
    if isinstance(unit, _Claims):
        return list(unit.items)
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


def _convert_bare(text: str, start: int, known: KnownRoles | None, by_coverage: bool) -> list[Item]:
    """Transactions without their envelope (ST..SE, one after the other): delimiters read from
    the first ST and the SVC/PLB (SV1, CLM) segments; a denial's role may come from any of them."""
    delimiters = bare_delimiters(text, start)
    segments = [segment for segment, _ in cut_segments(text, start, delimiters, 1)]
    units: list[_Prepared] = []
    for found in bare_transactions(segments, delimiters):
        if isinstance(found, ConversionRejected):
            units.append(found)
        else:
            units.append(_unit(found, EnvelopeIds(found.control_number), delimiters, None))
    context = _role_context(units, known, by_coverage)
    items: list[Item] = []
    for unit in units:
        items += [unit] if isinstance(unit, ConversionRejected) else _convert_unit(unit, context)
    return items


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
