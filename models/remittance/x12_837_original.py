"""The original 837 of a claim taken apart (`ClaimSubmission.original_837`), for the 837 to send to
the secondary (`models.remittance.x12_837_secondary`): its envelope and header, the billing
provider's loop, each payer with its subscriber (2000B with 2010BA/BB, and each 2320 with its
2330 loops), the patient, and the claim with its lines."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.remittance.results import ConversionRejected, ConvertedSubmission
from models.remittance.x12 import as_text, convert_x12
from models.remittance.x12_837 import divide_parts
from models.remittance.x12_837_claim import Level
from models.remittance.x12_837_lines import BilledClaim, OtherSubscriber, divide_claim
from models.remittance.x12_bare import bare_delimiters, bare_set, bare_transactions
from models.remittance.x12_envelope import ClaimGuide, Transaction, group_set, read_interchange
from models.remittance.x12_segments import Delimiters, Segment, cut_segments

SELF = "18"  # SBR02 / PAT01: the patient is the subscriber


def made(d: Delimiters, segment_id: str, *elements: str) -> Segment:
    """A segment written here: its trailing empty elements left out."""
    values = [segment_id, *elements]
    while len(values) > 1 and not values[-1]:
        values.pop()
    return Segment(segment_id, values, 0, d.element.join(values))


class NoSecondary837(Exception):
    """Why a claim has no 837 to send to its secondary: `code` for the worker's answer, `reason` to read."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def refused(reason: str) -> NoSecondary837:
    return NoSecondary837("not_buildable", reason)


@dataclass(slots=True)
class Payer:
    """One payer of the original with its subscriber: from 2000B (with 2010BA/BB) or from a 2320."""

    sbr: Segment
    relationship: str  # the patient's relationship to this payer's subscriber (18: the patient)
    subscriber: list[Segment]  # NM1*IL and what follows it
    payer: list[Segment]  # NM1*PR and what follows it
    own: list[Segment] = field(default_factory=list)  # a 2320's CAS, AMT, OI, MOA, MIA
    providers: list[Segment] = field(default_factory=list)  # a 2320's 2330C-2330I loops
    original: list[Segment] | None = None  # a 2320 as it stands in the original

    @property
    def role(self) -> str:
        return self.sbr.get(1)

    @property
    def payer_id(self) -> str:
        return self.payer[0].get(9)


@dataclass(slots=True)
class Patient:
    name: Segment  # NM1*IL (the patient was the subscriber) or NM1*QC
    details: list[Segment]  # N3, N4, DMG, and a 2010CA's other segments
    pat: Segment | None


@dataclass(slots=True)
class Original:
    """The original 837 taken apart."""

    delimiters: Delimiters
    wrapper: tuple[Segment, Segment] | None  # ISA and GS; None for a bare ST..SE
    st: Segment
    guide: ClaimGuide
    header: list[Segment]
    provider: list[Segment]  # 2000A, HL first
    payers: dict[str, Payer]  # by SBR01
    patient: Patient
    claim: BilledClaim


def read_original(original_837: str) -> Original:
    """The original taken apart; it must convert to exactly one claim (it did, into the submission)."""
    items = convert_x12(original_837)
    if len(items) != 1 or not isinstance(items[0], ConvertedSubmission):
        rejected = next((i for i in items if isinstance(i, ConversionRejected)), None)
        why = f": {rejected.error}" if rejected else f"; it holds {len(items)} items"
        raise refused(f"the original 837 is not one claim that converts{why}")
    text = as_text(original_837)
    d, wrapper, transaction = _transaction(text, len(text) - len(text.lstrip()))
    guide = group_set(wrapper[1]) if wrapper else bare_set(transaction.st)
    assert guide != "835"
    parts = divide_parts(transaction, guide)
    level, segments = parts.claims[0]
    chain = level.chain()
    claim = divide_claim(segments, guide)
    destination = _destination(chain)
    payers = {destination.role: destination}
    payers.update((other.sbr.get(1), _other(other)) for other in claim.others)
    patient = _patient(chain)
    provider = [made(d, "HL", "1", "", "20", "1"), *chain[0].segments[1:]]
    return Original(d, wrapper, transaction.st, guide, parts.header, provider, payers, patient, claim)


def _transaction(text: str, start: int) -> tuple[Delimiters, tuple[Segment, Segment] | None, Transaction]:
    if text.startswith("ISA", start):
        interchange, _ = read_interchange(text, start)
        assert not isinstance(interchange, ConversionRejected)
        group = interchange.groups[0]
        return interchange.delimiters, (interchange.isa, group.gs), group.transactions[0]
    d = bare_delimiters(text, start)
    found = bare_transactions([s for s, _ in cut_segments(text, start, d, 1)], d)
    assert isinstance(found[0], Transaction)
    return d, None, found[0]


def _named(segments: list[Segment]) -> tuple[list[Segment], dict[str, list[Segment]], list[Segment]]:
    """A loop's segments before its first NM1, its NM1*IL, NM1*PR and NM1*QC loops, and its other NM1 loops."""
    head: list[Segment] = []
    named: dict[str, list[Segment]] = {}
    rest: list[Segment] = []
    current = head
    for segment in segments:
        if segment.id == "NM1":
            code = segment.get(1)
            current = named.setdefault(code, []) if code in ("IL", "PR", "QC") and code not in named else rest
        current.append(segment)
    return head, named, rest


def _destination(chain: list[Level]) -> Payer:
    """The payer the original was sent to: 2000B's SBR, 2010BA and 2010BB."""
    head, named, _ = _named(chain[1].segments[1:])
    sbr = next(s for s in head if s.id == "SBR")
    pat = next((s for s in chain[2].segments if s.id == "PAT"), None) if len(chain) > 2 else None
    relationship = pat.get(1) if pat is not None else SELF  # 2000C's PAT01
    return Payer(sbr, relationship, named.get("IL", []), named["PR"])


def _other(other: OtherSubscriber) -> Payer:
    """A payer of a 2320 loop, its 2330A and 2330B, and its other loops."""
    own, named, rest = _named(other.segments)
    return Payer(other.sbr, other.sbr.get(2), named.get("IL", []), named["PR"], own, rest, [other.sbr, *other.segments])


def _patient(chain: list[Level]) -> Patient:
    """The patient: 2000C with 2010CA when the original has one, else the subscriber of 2010BA."""
    if len(chain) > 2:
        head, named, _ = _named(chain[2].segments[1:])
        pat = next((s for s in head if s.id == "PAT"), None)
        return Patient(named["QC"][0], named["QC"][1:], pat)
    head, named, _ = _named(chain[1].segments[1:])
    subscriber = named.get("IL", [])
    if not subscriber:
        raise refused("the original 837 has no subscriber (NM1*IL in loop 2010BA)")
    details = [s for s in subscriber[1:] if s.id in ("N3", "N4", "DMG")]
    return Patient(subscriber[0], details, next((s for s in head if s.id == "PAT"), None))
