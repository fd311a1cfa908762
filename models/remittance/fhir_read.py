"""Reading FHIR R4 JSON for the converter: a file as one resource, a Bundle or NDJSON; references
resolved within the file; and the few primitive types we need (money, dates, codes), read exactly.

Plain JSON reading rather than `fhir.resources` (docs/FHIR.md says why): numbers keep their
literal text (`models.remittance.decode.load_json`), so money never passes through a binary float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from models.contract.types import NonFinite, RawNumber
from models.remittance.decode import load_json

_DECIMAL = re.compile(r"-?\d{1,15}(?:\.\d{1,10})?")
_FHIR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class FhirError(Exception):
    """A fault in one resource: where in it (a FHIRPath-like location) and why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Located:
    """A resource of the file and where it was: `entry 3` of a Bundle, `line 4` of NDJSON."""

    resource: dict[str, Any]
    label: str
    position: int | None
    full_url: str | None = None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A piece of the file that is not a JSON object (an NDJSON line, or the whole file)."""

    label: str
    position: int | None
    reason: str
    text: str


def read_resources(text: str) -> list[Located | Unreadable]:
    """The file's resources in order: a single resource, every entry of a Bundle (nested too), or
    one per NDJSON line."""
    try:
        whole = load_json(text)
    except (ValueError, RecursionError) as exc:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            return [Unreadable("the file", None, f"not JSON: {exc}", text[:65_536])]
        return [found for n, line in lines for found in _ndjson_line(n, line)]
    if not isinstance(whole, dict):
        return [Unreadable("the file", None, "not a FHIR resource: the JSON is not an object", text[:65_536])]
    return _expand(Located(whole, "resource", None))


def _ndjson_line(number: int, line: str) -> list[Located | Unreadable]:
    try:
        value = load_json(line)
    except (ValueError, RecursionError) as exc:
        return [Unreadable(f"line {number}", number, f"not JSON: {exc}", line)]
    if not isinstance(value, dict):
        return [Unreadable(f"line {number}", number, "not a FHIR resource: not a JSON object", line)]
    return _expand(Located(value, f"line {number}", number))


def _expand(found: Located) -> list[Located | Unreadable]:
    if found.resource.get("resourceType") != "Bundle":
        return [found]
    expanded: list[Located | Unreadable] = []
    for index, entry in enumerate(array(found.resource.get("entry")), 1):
        label = f"{found.label}, entry {index}" if found.label != "resource" else f"entry {index}"
        position = found.position if found.position is not None else index
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            expanded.append(Unreadable(label, position, "Bundle entry has no resource object", str(entry)[:4096]))
            continue
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        expanded += _expand(Located(resource, label, position, full_url))
    return expanded


class References:
    """Resources of the file by the references that may point at them: `Type/id` and fullUrl."""

    def __init__(self, found: list[Located | Unreadable]) -> None:
        self.by_reference: dict[str, dict[str, Any]] = {}
        for item in found:
            if isinstance(item, Located) and isinstance(item.resource.get("id"), str):
                kind = item.resource.get("resourceType")
                self.by_reference[f"{kind}/{item.resource['id']}"] = item.resource
                if item.full_url:
                    self.by_reference[item.full_url] = item.resource

    def resolve(self, reference: Any, container: dict[str, Any]) -> dict[str, Any] | None:
        """The resource a Reference points to: contained (`#id`) in `container`, or in the file."""
        target = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(target, str):
            return None
        if target.startswith("#"):
            contained = array(container.get("contained"))
            return next((r for r in contained if isinstance(r, dict) and r.get("id") == target[1:]), None)
        return self.by_reference.get(target) or self.by_reference.get(target.split("/_history/")[0])


def array(value: Any) -> list[Any]:
    """A FHIR array: the list, or nothing when the element is missing or not a list."""
    return value if isinstance(value, list) else []


def string(value: Any) -> str | None:
    """A FHIR string/code/id: a non-empty JSON string, else None."""
    if isinstance(value, str) and not isinstance(value, RawNumber | NonFinite) and value:
        return value
    return None


def reference_id(reference: Any) -> str | None:
    """What a Reference names: its identifier's value, else the id at the end of `reference`."""
    if not isinstance(reference, dict):
        return None
    identifier = reference.get("identifier")
    if isinstance(identifier, dict) and string(identifier.get("value")):
        return identifier["value"]
    target = string(reference.get("reference"))
    return target.split("/_history/")[0].rsplit("/", 1)[-1].lstrip("#") or None if target else None


def codes(concept: Any) -> list[str]:
    """The codes of a CodeableConcept's codings, in order."""
    codings = array(concept.get("coding")) if isinstance(concept, dict) else []
    return [c["code"] for c in codings if isinstance(c, dict) and string(c.get("code"))]


def coded(concept: Any) -> list[tuple[str | None, str]]:
    """(system, code) of a CodeableConcept's codings."""
    codings = array(concept.get("coding")) if isinstance(concept, dict) else []
    return [(string(c.get("system")), c["code"]) for c in codings if isinstance(c, dict) and string(c.get("code"))]


def money(value: Any, path: str) -> Decimal:
    """A FHIR Money: `value` a decimal read from its literal text; `currency` USD when given."""
    if not isinstance(value, dict):
        raise FhirError(path, "must be a Money object with a value")
    currency = value.get("currency")
    if currency is not None and currency != "USD":
        raise FhirError(f"{path}.currency", f"{str(currency)[:8]!r} is not USD")
    amount = value.get("value")
    text = str(amount) if isinstance(amount, RawNumber | int | str) and not isinstance(amount, bool) else ""
    if isinstance(amount, NonFinite) or not _DECIMAL.fullmatch(text):
        raise FhirError(f"{path}.value", "must be a decimal number")
    return Decimal(text)


def day(value: Any, path: str) -> date:
    """The day of a FHIR date or dateTime (at least year-month-day)."""
    text = string(value)
    if text is None or not _FHIR_DATE.match(text):
        raise FhirError(path, "must be a date (YYYY-MM-DD) or a dateTime")
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise FhirError(path, f"{text[:10]!r} is not a calendar date") from None


def moment(value: Any, path: str) -> datetime:
    """A FHIR dateTime with a time and zone, or a date (taken as midnight UTC)."""
    text = string(value)
    if text is not None and len(text) == 10:
        return datetime.combine(day(text, path), datetime.min.time(), tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text or "")
    except ValueError:
        raise FhirError(path, "must be a dateTime with a zone, or a date") from None
    if parsed.tzinfo is None:
        raise FhirError(path, "a dateTime with a time must carry its zone")
    return parsed
