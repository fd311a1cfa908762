"""The converters: messages and remittances into the core's inputs. The contract's JSON events
(`decode.py`: one message's bytes to a validated EOB, reference change or dead-letter reason),
remittances as payers send them (X12 835, FHIR R4 ExplanationOfBenefit) into EOB events, and
claims as providers bill them (X12 837P, 837I) into claim submissions.

Pure functions from the bytes of a file or message to items in file order: `ConvertedEob` (an
`EobEvent` for `eob.primary` or `eob.secondary`), `ConvertedSubmission` (a `ClaimSubmission` for
`claims.submitted`), `ConversionRejected` (one dead letter, naming the segment or resource and the
reason), `ProviderAdjustment` and `PaymentNotice` (reported; not claim events). docs/X12.md has
the mapping and every rule.
"""

from models.remittance.fhir import convert_fhir
from models.remittance.results import (
    ConversionRejected,
    ConvertedEob,
    ConvertedSubmission,
    Item,
    PaymentNotice,
    ProviderAdjustment,
)
from models.remittance.x12 import KnownRoles, TransactionMessage, convert_x12, split_transactions

__all__ = [
    "ConversionRejected",
    "ConvertedEob",
    "ConvertedSubmission",
    "Item",
    "KnownRoles",
    "PaymentNotice",
    "ProviderAdjustment",
    "TransactionMessage",
    "convert_fhir",
    "convert_x12",
    "split_transactions",
]
