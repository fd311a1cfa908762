"""The 837 to send to the secondary payer (COVERAGE.md section 5, docs/X12.md "The secondary 837"):
the claim as the provider billed it (`ClaimSubmission.original_837`), addressed to the secondary,
with the primary's adjudication (a `SecondaryClaim`) in loops 2320, 2330A/B and 2430 of the
005010X222A1 (837P) or 005010X223A2 (837I) guide.

What moves: the secondary's 2320/2330A/2330B become 2000B/2010BA/2010BB (SBR01 `S`), the primary's
2000B/2010BA/2010BB become a 2320/2330A/2330B (SBR01 `P`); the patient is in 2000C when the
secondary's subscriber is someone else; the destination's prior authorization and referral numbers
(2300 REF*G1, REF*9F) go with their payer, as CLM08-10 and the 2320 OI do. What is new: the
envelope's control numbers, the BHT, the receiver (1000B), the primary's AMT*D and each line's
2430 (SVD, CAS, DTP*573, AMT*EAF); CLM05-3 is `1` (original), the payer claim number of a
replacement (2300 REF*F8) left out. The rest is the original's, segment for segment.

`secondary_837` is pure and deterministic: the same inputs give the same bytes.
`secondary_837_of(state)` is the claim's standing `open` secondary claim as that 837, or
`NoSecondary837` saying why there is none; `control_number` derives the control numbers from the
secondary claim's event id.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from models.cob.claim import ClaimState
from models.cob.verdict import is_cob_order_denial
from models.contract.outcomes import SecondaryClaim
from models.remittance.x12_837_adjudication import adjudicated_lines, x12_amount
from models.remittance.x12_837_original import (
    SELF,
    NoSecondary837,
    Original,
    Payer,
    made,
    read_original,
    refused,
)
from models.remittance.x12_envelope import ClaimGuide
from models.remittance.x12_segments import Delimiters, Segment

_PAYER_IDS = frozenset({"2U", "EI", "FY", "NF"})  # REF qualifiers of a payer's secondary ids
_PAYER_NUMBERS = frozenset({"G1", "9F"})  # prior authorization and referral: the destination payer's
_OTHER_PAYER_REFS = _PAYER_IDS | _PAYER_NUMBERS | {"T4", "F8"}  # what a 2330B's REFs may be
_SUBSCRIBER_REFS = {"2010BA": frozenset({"SY", "Y4"}), "2330A": frozenset({"SY"})}
_LATER_IN_2300 = frozenset({"K3", "NTE", "CR1", "CR2", "CRC", "HI", "HCP", "NM1"})  # after 2300's REFs
_RECEIVER_WIDTH = 15  # ISA08 and GS03


def control_number(event_id: str) -> int:
    """ISA13, GS06 and ST02 of a secondary claim's 837: a digest of its event id, 1 to 999999999,
    so that exporting the same secondary claim twice gives the same file."""
    digest = hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 999_999_999 + 1


def secondary_837(original_837: str, claim: SecondaryClaim, *, control_number: int, created_at: datetime) -> str:
    """The 837 to send to the claim's secondary payer (module docstring); `NoSecondary837` when
    the original cannot carry the secondary claim (its lines differ from the primary's...)."""
    original = read_original(original_837)
    if original.claim.clm.get(1) != claim.claim_id:
        raise refused(f"the original 837 is claim {original.claim.clm.get(1)!r}, not the secondary claim's")
    for role, name in (("P", "primary"), ("S", "secondary")):
        if role not in original.payers:
            raise refused(f"the original 837 names no {name} payer (SBR01 {role})")
    d, at = original.delimiters, created_at.astimezone(UTC)
    primary, secondary = original.payers["P"], original.payers["S"]
    body = [
        made(d, "ST", "837", f"{control_number:09d}", original.st.get(3)),
        *_header(d, original, claim, control_number, at),
        *original.provider,
        *_subscriber_loops(d, original, secondary),
        *_claim_loop(d, original, primary, secondary, claim),
    ]
    body.append(made(d, "SE", str(len(body) + 1), f"{control_number:09d}"))
    isa, gs = _envelope(d, original, claim.secondary_payer_id, control_number, at)
    trailer = [made(d, "GE", "1", str(control_number)), made(d, "IEA", "1", f"{control_number:09d}")]
    return d.join([isa, gs, *body, *trailer])


# ---- writing -------------------------------------------------------------------------------------


def _kept(segments: list[Segment], allowed: dict[str, frozenset[str] | None], refs: int = 3) -> list[Segment]:
    """The segments a loop may hold, in their order: by id, and for a REF by its qualifier; at most
    `refs` REFs of one kind (2330B holds two payer secondary ids where 2010BB holds three)."""
    found = []
    counted: dict[str, int] = {}
    for segment in segments:
        qualifiers = allowed.get(segment.id, frozenset())
        if qualifiers is not None and segment.get(1) not in qualifiers:
            continue
        if segment.id == "REF":
            kind = "ids" if segment.get(1) in _PAYER_IDS else segment.get(1)
            counted[kind] = counted.get(kind, 0) + 1
            if counted[kind] > refs:
                continue
        found.append(segment)
    return found


def _envelope(d: Delimiters, original: Original, receiver: str, control: int, at: datetime) -> tuple[Segment, Segment]:
    """ISA and GS from the sender to the secondary payer, with the new control number."""
    if not 2 <= len(receiver) <= _RECEIVER_WIDTH:
        raise refused(
            f"the secondary payer id {receiver[:40]!r} does not fit ISA08/GS03 (2 to 15 characters): "
            "give the payer an id of that size"
        )
    if original.wrapper is not None:
        isa, gs = original.wrapper
        elements = list(isa.elements)
        sender, version = gs.get(2), gs.get(8)
    else:
        submitter = next((s for s in original.header if s.id == "NM1" and s.get(1) == "41"), None)
        sender, version = (submitter.get(9) if submitter else "") or "UNKNOWN", original.st.get(3)
        elements = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", sender[:15].ljust(15), "", "", "", ""]
        elements.append(d.repetition or "^")
        elements += ["00501", "", "0", "P", d.component]
    elements[7:11] = ["ZZ", receiver.ljust(_RECEIVER_WIDTH), f"{at:%y%m%d}", f"{at:%H%M}"]
    elements[13] = f"{control:09d}"
    isa = Segment("ISA", elements, 0, d.element.join(elements))
    gs = made(d, "GS", "HC", sender, receiver, f"{at:%Y%m%d}", f"{at:%H%M}", str(control), "X", version)
    return isa, gs


def _header(d: Delimiters, original: Original, claim: SecondaryClaim, control: int, at: datetime) -> list[Segment]:
    """BHT (a new reference, created now, chargeable), 1000A as it was, 1000B the secondary payer."""
    bht = next(s for s in original.header if s.id == "BHT")
    submitter = [s for s in original.header if s.id != "BHT" and not (s.id == "NM1" and s.get(1) == "40")]
    name = original.payers["S"].payer[0].get(3)
    return [
        made(d, "BHT", bht.get(1), bht.get(2), f"{control:09d}", f"{at:%Y%m%d}", f"{at:%H%M%S}", "CH"),
        *submitter,
        made(d, "NM1", "40", "2", name, "", "", "", "", "46", claim.secondary_payer_id),
    ]


def _subscriber_loops(d: Delimiters, original: Original, secondary: Payer) -> list[Segment]:
    """2000B for the secondary (SBR01 S) with 2010BA and 2010BB; 2000C when the patient is not its subscriber."""
    patient, is_patient = original.patient, secondary.relationship == SELF
    loops = [
        made(d, "HL", "2", "1", "22", "0" if is_patient else "1"),
        made(d, "SBR", "S", SELF if is_patient else "", *secondary.sbr.elements[3:]),
    ]
    if is_patient and original.guide == "837P" and patient.pat is not None and any(patient.pat.elements[5:]):
        loops.append(made(d, "PAT", "", "", "", "", *patient.pat.elements[5:]))
    subscriber = secondary.subscriber
    if not subscriber:
        raise refused("the original 837 has no subscriber (NM1*IL) for the secondary payer")
    own = {s.id: s for s in subscriber[1:] if s.id in ("N3", "N4", "DMG")}
    mine = {s.id: s for s in patient.details if s.id in ("N3", "N4", "DMG")} if is_patient else {}
    address = [own[i] for i in ("N3", "N4") if i in own] or [mine[i] for i in ("N3", "N4") if i in mine]
    dmg = own.get("DMG") or mine.get("DMG")
    refs = _kept(subscriber[1:], {"REF": _SUBSCRIBER_REFS["2010BA"], "PER": None})
    loops += [subscriber[0], *address, *([dmg] if dmg else []), *refs]
    loops += _kept(secondary.payer, {"NM1": None, "N3": None, "N4": None, "REF": _PAYER_IDS})
    return loops if is_patient else [*loops, *_patient_loop(d, original, secondary.relationship)]


def _patient_loop(d: Delimiters, original: Original, relationship: str) -> list[Segment]:
    """2000C with 2010CA: the patient's relationship to the secondary's subscriber, name, address, birth."""
    patient = original.patient
    details = {s.id: s for s in patient.details if s.id in ("N3", "N4", "DMG")}
    if len(details) < 3:
        raise refused(
            "the patient is not the secondary's subscriber, and the original 837 lacks the patient's address or "
            "birth date (N3, N4, DMG), which the patient loop (2010CA) requires"
        )
    pat = patient.pat.elements[5:] if patient.pat is not None and original.guide == "837P" else []
    name = patient.name
    rest = [s for s in patient.details if s.id not in details] if name.get(1) == "QC" else []
    return [
        made(d, "HL", "3", "2", "23", "0"),
        made(d, "PAT", relationship, "", "", "", *pat),
        made(d, "NM1", "QC", "1", name.get(3), name.get(4), name.get(5), "", name.get(7)),
        *(details[i] for i in ("N3", "N4", "DMG")),
        *rest,
    ]


def _claim_loop(
    d: Delimiters, original: Original, primary: Payer, secondary: Payer, claim: SecondaryClaim
) -> list[Segment]:
    """2300 (frequency original, the secondary's numbers in), 2320s (the primary's figures, a
    tertiary as it was), and the service lines with the primary's 2430."""
    billed = original.claim
    theirs = [s for s in billed.claim_segments if s.id == "REF" and s.get(1) in _PAYER_NUMBERS]
    kept = [s for s in billed.claim_segments if not (s.id == "REF" and s.get(1) in _PAYER_NUMBERS | {"F8"})]
    ours = _kept(secondary.payer, {"REF": _PAYER_NUMBERS})
    at = next((n for n, s in enumerate(kept) if s.id in _LATER_IN_2300), len(kept))
    oi = next((s for s in secondary.own if s.id == "OI"), None)
    segments = [_clm(d, billed.clm, oi, original.guide), *kept[:at], *ours, *kept[at:]]
    segments += _primary_loop(d, original, primary, claim, theirs)
    tertiary = original.payers.get("T")
    if tertiary is not None:  # kept as the original has it
        segments += tertiary.original or _as_other(d, tertiary, original, billed.clm)
    return segments + adjudicated_lines(d, original, primary.payer_id, claim)


def _clm(d: Delimiters, clm: Segment, oi: Segment | None, guide: ClaimGuide) -> Segment:
    """CLM with frequency 1 (original) and the secondary's assignment, release and signature (its OI)."""
    elements = list(clm.elements) + [""] * (11 - len(clm.elements))
    facility = elements[5].split(d.component)
    elements[5] = d.component.join([*facility[:2], "1", *facility[3:]])
    if oi is not None:
        elements[8], elements[9] = oi.get(3) or elements[8], oi.get(6) or elements[9]
        if guide == "837P":
            elements[10] = oi.get(4)
    return made(d, "CLM", *elements[1:])


def _oi(d: Delimiters, clm: Segment, guide: ClaimGuide) -> Segment:
    """The OI of the payer the original was sent to: its CLM08 (assignment), CLM10 (signature), CLM09 (release)."""
    signature = clm.get(10) if guide == "837P" else ""
    return made(d, "OI", "", "", clm.get(8) or "Y", signature, "", clm.get(9) or "Y")


def _as_other(d: Delimiters, payer: Payer, original: Original, clm: Segment, *extra: Segment) -> list[Segment]:
    """A payer the original was sent to as a 2320 with its 2330A and 2330B."""
    return [
        made(d, "SBR", payer.role, payer.relationship, *payer.sbr.elements[3:]),
        *extra,
        _oi(d, clm, original.guide),
        *_kept(payer.subscriber, {"NM1": None, "N3": None, "N4": None, "REF": _SUBSCRIBER_REFS["2330A"]}),
        *_kept(payer.payer, {"NM1": None, "N3": None, "N4": None, "REF": _PAYER_IDS}, refs=2),
    ]


def _primary_loop(
    d: Delimiters, original: Original, primary: Payer, claim: SecondaryClaim, numbers: list[Segment]
) -> list[Segment]:
    """2320 for the primary: SBR01 P, AMT*D (what it paid), OI, 2330A, 2330B (with the prior
    authorization and referral numbers it gave), and its other 2330 loops."""
    paid = made(d, "AMT", "D", x12_amount(claim.primary_paid))
    if primary.original is None:  # the original was sent to the primary
        loop = _as_other(d, primary, original, original.claim.clm, paid)
        return [*loop, *numbers]
    oi = next((s for s in primary.own if s.id == "OI"), None) or _oi(d, original.claim.clm, original.guide)
    return [
        made(d, "SBR", "P", primary.relationship, *primary.sbr.elements[3:]),
        paid,
        oi,
        *_kept(primary.subscriber, {"NM1": None, "N3": None, "N4": None, "REF": _SUBSCRIBER_REFS["2330A"]}),
        *_kept(primary.payer, {"NM1": None, "N3": None, "N4": None, "REF": _OTHER_PAYER_REFS}, refs=2),
        *primary.providers,
    ]


def secondary_837_of(state: ClaimState) -> str:
    """The 837 of the claim's standing `open` secondary claim; `NoSecondary837` saying why there is none."""
    standing, submission = state.standing_secondary_claim, state.submission
    if standing is None:
        raise NoSecondary837("no_secondary_claim", why_no_secondary_claim(state))
    if submission is None or submission.original_837 is None:
        raise NoSecondary837(
            "not_from_837",
            "the claim's submission came from claims.submitted JSON; an 837 can only be built from an 837 "
            "(publish the claim's 837 on remittance.x12, or replay the .837 file itself)",
        )
    return secondary_837(
        submission.original_837,
        standing,
        control_number=control_number(standing.event_id),
        created_at=standing.produced_at,
    )


def why_no_secondary_claim(state: ClaimState) -> str:
    """Why no `open` secondary claim stands for the claim (COVERAGE.md section 5, "Conditions")."""
    primary, secondary, submission = state.primary, state.secondary, state.submission
    coverage = state.version.coverage
    if primary is None:
        gone = " (it was reversed)" if state.had_primary else ""
        return f"the primary's EOB is not in{gone}: a secondary claim carries the primary's adjudication"
    if is_cob_order_denial(primary):
        return "the primary denied the claim as not primary (a COB-order denial): the coverage must be corrected"
    if coverage.source == "primary_eob":
        if coverage.payer is None:
            return "the primary's EOB says there is no secondary coverage"
        return (
            f"the primary crossed the claim over to {coverage.payer} (its EOB names the secondary): the "
            "secondary has it from the primary, not from the provider"
        )
    if submission is None:
        return "the claim has no submission naming its secondary payer: publish the claim's 837"
    if coverage.payer is None:
        return "the claim's submission names no secondary payer"
    if secondary is not None:
        return "the secondary's EOB came in before a secondary claim was due: there is nothing to send"
    return "no open secondary claim stands for the claim's current version (the last one was replaced)"
