"""One message of the `remittance.x12` topic as the intake takes it, in the worker and in replay.

A message holds one interchange or one ST/SE transaction (`cobstream produce` splits files by
transaction). Each claim payment becomes an `EobReceived` for its payer's role; each part that
cannot be used becomes a `Rejected` carrying that part's segments, for one dead letter each (the
good claims of the same message still go through); provider-level adjustments and payment
findings are returned as reports, to be logged: they are not claim events.
"""

from __future__ import annotations

from models.cob.claim import EobReceived
from models.remittance.decode import MAX_MESSAGE_BYTES, Rejected
from models.remittance.results import ConversionRejected, ConvertedEob, PaymentNotice, ProviderAdjustment
from models.remittance.x12 import convert_x12

Report = ProviderAdjustment | PaymentNotice


def decode_remittance(raw: bytes | str | None) -> list[EobReceived | Rejected | Report]:
    """The claim payments, rejections and reports of one message, in the order of the file."""
    if raw is None:
        return [Rejected("value is null; a remittance.x12 message holds an X12 835 interchange or transaction")]
    if len(raw) > MAX_MESSAGE_BYTES * 16:
        return [Rejected(f"message is {len(raw)} bytes; split the 835 by transaction (cobstream produce does)")]
    found: list[EobReceived | Rejected | Report] = []
    for item in convert_x12(raw):
        if isinstance(item, ConvertedEob):
            found.append(item.received())
        elif isinstance(item, ConversionRejected):
            found.append(item.rejected())
        else:
            found.append(item)
    return found
