"""The X12 envelope: interchanges (ISA/IEA), functional groups (GS/GE) and transaction sets
(ST/SE); their structure, counts and control numbers; and one transaction re-wrapped to stand alone.

What a fault rejects follows X12's own acknowledgments: a fault in ISA/IEA rejects the whole
interchange (as a TA1 would), in GS/GE its functional group, in ST/SE its transaction (as a 999
would). A truncated file therefore rejects its interchange: its trailer is missing.

A functional group says what its transactions are: HP with GS08 005010X221(A1) holds 835
remittances, HC with GS08 005010X222(A1) or 005010X223(A2) 837P or 837I claims (`group_set`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from models.remittance.results import ConversionRejected
from models.remittance.x12_segments import Delimiters, Segment, X12Error, cut_segments, read_isa

ENVELOPE_IDS = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})
_OPENING_OR_CLOSING = ENVELOPE_IDS - {"SE"}  # envelope segments that cannot stand inside a transaction
SUPPORTED_VERSION = "005010X221"  # GS08: the 835 implementation guide, 005010X221 or its addenda (A1)
ClaimGuide = Literal["837P", "837I"]
TransactionSet = Literal["835", "837P", "837I"]
# GS08 (and ST03) of the 837 guides: the base version or its addenda (A1, A2), as for the 835.
CLAIM_GUIDES: dict[ClaimGuide, str] = {"837P": "005010X222A1", "837I": "005010X223A2"}
_CLAIM_VERSIONS: dict[str, ClaimGuide] = {"005010X222": "837P", "005010X223": "837I"}
_CLAIM_VERSION_NAMES = "005010X222(A1) (837P) or 005010X223(A2) (837I)"


@dataclass(slots=True)
class Transaction:
    """One transaction set, ST to SE (or to wherever it was cut off)."""

    segments: list[Segment]
    closed: bool = False  # whether its SE was seen

    @property
    def st(self) -> Segment:
        return self.segments[0]

    @property
    def control_number(self) -> str:
        return self.st.get(2)


@dataclass(slots=True)
class Group:
    gs: Segment
    transactions: list[Transaction] = field(default_factory=list)
    ge: Segment | None = None


@dataclass(slots=True)
class Interchange:
    delimiters: Delimiters
    isa: Segment
    text: str
    groups: list[Group] = field(default_factory=list)
    iea: Segment | None = None

    @property
    def sender_id(self) -> str:
        return self.isa.get(6).strip()

    @property
    def control_number(self) -> str:
        return self.isa.get(13)

    def segments(self, group: Group | None = None) -> list[Segment]:
        """Every segment of the interchange, or of one group with its envelope around it."""
        groups = [group] if group else self.groups
        inner = [s for g in groups for s in (g.gs, *(s for t in g.transactions for s in t.segments), g.ge) if s]
        return [self.isa, *inner, *([self.iea] if self.iea and not group else [])]


class _Reader:
    """Walks one interchange's segments, building groups and transactions in order."""

    def __init__(self, interchange: Interchange) -> None:
        self.interchange = interchange
        self.group: Group | None = None
        self.transaction: Transaction | None = None
        self.last: Segment = interchange.isa

    def take(self, segment: Segment) -> bool:
        """Place one segment; True once the IEA is read. Raises X12Error on a structure fault."""
        self.last = segment
        if self.transaction is not None and (segment.problem or segment.id not in _OPENING_OR_CLOSING):
            self.transaction.segments.append(segment)  # a bad segment here spoils its claim or transaction only
            self.transaction.closed = segment.id == "SE" and not segment.problem
            if self.transaction.closed:
                self.transaction = None
            return False
        self.transaction = None  # an envelope segment before SE leaves that transaction unclosed
        if segment.problem:
            raise X12Error(segment, self._misplaced(segment))
        if segment.id == "ST" and self.group is not None:
            self.transaction = Transaction([segment])
            self.group.transactions.append(self.transaction)
        elif segment.id == "GE" and self.group is not None:
            self.group.ge, self.group = segment, None
        elif segment.id == "GS" and self.group is None:
            self.group = Group(segment)
            self.interchange.groups.append(self.group)
        elif segment.id == "IEA" and self.group is None:
            self.interchange.iea = segment
            return True
        else:
            raise X12Error(segment, self._misplaced(segment))
        return False

    def _misplaced(self, segment: Segment) -> str:
        if segment.position == 2:
            delimiters = self.interchange.delimiters
            return (
                f"{segment.problem or 'is not a GS segment'}; the interchange must continue with GS (functional "
                f"group header): the file does not use the delimiters its ISA declares (element "
                f"{delimiters.element!r}, segment terminator {delimiters.segment!r})"
            )
        expected = "ST (a transaction) or GE (group trailer)" if self.group else "GS (a group) or IEA (trailer)"
        return f"{segment.problem or f'{segment.id} is out of place'}; expected {expected} here"

    def truncated(self, segment_count: int, cut_off: bool) -> str:
        if self.transaction is not None:
            st = self.transaction.st
            missing = f"inside transaction {st.get(2)} (ST segment {st.position}), before its SE, GE and IEA"
        elif self.group is not None:
            missing = f"inside functional group {self.group.gs.get(6)}, before its GE and IEA"
        else:
            missing = "before the IEA (interchange trailer)"
        tail = "; its last segment is cut off" if cut_off else ""
        return f"the file ends at segment {segment_count} {missing}: the interchange is truncated{tail}"


def read_interchange(text: str, start: int) -> tuple[Interchange | ConversionRejected, int]:
    """The interchange whose ISA begins at `start`, and the offset just past its IEA.

    A structural fault rejects the whole interchange; reading then stops at the end of the text.
    """
    try:
        delimiters, isa = read_isa(text, start)
    except X12Error as exc:
        return _interchange_rejected(text[start:], None, exc.reason), len(text)
    interchange = Interchange(delimiters, isa, "")
    reader = _Reader(interchange)
    end, done = start + len(isa.text) + 1, False
    for segment, offset in cut_segments(text, start + len(isa.text) + 1, delimiters, 2):
        end = offset
        try:
            done = reader.take(segment)
        except X12Error as exc:
            return _interchange_rejected(text[start:], exc.segment, exc.reason), len(text)
        if done:
            break
    interchange.text = text[start:end]
    if not done:
        reason = reader.truncated(reader.last.position, reader.last.problem is not None)
        return _interchange_rejected(interchange.text, reader.last, reason), end
    return interchange, end


def _interchange_rejected(original: str, segment: Segment | None, reason: str) -> ConversionRejected:
    if segment is None:
        return ConversionRejected("ISA segment 1", reason, "interchange", "ISA", 1, original=original)
    segment_id = None if segment.problem else segment.id
    return ConversionRejected(segment.where, reason, "interchange", segment_id, segment.position, original=original)


def check_interchange(interchange: Interchange) -> ConversionRejected | None:
    """ISA/IEA: version 00501, IEA01 counts the groups, IEA02 repeats ISA13."""
    isa, iea = interchange.isa, interchange.iea
    assert iea is not None
    problem = None
    if isa.get(12) != "00501":
        problem = (isa, f"ISA12 version {isa.get(12)!r} is not 00501: only 5010 835s and 837s are read")
    elif not isa.get(13).isdigit():
        problem = (isa, f"ISA13 (interchange control number) {isa.get(13)!r} must be 9 digits")
    elif iea.get(2) != isa.get(13):
        problem = (iea, f"IEA02 {iea.get(2)!r} does not match the ISA13 control number {isa.get(13)!r}")
    elif _count(iea.get(1)) != len(interchange.groups):
        problem = (iea, f"IEA01 says {iea.get(1)!r} functional groups, the interchange has {len(interchange.groups)}")
    if problem is None:
        return None
    segment, reason = problem
    return ConversionRejected(
        segment.where, reason, "interchange", segment.id, segment.position, original=interchange.text
    )


def claim_guide(version: str) -> ClaimGuide | None:
    """The 837 a version (GS08, ST03) names: 005010X222... the 837P, 005010X223... the 837I, else None."""
    return next((guide for prefix, guide in _CLAIM_VERSIONS.items() if version.startswith(prefix)), None)


def group_set(gs: Segment) -> TransactionSet:
    """What the transactions of a group that passed `check_group` are."""
    return "835" if gs.get(1) == "HP" else claim_guide(gs.get(8)) or "837P"


def check_group(interchange: Interchange, group: Group) -> ConversionRejected | None:
    """GS/GE: an 835 group (HP) of version 005010X221 or an 837 group (HC) of version 005010X222
    (837P) or 005010X223 (837I), GE01 counts its transactions, GE02 repeats GS06."""
    gs, ge = group.gs, group.ge
    assert ge is not None
    problem = _group_kind(gs)
    if problem is None and ge.get(2) != gs.get(6):
        problem = (ge, f"GE02 {ge.get(2)!r} does not match the GS06 group control number {gs.get(6)!r}")
    elif problem is None and _count(ge.get(1)) != len(group.transactions):
        problem = (ge, f"GE01 says {ge.get(1)!r} transaction sets, the group has {len(group.transactions)}")
    if problem is None:
        return None
    segment, reason = problem
    original = interchange.delimiters.join(interchange.segments(group))
    return ConversionRejected(segment.where, reason, "group", segment.id, segment.position, original=original)


def _group_kind(gs: Segment) -> tuple[Segment, str] | None:
    """GS01 and GS08: HP with the 835's guide, or HC with an 837's."""
    code, version = gs.get(1), gs.get(8)
    if code == "HP" and not version.startswith(SUPPORTED_VERSION):
        return gs, f"GS08 version {version!r} is not {SUPPORTED_VERSION}(A1): only 5010 835s are read"
    if code == "HC" and version.startswith(SUPPORTED_VERSION):
        return gs, (
            f"GS01 'HC' is not HP: GS08 {version!r} is the 835's guide, whose groups are HP (an 837 group, HC, "
            f"is of version {_CLAIM_VERSION_NAMES})"
        )
    if code == "HC" and claim_guide(version) is None:
        return gs, f"GS08 version {version!r} is not {_CLAIM_VERSION_NAMES}: only 5010 837s are read"
    if code not in ("HP", "HC"):
        return gs, (
            f"GS01 {code!r} is neither HP (835 remittances) nor HC (837 claims): this functional group holds no "
            "remittances and no claims"
        )
    return None


def check_transaction(transaction: Transaction, expected: str = "835") -> X12Error | None:
    """ST/SE: an 835 (or an 837: `expected`), closed by its SE, SE01 counts its segments, SE02 repeats ST02."""
    st, se = transaction.st, transaction.segments[-1]
    if st.get(1) != expected:
        what = "a remittance" if expected == "835" else "a claim, as its functional group (HC) says"
        return X12Error(st, f"ST01 {st.get(1)!r} is not {expected}: this transaction is not {what}")
    if not transaction.closed:
        after = transaction.segments[-1]
        return X12Error(st, f"transaction {st.get(2)} has no SE: the next envelope segment comes after {after.where}")
    if se.get(2) != st.get(2):
        return X12Error(se, f"SE02 {se.get(2)!r} does not match the ST02 control number {st.get(2)!r}")
    if _count(se.get(1)) != len(transaction.segments):
        return X12Error(
            se,
            f"SE01 says {se.get(1)!r} segments, the transaction has {len(transaction.segments)} (ST to SE): "
            "segments were lost or added",
        )
    return None


def _count(text: str) -> int | None:
    return int(text) if text.isdigit() else None


@dataclass(frozen=True, slots=True)
class TransactionMessage:
    """One transaction re-wrapped in its own ISA/GS envelope, to fit one Kafka message.

    The control numbers are the original ones (so event ids are the same as for the whole file);
    GE01 and IEA01 become 1. Positions inside the message count from its own ISA;
    `st_position` is where its ST was in the original interchange.
    """

    interchange_control_number: str
    group_control_number: str
    transaction_control_number: str
    st_position: int
    data: bytes


def rewrap(interchange: Interchange, group: Group, transaction: Transaction) -> TransactionMessage:
    d = interchange.delimiters
    gs, isa = group.gs, interchange.isa
    ge = f"GE{d.element}1{d.element}{gs.get(6)}"
    iea = f"IEA{d.element}1{d.element}{isa.get(13)}"
    body = d.join([isa, gs, *transaction.segments])
    suffix = "" if d.segment in "\r\n" else "\n"
    text = f"{body}{ge}{d.segment}{suffix}{iea}{d.segment}{suffix}"
    return TransactionMessage(
        isa.get(13), gs.get(6), transaction.control_number, transaction.st.position, text.encode("utf-8")
    )
