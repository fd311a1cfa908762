"""FHIR R4 ExplanationOfBenefit resources (one resource, a Bundle, or NDJSON) into EOB events.

The order of the payers is `insurance`: the focal entry is the coverage this EOB adjudicates,
and its place in the list is its place in the order (first primary, second secondary). Status
`cancelled` or `entered-in-error` is a reversal; outcome `error` a denial. The join key is the
provider's claim id (`claim.identifier`); an EOB without it is refused. Each item's adjudication
categories give its amounts and adjustments (fhir_adjudication.py, fhir_lines.py, docs/FHIR.md).
Every produced event is validated by the contract; a resource it refuses becomes one rejection.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import ValidationError

from models.contract.events import EobEvent, EobStatus, Role
from models.contract.types import MAX_ID_LENGTH, NonFinite, RawNumber
from models.remittance.decode import describe
from models.remittance.fhir_adjudication import read_adjudications, states_out_of_network
from models.remittance.fhir_lines import agree_with_totals, claim_line, has_amounts, item_line
from models.remittance.fhir_read import (
    FhirError,
    Located,
    References,
    Unreadable,
    array,
    codes,
    moment,
    read_resources,
    reference_id,
    string,
)
from models.remittance.results import ConversionRejected, ConvertedEob, Item, line_at_fault
from models.remittance.x12 import as_text

REVERSED_STATUSES = frozenset({"cancelled", "entered-in-error"})
ROLES_BY_PLACE: tuple[Role, Role] = ("primary", "secondary")


def convert_fhir(data: bytes | str) -> list[Item]:
    """Every ExplanationOfBenefit of the file as an event or a rejection, in file order.
    Other resources (Coverage, Organization, ...) only serve to resolve references."""
    found = read_resources(as_text(data))
    references = References(found)
    items: list[Item] = []
    for piece in found:
        if isinstance(piece, Unreadable):
            unit = "file" if piece.position is None else "resource"
            items.append(ConversionRejected(piece.label, piece.reason, unit, None, piece.position, original=piece.text))
        elif piece.resource.get("resourceType") == "ExplanationOfBenefit":
            items.append(convert_eob(piece, references))
    if not items and not found:
        items.append(ConversionRejected("the file", "no FHIR resource in it", "file"))
    return items


def convert_eob(found: Located, references: References) -> ConvertedEob | ConversionRejected:
    eob = found.resource
    resource_id = string(eob.get("id"))
    role: Role | None = None
    try:
        status = _status(eob)
        role, secondary = _role(eob, references)
        fields = _fields(eob, references, status, role, secondary)
        event = _validated(fields)
    except FhirError as exc:
        claim_id = _claim_identifier(eob)
        return ConversionRejected(
            f"ExplanationOfBenefit {resource_id or '(no id)'} ({found.label})",
            f"{exc.path}: {exc.reason}",
            "resource",
            "ExplanationOfBenefit",
            found.position,
            claim_id=claim_id if claim_id and len(claim_id) <= MAX_ID_LENGTH else None,
            role=role,
            original=_original(eob),
        )
    source = {"format": "fhir-r4", "resource_id": resource_id, "version_id": _version(eob), "location": found.label}
    return ConvertedEob(role, event, source)


def _status(eob: dict[str, Any]) -> EobStatus:
    status, outcome, use = string(eob.get("status")), string(eob.get("outcome")), eob.get("use", "claim")
    if use != "claim":
        raise FhirError("use", f"{str(use)[:24]!r} is not a claim adjudication (use must be 'claim')")
    if status in REVERSED_STATUSES:
        return "reversed"
    if status != "active":
        raise FhirError("status", f"{str(status)[:24]!r}: only active, cancelled or entered-in-error EOBs are final")
    if outcome in ("complete", "partial"):
        return "processed"
    if outcome == "error":
        return "denied"
    raise FhirError("outcome", f"{str(outcome)[:24]!r}: the claim is not adjudicated (complete, partial or error)")


def _role(eob: dict[str, Any], references: References) -> tuple[Role, str | None]:
    """The focal insurance's place gives the role; the next coverage's payer is the secondary payer
    (None when no entry follows the focal one, which does not say that there is none)."""
    insurance = eob.get("insurance")
    if not isinstance(insurance, list) or not insurance or not all(isinstance(i, dict) for i in insurance):
        raise FhirError("insurance", "at least one insurance entry is required to know the payer's place in the order")
    focal = [n for n, entry in enumerate(insurance) if entry.get("focal") is True]
    if len(insurance) == 1 and not focal:
        if "focal" in insurance[0]:
            raise FhirError(
                "insurance[0].focal",
                "is not true: the EOB names no coverage as the one it adjudicates; mark that one focal: true",
            )
        focal = [0]  # the only coverage, not said otherwise
    if len(focal) != 1:
        raise FhirError("insurance", f"exactly one entry must be focal, {len(focal)} are: the payer's place is unknown")
    place = focal[0]
    if place > 1:
        raise FhirError(f"insurance[{place}]", "a third or later payer is beyond a primary/secondary reconciliation")
    if place == 1 or len(insurance) == 1:
        return ROLES_BY_PLACE[place], None
    return "primary", _coverage_payer(insurance[1], references, eob)


def _coverage_payer(entry: dict[str, Any], references: References, eob: dict[str, Any]) -> str:
    coverage = references.resolve(entry.get("coverage"), eob)
    payors = coverage.get("payor") if coverage else None
    payor = payors[0] if isinstance(payors, list) and payors else None
    organization = references.resolve(payor, eob) if payor else None
    identifiers = organization.get("identifier") if organization else None
    from_organization = (
        string(identifiers[0].get("value"))
        if isinstance(identifiers, list) and identifiers and isinstance(identifiers[0], dict)
        else None
    )
    payer = from_organization or reference_id(payor)
    if not payer:
        raise FhirError(
            "insurance[1].coverage",
            "names the next coverage, but no Coverage with a payor for it is in the file: "
            "the secondary payer is unknown",
        )
    return payer


def _fields(
    eob: dict[str, Any], references: References, status: EobStatus, role: Role, secondary: str | None
) -> dict[str, Any]:
    payer_id, payer_name = _payer(eob, references)
    claim_id = _claim_id(eob, references)
    fields: dict[str, Any] = {
        "event_id": _event_id(eob, payer_id),
        "claim_id": claim_id,
        "payer_id": payer_id,
        "payer_name": payer_name,
        "payer_claim_number": _payer_claim_number(eob),
        "status": status,
        "adjudicated_at": moment(eob.get("created"), "created"),
        "secondary_payer_id": secondary,
        "lines": _lines(eob),
    }
    if role == "primary" and secondary is None:
        # The focal coverage is the only `insurance` entry: a payer's EOB need not list the
        # patient's other coverages, so that says nothing of a secondary (docs/FHIR.md).
        # `secondary_payer_id` is absent, and the claim's submission decides (COVERAGE.md 1).
        del fields["secondary_payer_id"]
        fields["states_secondary"] = False
    return fields


def _lines(eob: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per item; one claim-level line from the header when no item carries an amount."""
    items = eob.get("item")
    if items is not None and not isinstance(items, list):
        raise FhirError("item", "must be a list")
    header = read_adjudications(eob.get("adjudication"), "adjudication")
    header.out_of_network = header.out_of_network or states_out_of_network(eob)
    if items and any(has_amounts(item) for item in items):
        lines = [item_line(item, n, eob, header) for n, item in enumerate(items, 1)]
        agree_with_totals(lines, read_adjudications(eob.get("total"), "total", header))
        return lines
    return [claim_line(eob, header)]


NO_JOIN_KEY = (
    "no provider's claim id (claim.identifier, CLP01's equivalent), the only key that joins an EOB to the "
    "claim; an identifier of type uc is the payer's own number. Member-facing EOBs (CARIN Blue Button, CMS "
    "Blue Button 2.0) carry only that: reconcile from the payer's 835, or an EOB that gives claim.identifier"
)


def _claim_identifier(eob: dict[str, Any]) -> str | None:
    claim = eob.get("claim")
    identifier = claim.get("identifier") if isinstance(claim, dict) else None
    return string(identifier.get("value")) if isinstance(identifier, dict) else None


def _claim_id(eob: dict[str, Any], references: References) -> str:
    """The provider's claim id: claim.identifier, else the identifier of the Claim that claim.reference
    names in the file (a Claim's identifier is the provider's). The id inside a reference is only the
    sender's resource id, not the provider's claim number."""
    claim = eob.get("claim")
    if not isinstance(claim, dict):
        raise FhirError("claim", NO_JOIN_KEY)
    if given := _claim_identifier(eob):
        return given
    resource = references.resolve(claim, eob)
    if resource is not None and resource.get("resourceType") == "Claim":
        values = list(
            dict.fromkeys(
                v for i in array(resource.get("identifier")) if isinstance(i, dict) if (v := string(i.get("value")))
            )
        )
        if len(values) != 1:
            raise FhirError(
                "claim.reference",
                f"the Claim it names has {len(values)} identifiers: which is the provider's claim id is unsure",
            )
        return values[0]
    if string(claim.get("reference")):
        raise FhirError(
            "claim.reference",
            "names a Claim that is not in the file, and the id in a reference is the sender's resource id, not "
            "the provider's claim number: give claim.identifier, or include the Claim with its identifier",
        )
    raise FhirError("claim", NO_JOIN_KEY)


def _payer(eob: dict[str, Any], references: References) -> tuple[str, str | None]:
    insurer = eob.get("insurer")
    organization = references.resolve(insurer, eob)
    identifiers = organization.get("identifier") if organization else None
    first = identifiers[0] if isinstance(identifiers, list) and identifiers and isinstance(identifiers[0], dict) else {}
    payer_id = reference_id(insurer) if isinstance(insurer, dict) and "identifier" in insurer else None
    payer_id = payer_id or string(first.get("value")) or reference_id(insurer)
    if not payer_id:
        raise FhirError("insurer", "the payer (insurer.identifier or insurer.reference) is required")
    name = string(insurer.get("display")) if isinstance(insurer, dict) else None
    return payer_id, name or (string(organization.get("name")) if organization else None)


def _payer_claim_number(eob: dict[str, Any]) -> str | None:
    identifiers = [i for i in array(eob.get("identifier")) if isinstance(i, dict) and string(i.get("value"))]
    unique = next((i for i in identifiers if "uc" in codes(i.get("type"))), None)
    chosen = unique or (identifiers[0] if identifiers else None)
    return chosen["value"] if chosen else None


def _version(eob: dict[str, Any]) -> str | None:
    meta = eob.get("meta")
    return string(meta.get("versionId")) if isinstance(meta, dict) else None


def _event_id(eob: dict[str, Any], payer_id: str) -> str:
    """Payer, resource id and version, and a digest of the resource: the same file gives the same ids."""
    digest = hashlib.blake2b(_canonical(eob), digest_size=4).hexdigest()
    return f"fhir:{payer_id}:{string(eob.get('id')) or '-'}:{_version(eob) or '-'}:{digest}"


def _canonical(resource: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(resource, default=_number, option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS)
    except (TypeError, orjson.JSONEncodeError):
        raise FhirError("resource", "is nested too deeply to be an ExplanationOfBenefit") from None


def _original(resource: dict[str, Any]) -> str:
    """The resource's text for the dead letter (a Bundle entry has no text of its own)."""
    try:
        return _canonical(resource).decode()
    except FhirError:
        return ""


def _number(value: Any) -> Any:
    if isinstance(value, RawNumber | NonFinite):
        return orjson.Fragment(str(value))
    return str(value)


def _validated(fields: dict[str, Any]) -> EobEvent:
    try:
        return EobEvent.model_validate(fields)
    except ValidationError as exc:
        line = line_at_fault(exc)
        path = "resource" if line is None else f"item[{line}]"
        raise FhirError(path, f"the contract refuses this EOB: {describe(exc)}") from None
