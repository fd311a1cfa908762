"""One input message as the intake takes it, in the worker, in replay, in the audit and in the
work queue: `decode_message` is the one place that says which decoder a topic's messages need
(X12 for `remittance.x12`, the contract's JSON for the others).

A `remittance.x12` message holds one interchange or one ST/SE transaction (`cobstream produce`
splits files by transaction), an 835 or an 837P/837I. Each 837 claim becomes a
`SubmissionReceived`; each claim payment an `EobReceived` for its payer's role;
each part that cannot be used becomes a `Rejected` carrying that part's segments, for one dead
letter each (the good claims of the same message still go through); provider-level adjustments
and payment findings are returned as reports, to be logged: they are not claim events.
"""

from __future__ import annotations

from dataclasses import replace

from models.cob.claim import EobReceived, SubmissionReceived
from models.cob.coverage import payer_named_twice
from models.cob.reference import Reference, ReferenceChange
from models.contract.topics import REMITTANCE_X12
from models.remittance.decode import MAX_MESSAGE_BYTES, Rejected, decode
from models.remittance.results import (
    ConversionRejected,
    ConvertedEob,
    ConvertedSubmission,
    PaymentNotice,
    ProviderAdjustment,
)
from models.remittance.x12 import convert_x12
from models.remittance.x12_835 import HEADER_NUMBER_SEGMENTS, HEADER_SEGMENTS
from models.remittance.x12_claim import CLAIM_SEGMENTS, LINE_SEGMENTS
from models.remittance.x12_envelope import ENVELOPE_IDS

Report = ProviderAdjustment | PaymentNotice
# The reason code of an 835 denial or reversal whose role neither its file nor the claim's
# submission tells (the processor refuses it: `models.cob.claim.role_by_coverage`).
ROLE_REFUSAL = "x12:CLP"
Decoded = EobReceived | SubmissionReceived | ReferenceChange | Rejected | Report


def decode_message(topic: str | None, key: str | None, raw: bytes | str | None) -> list[Decoded]:
    """What one message of an input topic (unprefixed) means, in order: one item for a JSON
    message, one per claim payment, unusable part and report for an X12 835."""
    if topic == REMITTANCE_X12:
        return decode_remittance(raw)  # type: ignore[return-value]
    if topic is None:
        return [Rejected("message has no topic")]
    return [decode(topic, key, raw)]


def refuse_invalid_coverage(decoded: Decoded, reference: Reference) -> Decoded:
    """A submission whose coverage names one payer twice through the profiles' aliases is invalid
    (COVERAGE.md, "Validation"): refused where it is taken in, by the reference data then in force."""
    if isinstance(decoded, SubmissionReceived):
        why = payer_named_twice(decoded.submission, reference)
        if why is not None:
            return Rejected(why, decoded.submission.claim_id, reason="coverage[].payer_id")
    return decoded


def decode_remittance(raw: bytes | str | None) -> list[EobReceived | SubmissionReceived | Rejected | Report]:
    """The claim payments (835), claims (837), rejections and reports of one message, in the
    order of the file. A denial or reversal whose role the message does not tell comes with no
    role: the claim's submission tells it (`models.cob.claim.role_by_coverage`)."""
    if raw is None:
        return [
            Rejected(
                "value is null; a remittance.x12 message holds an X12 835 interchange or transaction",
                reason="null_value",
            )
        ]
    if len(raw) > MAX_MESSAGE_BYTES * 16:
        return [
            Rejected(
                f"message is {len(raw)} bytes; split the 835 by transaction (cobstream produce does)",
                reason="message_too_large",
            )
        ]
    found: list[EobReceived | SubmissionReceived | Rejected | Report] = []
    for item in convert_x12(raw, roles_by_coverage=True):
        if isinstance(item, ConvertedEob | ConvertedSubmission):
            found.append(item.received())
        elif isinstance(item, ConversionRejected):
            found.append(replace(item.rejected(), reason=x12_reason(item)))
        else:
            found.append(item)
    return found


def x12_reason(rejected: ConversionRejected) -> str:
    """The reason code of an 835's rejection: the segment at fault (`x12:CAS`; `x12:segment` for
    one that is not a segment at all or not of the 835), `x12:not_835` for data that is no X12."""
    if rejected.unit == "file" and rejected.segment_id is None:
        return "x12:not_835"
    return f"x12:{rejected.segment_id}" if rejected.segment_id in X12_SEGMENT_IDS else "x12:segment"


X12_SEGMENT_IDS = frozenset(
    {*ENVELOPE_IDS, *HEADER_SEGMENTS, *HEADER_NUMBER_SEGMENTS, *CLAIM_SEGMENTS, *LINE_SEGMENTS, "CLP", "SVC", "PLB"}
)
X12_REASONS = frozenset({*(f"x12:{segment}" for segment in X12_SEGMENT_IDS), "x12:segment", "x12:not_835"})
