"""Shared builders for the unit tests: EOB events, profiles, and an engine run that records its output."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from cobstream.engine import Engine
from models.cob.processor import Published


def adj(group: str, reason: str, amount: str) -> dict[str, str]:
    return {"group": group, "reason": reason, "amount": amount}


def line(
    line_id: str = "1",
    *,
    charge: str = "150.00",
    paid: str = "80.00",
    allowed: str | None = "100.00",
    adjustments: Iterable[dict[str, str]] | None = None,
    code: str = "99214",
    modifiers: Iterable[str] = (),
    remarks: Iterable[str] = (),
) -> dict[str, Any]:
    """A service line; by default the article's primary line (C 150, A1 100, P1 80, PR-2 20)."""
    if adjustments is None:
        adjustments = [adj("CO", "45", "50.00"), adj("PR", "2", "20.00")]
    return {
        "line_id": line_id,
        "procedure_code": code,
        "modifiers": list(modifiers),
        "service_date": "2026-03-02",
        "charge": charge,
        "paid": paid,
        "allowed": allowed,
        "adjustments": list(adjustments),
        "remarks": list(remarks),
    }


def eob(
    event_id: str,
    *,
    claim_id: str = "CLM-1",
    payer_id: str = "BCBS-TX",
    status: str = "processed",
    at: str = "2026-03-10T15:00:00Z",
    secondary_payer_id: str | None = "AETNA",
    lines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "claim_id": claim_id,
        "payer_id": payer_id,
        "status": status,
        "adjudicated_at": at,
        "secondary_payer_id": secondary_payer_id,
        "lines": lines if lines is not None else [line()],
    }


def unstated(value: dict[str, Any]) -> dict[str, Any]:
    """A primary EOB that does not say whether there is a secondary (an 835 without NM1*TT)."""
    return {k: v for k, v in value.items() if k != "secondary_payer_id"}


def submission(
    event_id: str = "SUB-1",
    *,
    claim_id: str = "CLM-1",
    at: str = "2026-03-03T09:00:00Z",
    frequency: str | None = "original",
    primary: str = "BCBS-TX",
    secondary: str | None = "AETNA",
    tertiary: str | None = None,
    lines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A `ClaimSubmission` of the article's claim: one line, C 150, BCBS-TX then AETNA."""
    coverage = [{"payer_id": primary, "role": "primary"}]
    coverage += [{"payer_id": secondary, "role": "secondary"}] if secondary else []
    coverage += [{"payer_id": tertiary, "role": "tertiary"}] if tertiary else []
    return {
        "event_id": event_id,
        "claim_id": claim_id,
        "submitted_at": at,
        "frequency": frequency,
        "coverage": coverage,
        "lines": lines
        if lines is not None
        else [{"line_id": "1", "procedure_code": "99214", "service_date": "2026-03-02", "charge": "150.00"}],
    }


def submitted_line(line_id: str = "1", charge: str = "150.00") -> dict[str, Any]:
    return {"line_id": line_id, "procedure_code": "99214", "service_date": "2026-03-02", "charge": charge}


def secondary_line(line_id: str = "1", *, paid: str = "10.00", allowed: str | None = "90.00", **kw: Any) -> dict:
    """A secondary line of the article's claim that balances: C 150, CO-45 and OA-23 make up the rest."""
    charge = Decimal(kw.pop("charge", "150.00"))
    extra = kw.pop("adjustments", None)
    if extra is None:
        rest = charge - Decimal(paid)
        extra = [adj("OA", "23", f"{rest:.2f}")]
    return line(line_id, charge=f"{charge:.2f}", paid=paid, allowed=allowed, adjustments=extra, **kw)


def profile(payer_id: str = "AETNA", **terms: Any) -> dict[str, Any]:
    return {"payer_id": payer_id, **terms}


def fee(payer_id: str, code: str, allowed: str, modifiers: Iterable[str] = ()) -> dict[str, Any]:
    return {"payer_id": payer_id, "procedure_code": code, "modifiers": list(modifiers), "allowed": allowed}


class Run:
    """An engine fed event by event, remembering everything it published."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.out: list[Published] = []
        self.offset = 0

    def send(self, topic: str, value: Any, key: str | None = None) -> list[Published]:
        self.offset += 1
        raw = value if value is None or isinstance(value, str | bytes) else json.dumps(value)
        if key is None and isinstance(value, dict):
            key = value.get("claim_id") or value.get("payer_id")
        emitted = self.engine.receive(topic, key, raw, offset=self.offset)
        self.out += emitted
        return emitted

    def primary(self, value: dict) -> list[Published]:
        return self.send("eob.primary", value)

    def secondary(self, value: dict) -> list[Published]:
        return self.send("eob.secondary", value)

    def submit(self, value: dict) -> list[Published]:
        return self.send("claims.submitted", value)

    def advance(self, now: str) -> list[Published]:
        """Move replay's clock (as `--now` does) and keep what the timers published."""
        emitted = self.engine.advance(datetime.fromisoformat(now))
        self.out += emitted
        return emitted

    def payer(self, value: dict) -> list[Published]:
        return self.send("reference.payers", value, key=value["payer_id"])

    def fee(self, value: dict) -> list[Published]:
        key = f"{value['payer_id']}|{value['procedure_code']}|{','.join(sorted(value['modifiers']))}"
        return self.send("reference.fee-schedule", value, key=key)

    def kinds(self, emitted: list[Published] | None = None) -> list[str]:
        """Each outcome as a short label: topic, with the kind or status where it has one."""
        labels = []
        for e in self.out if emitted is None else emitted:
            value = e.value
            detail = getattr(value, "kind", None) or getattr(value, "status", None)
            labels.append(f"{e.topic}:{detail}" if detail else e.topic)
        return labels

    def last(self, topic: str) -> Any:
        return next(e.value for e in reversed(self.out) if e.topic == topic)


def money(value: str) -> Decimal:
    return Decimal(value)
