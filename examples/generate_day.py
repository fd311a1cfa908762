#!/usr/bin/env python3
"""Write one realistic day (2026-03-24) of EOB traffic in the `cobstream replay` format.

    python3 examples/generate_day.py [OUTPUT]     # default: examples/day-2026-03-24.jsonl

Deterministic (no randomness, no clock): running it twice writes the same bytes. Standard
library only, and nothing from the project, so the file stays an independent statement of the
input. Lines go out in arrival order: first the billing office's reference data and the claims
it billed (`claims.submitted`, the coverage as registered: COVERAGE.md), then the EOBs as the
clearinghouse delivers them during the day, with a few malformed messages mixed in.

Every claim id is CLM-2026-NNNN; examples/README.md says what each claim demonstrates and the
outcome worked out by hand from docs/COB_RULES.md. There are no patient names or member ids:
the contract has no such fields.
"""

from __future__ import annotations

import copy
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_OUTPUT = Path(__file__).resolve().with_name("day-2026-03-24.jsonl")
COVERAGE = Path(__file__).resolve().with_name("coverage")  # the 837P and 835s of examples/coverage/

PAYER_NAMES = {
    "AETNA": "Aetna",
    "BCBS-TX": "Blue Cross and Blue Shield of Texas",
    "CIGNA": "Cigna",
    "HUMANA": "Humana",
    "MEDICARE": "Medicare Part B (Novitas JH)",
    "MEDIGAP-G": "Medicare Supplement Plan G",
    "TXMCD": "Texas Medicaid (TMHP)",
    "UHC": "UnitedHealthcare",
    "UMR": "UMR",
}

feed: list[dict[str, Any]] = []


def send(topic: str, key: str | None, value: Any) -> None:
    """One Kafka message, in arrival order."""
    feed.append({"topic": topic, "key": key, "value": copy.deepcopy(value)})


# --- building blocks -------------------------------------------------------------------------


def money(amount: str | Decimal) -> str:
    value = Decimal(amount)
    return f"{value:.2f}" if value else "0.00"  # never "-0.00"


def adj(spec: str) -> dict[str, str]:
    """'CO-45 50.00' -> {"group": "CO", "reason": "45", "amount": "50.00"}"""
    code, amount = spec.split()
    group, reason = code.split("-")
    return {"group": group, "reason": reason, "amount": money(amount)}


def line(
    line_id: str,
    code: str,
    charge: str,
    paid: str,
    *adjustments: str,
    allowed: str | None = None,
    modifiers: tuple[str, ...] = (),
    remarks: tuple[str, ...] = (),
    dos: str = "2026-03-02",
    check: bool = True,
) -> dict[str, Any]:
    """One service line (X12 SVC). `check` asserts the 835 balance: charge - adjustments = paid."""
    cas = [adj(spec) for spec in adjustments]
    if check:
        balance = Decimal(charge) - sum((Decimal(a["amount"]) for a in cas), Decimal(0))
        assert balance == Decimal(paid), f"line {line_id} {code}: {charge} - adjustments = {balance}, not {paid}"
    return {
        "line_id": line_id,
        "procedure_code": code,
        "modifiers": list(modifiers),
        "service_date": dos,
        "charge": money(charge),
        "paid": money(paid),
        "allowed": None if allowed is None else money(allowed),
        "adjustments": cas,
        "remarks": list(remarks),
    }


def at(clock: str, day: str = "2026-03-24", zone: str = "Z") -> str:
    return f"{day}T{clock}:00{zone}"


def eob(
    event_id: str, claim_id: str, payer_id: str, status: str, adjudicated_at: str, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "claim_id": claim_id,
        "payer_id": payer_id,
        "payer_name": PAYER_NAMES[payer_id],
        "payer_claim_number": f"{payer_id}-{event_id.removeprefix('EOB-')}",
        "status": status,
        "adjudicated_at": adjudicated_at,
        "secondary_payer_id": None,
        "lines": lines,
    }


UNSTATED = "<unstated>"  # an 835 without NM1*TT: the EOB does not say whether there is a secondary


def primary(
    claim_id: str,
    payer_id: str,
    adjudicated_at: str,
    secondary_payer_id: str | None,
    lines: list[dict[str, Any]],
    *,
    status: str = "processed",
    event_id: str | None = None,
) -> dict[str, Any]:
    event = eob(event_id or f"EOB-P-{claim_id}", claim_id, payer_id, status, adjudicated_at, lines)
    event["secondary_payer_id"] = secondary_payer_id
    if secondary_payer_id == UNSTATED:
        del event["secondary_payer_id"]
    send("eob.primary", claim_id, event)
    return event


def submission(claim_id: str, submitted_at: str, coverage: list[str | None], lines: list[tuple[str, str, str]]) -> None:
    """The claim as the office billed it: its payers in COB order (primary, secondary, tertiary;
    None: no payer in that place) and its lines (line id, procedure code, charge)."""
    roles = ("primary", "secondary", "tertiary")
    send(
        "claims.submitted",
        claim_id,
        {
            "event_id": f"SUB-{claim_id}",
            "claim_id": claim_id,
            "submitted_at": submitted_at,
            "frequency": "original",
            "coverage": [{"payer_id": p, "role": r} for p, r in zip(coverage, roles, strict=False) if p],
            "lines": [
                {"line_id": i, "procedure_code": code, "service_date": "2026-03-02", "charge": money(charge)}
                for i, code, charge in lines
            ],
        },
    )


def secondary(
    claim_id: str,
    payer_id: str,
    adjudicated_at: str,
    lines: list[dict[str, Any]],
    *,
    status: str = "processed",
    event_id: str | None = None,
) -> dict[str, Any]:
    event = eob(event_id or f"EOB-S-{claim_id}", claim_id, payer_id, status, adjudicated_at, lines)
    send("eob.secondary", claim_id, event)
    return event


def reversal(original: dict[str, Any], adjudicated_at: str) -> dict[str, Any]:
    """The payer's reversal (CLP02 22) of an earlier EOB: same lines, amounts negated."""

    def negate(amount: str | None) -> str | None:
        return None if amount is None else money(-Decimal(amount))

    lines = [
        {
            **ln,
            "charge": negate(ln["charge"]),
            "paid": negate(ln["paid"]),
            "allowed": negate(ln["allowed"]),
            "adjustments": [{**a, "amount": negate(a["amount"])} for a in ln["adjustments"]],
        }
        for ln in original["lines"]
    ]
    event = {**original, "event_id": original["event_id"] + "-R", "status": "reversed"}
    event.update(adjudicated_at=adjudicated_at, lines=lines)
    event["payer_claim_number"] = original["payer_claim_number"] + "-R"
    return event


def x12(name: str) -> None:
    """One X12 file of examples/coverage/ (a single transaction) as one `remittance.x12` message,
    all keyed by the office's id: one partition, so that a worker reads the 837 before the 835s
    whose lone denial needs it (docs/X12.md: publish the 837 first)."""
    send("remittance.x12", "RIVERBEND01", (COVERAGE / name).read_text(encoding="ascii"))


def payer(payer_id: str, **terms: Any) -> None:
    send("reference.payers", payer_id, {"payer_id": payer_id, **terms})


def fee(payer_id: str, code: str, allowed: str, modifiers: tuple[str, ...] = ()) -> None:
    key = f"{payer_id}|{code}|{','.join(sorted(modifiers))}"
    send(
        "reference.fee-schedule",
        key,
        {"payer_id": payer_id, "procedure_code": code, "modifiers": list(modifiers), "allowed": money(allowed)},
    )


# The day itself. One service line per source line, like an 835 listing, so the formatter is off.
# fmt: off
# --- 06:00 the billing office's reference data ------------------------------------------------

# Secondary payer profiles (a payer without one gets the contract defaults).
payer("AETNA", cob_method="lesser_of_allowables", in_network=True, coinsurance_rate="1.00", copay="0.00")
payer("CIGNA", cob_method="lesser_of_allowables", in_network=False, coinsurance_rate="1.00", copay="0.00")
payer("HUMANA", cob_method="standard", in_network=True, coinsurance_rate="0.80", copay="0.00")
payer("UMR", cob_method="non_duplication", in_network=True, coinsurance_rate="0.80", copay="0.00")
payer("MEDICARE", cob_method="medicare_secondary", in_network=True, coinsurance_rate="0.80", copay="0.00")
payer("TXMCD", cob_method="medicaid", copay="3.00", secondary_wait_days=60)
payer("MEDIGAP-G", cob_method="supplemental", covers_deductible=False)

# Secondary allowables the office has loaded (the rest come from the secondary EOBs).
fee("AETNA", "99214", "90.00")
fee("AETNA", "99213", "68.00")
fee("HUMANA", "80053", "13.50")
fee("MEDICARE", "99214", "125.00")
fee("MEDICARE", "97110", "31.00", modifiers=("GP",))  # therapy under a PT plan of care
fee("TXMCD", "99213", "55.00")

# --- 06:30 the claims the office billed, from its billing system (claims.submitted) -----------

# The article's claim as billed: BCBS-TX primary, AETNA secondary (agrees with the crossover).
submission("CLM-2026-0001", at("16:00", "2026-03-02"), ["BCBS-TX", "AETNA"], [("1", "99214", "150.00")])
# No secondary registered (agrees with the primary's null).
submission("CLM-2026-0008", at("16:00", "2026-03-02"), ["BCBS-TX"], [("1", "99213", "120.00")])
# CLM-2026-0037: billed to BCBS-TX with AETNA secondary; BCBS-TX's 835 will not cross it over.
submission("CLM-2026-0037", at("16:00", "2026-03-03"), ["BCBS-TX", "AETNA"], [("1", "99214", "150.00")])
# CLM-2026-0038: billed to UHC on 2026-03-02; UHC never answers (primary_overdue at --now).
submission("CLM-2026-0038", at("16:00", "2026-03-02"), ["UHC", "AETNA"], [("1", "99213", "120.00")])
# The office's 837P for CLM-2026-0201 and 0202 (BCBS-TX, then AETNA), raw X12 (examples/coverage/).
x12("claims-2026-03-03.837")

# --- 07:00 onwards: the day's EOBs, in arrival order ------------------------------------------

# CLM-2026-0002: the out-of-network secondary's EOB arrives before the primary's.
secondary("CLM-2026-0002", "CIGNA", at("07:40"), [
    line("1", "99213", "120.00", "13.00", "CO-45 35.00", "OA-23 72.00", allowed="85.00", dos="2026-03-03"),
])

# CLM-2026-0001: the article's example (primary allowed 100, paid 80, PR-2 20; secondary allowable 90).
primary("CLM-2026-0001", "BCBS-TX", at("14:00", "2026-03-05"), "AETNA", [
    line("1", "99214", "150.00", "80.00", "CO-45 50.00", "PR-2 20.00", allowed="100.00"),
])

# CLM-2026-0003: `standard` (HUMANA, r2 0.80), three lines; the CMP has a HUMANA fee-schedule entry.
primary("CLM-2026-0003", "BCBS-TX", at("11:20", "2026-03-04"), "HUMANA", [
    line("1", "99215", "250.00", "144.00", "CO-45 70.00", "PR-2 36.00", allowed="180.00"),
    line("2", "80053", "45.00", "12.00", "CO-45 30.00", "PR-2 3.00", allowed="15.00"),
    line("3", "36415", "20.00", "2.40", "CO-45 17.00", "PR-2 0.60", allowed="3.00"),
])

# CLM-2026-0020: ready today, then the primary reverses and reissues it (primary_reversed).
clm_0020_primary = primary("CLM-2026-0020", "BCBS-TX", at("09:10", "2026-03-03"), "AETNA", [
    line("1", "99214", "150.00", "80.00", "CO-45 50.00", "PR-2 20.00", allowed="100.00", dos="2026-03-01"),
])

# CLM-2026-0008: no secondary coverage: billing-ready at once, patient owes the copay.
primary("CLM-2026-0008", "BCBS-TX", at("15:30", "2026-03-06"), None, [
    line("1", "99213", "120.00", "60.00", "CO-45 35.00", "PR-3 25.00", allowed="85.00"),
])

# Malformed: a truncated 835-to-JSON conversion of CLM-2026-0029's primary (resent whole later).
clm_0029_primary = eob("EOB-P-CLM-2026-0029", "CLM-2026-0029", "AETNA", "processed", at("16:45", "2026-03-09"), [
    line("1", "99214", "150.00", "0.00", "CO-45 45.00", "PR-1 105.00", allowed="105.00"),
    line("2", "80053", "45.00", "0.00", "CO-45 30.00", "PR-1 15.00", allowed="15.00"),
    line("3", "36415", "20.00", "0.00", "CO-45 17.00", "PR-1 3.00", allowed="3.00"),
])
send("eob.primary", "CLM-2026-0029", json.dumps(clm_0029_primary)[:400])

# CLM-2026-0001: AETNA pays 10 (lesser of allowables): billing-ready, patient 0.
secondary("CLM-2026-0001", "AETNA", at("08:05"), [
    line("1", "99214", "150.00", "10.00", "CO-45 60.00", "OA-23 80.00", allowed="90.00"),
])

# CLM-2026-0002: the primary lands; the waiting secondary EOB is reconciled at once.
primary("CLM-2026-0002", "UHC", at("10:00", "2026-03-06"), "CIGNA", [
    line("1", "99213", "120.00", "72.00", "CO-45 30.00", "PR-2 18.00", allowed="90.00", dos="2026-03-03"),
])

# CLM-2026-0004: `non_duplication` (UMR, r2 0.80); line 2 went to the primary's deductible.
primary("CLM-2026-0004", "AETNA", at("13:05", "2026-03-09"), "UMR", [
    line("1", "99214", "180.00", "96.00", "CO-45 60.00", "PR-2 24.00", allowed="120.00"),
    line("2", "93000", "60.00", "0.00", "CO-45 40.00", "PR-1 20.00", allowed="20.00"),
])

# CLM-2026-0005: Medicare secondary payer (working aged, UHC group plan primary), 97110 with GP.
primary("CLM-2026-0005", "UHC", at("10:30", "2026-03-10"), "MEDICARE", [
    line("1", "99214", "175.00", "120.00", "CO-45 25.00", "PR-2 30.00", allowed="150.00"),
    line("2", "97110", "90.00", "12.00", "CO-45 50.00", "PR-1 25.00", "PR-2 3.00", allowed="40.00", modifiers=("GP",)),
])

# CLM-2026-0025: the secondary applies its own deductible (PR-1 62); its EOB arrives first.
secondary("CLM-2026-0025", "AETNA", at("08:30"), [
    line("1", "99213", "120.00", "6.00", "CO-45 52.00", "PR-1 62.00", allowed="68.00", dos="2026-03-09"),
])

# CLM-2026-0010: the secondary will deny with CO-22 (COB order).
primary("CLM-2026-0010", "UHC", at("09:45", "2026-03-11"), "AETNA", [
    line("1", "99214", "150.00", "88.00", "CO-45 40.00", "PR-2 22.00", allowed="110.00"),
])

# CLM-2026-0013: the secondary will underpay line 1.
primary("CLM-2026-0013", "UHC", at("14:15", "2026-03-12"), "AETNA", [
    line("1", "99214", "150.00", "80.00", "CO-45 50.00", "PR-2 20.00", allowed="100.00"),
    line("2", "93000", "60.00", "20.00", "CO-45 35.00", "PR-2 5.00", allowed="25.00"),
])

secondary("CLM-2026-0020", "AETNA", at("08:45"), [
    line("1", "99214", "150.00", "10.00", "CO-45 60.00", "OA-23 80.00", allowed="90.00"),
])

secondary("CLM-2026-0003", "HUMANA", at("09:00"), [
    line("1", "99215", "250.00", "36.00", "CO-45 80.00", "OA-23 134.00", allowed="170.00"),
    line("2", "80053", "45.00", "3.00", "CO-45 31.50", "OA-23 10.50", allowed="13.50"),
    line("3", "36415", "20.00", "0.60", "CO-45 17.00", "OA-23 2.40", allowed="3.00"),
])

# CLM-2026-0021: HUMANA first denies the CMP as non-covered, later reverses and pays it.
primary("CLM-2026-0021", "UHC", at("16:20", "2026-03-02"), "HUMANA", [
    line("1", "99215", "250.00", "144.00", "CO-45 70.00", "PR-2 36.00", allowed="180.00", dos="2026-02-24"),
    line("2", "80053", "45.00", "12.00", "CO-45 30.00", "PR-2 3.00", allowed="15.00", dos="2026-02-24"),
])

# CLM-2026-0023: a routine claim that will later draw a CARC-18 duplicate-claim notice.
primary("CLM-2026-0023", "UHC", at("12:00", "2026-03-05"), "AETNA", [
    line("1", "99214", "150.00", "80.00", "CO-45 50.00", "PR-2 20.00", allowed="100.00"),
    line("2", "36415", "20.00", "2.40", "CO-45 17.00", "PR-2 0.60", allowed="3.00"),
])

# CLM-2026-0026: the primary denies: not the primary payer (CO-109): COB order dispute, no estimate.
primary("CLM-2026-0026", "UHC", at("08:55", "2026-03-13"), "AETNA", [
    line("1", "99214", "150.00", "0.00", "CO-109 150.00"),
], status="denied")

# Malformed: HUMANA's coinsurance typed as a percent; dead-lettered, the 0.80 profile stays in force.
payer("HUMANA", cob_method="standard", in_network=True, coinsurance_rate="80", copay="0.00")

# CLM-2026-0007: Medigap Plan G (supplemental, no Part B deductible); its EOB arrives first.
secondary("CLM-2026-0007", "MEDIGAP-G", at("09:20"), [
    line("1", "99214", "150.00", "20.00", "CO-45 50.00", "OA-23 40.00", "PR-1 40.00", allowed="100.00"),
    line("2", "80053", "45.00", "2.80", "CO-45 31.00", "OA-23 11.20", allowed="14.00"),
])

# CLM-2026-0006: dual eligible: Medicare primary, Texas Medicaid secondary (state copay 3.00).
primary("CLM-2026-0006", "MEDICARE", at("07:15", "2026-03-16"), "TXMCD", [
    line("1", "99213", "120.00", "76.00", "CO-45 25.00", "PR-2 19.00", allowed="95.00"),
    line("2", "36415", "20.00", "2.40", "CO-45 17.00", "PR-2 0.60", allowed="3.00"),
    line("3", "71046", "110.00", "10.00", "CO-45 70.00", "PR-1 30.00", allowed="40.00"),
])

primary("CLM-2026-0007", "MEDICARE", at("07:15", "2026-03-16"), "MEDIGAP-G", [
    line("1", "99214", "150.00", "40.00", "CO-45 50.00", "PR-1 40.00", "PR-2 20.00", allowed="100.00"),
    line("2", "80053", "45.00", "11.20", "CO-45 31.00", "PR-2 2.80", allowed="14.00"),
])

# CLM-2026-0018: Medicaid secondary not in yet; TXMCD's 60-day wait is not over at --now.
primary("CLM-2026-0018", "MEDICARE", at("07:15", "2026-03-20"), "TXMCD", [
    line("1", "99213", "120.00", "72.00", "CO-45 30.00", "PR-2 18.00", allowed="90.00", dos="2026-03-12"),
])

# CLM-2026-0030: Medigap crossover for two physical-therapy visits.
primary("CLM-2026-0030", "MEDICARE", at("07:15", "2026-03-17"), "MEDIGAP-G", [
    line("1", "97110", "90.00", "25.20", "CO-45 58.50", "PR-2 6.30", allowed="31.50", modifiers=("GP",),
         dos="2026-03-05"),
    line("2", "97110", "90.00", "25.20", "CO-45 58.50", "PR-2 6.30", allowed="31.50", modifiers=("GP",),
         dos="2026-03-10"),
])

# CLM-2026-0033: dual eligible again; the Medicaid EOB arrives first.
secondary("CLM-2026-0033", "TXMCD", at("09:50"), [
    line("1", "99214", "150.00", "4.00", "CO-45 55.00", "OA-23 88.00", "PR-3 3.00", allowed="95.00",
         dos="2026-03-11"),
])
primary("CLM-2026-0033", "MEDICARE", at("07:15", "2026-03-18"), "TXMCD", [
    line("1", "99214", "150.00", "88.00", "CO-45 40.00", "PR-2 22.00", allowed="110.00", dos="2026-03-11"),
])

# CLM-2026-0009: Medicare secondary to a Cigna group plan that left PR-45 (provider out of Cigna's network).
primary("CLM-2026-0009", "CIGNA", at("10:10", "2026-03-10"), "MEDICARE", [
    line("1", "99215", "300.00", "120.00", "PR-45 150.00", "PR-2 30.00", allowed="150.00"),
])

# CLM-2026-0011: the primary names AETNA, but HUMANA sends the secondary EOB.
primary("CLM-2026-0011", "BCBS-TX", at("13:40", "2026-03-09"), "AETNA", [
    line("1", "99213", "120.00", "64.00", "CO-45 40.00", "PR-2 16.00", allowed="80.00"),
])

# CLM-2026-0012: the secondary will deny for want of the primary EOB (CO-16, MA04).
primary("CLM-2026-0012", "BCBS-TX", at("13:40", "2026-03-10"), "HUMANA", [
    line("1", "99213", "120.00", "64.00", "CO-45 40.00", "PR-2 16.00", allowed="80.00"),
    line("2", "36415", "20.00", "2.40", "CO-45 17.00", "PR-2 0.60", allowed="3.00"),
])

# CLM-2026-0014: the out-of-network secondary will overpay.
primary("CLM-2026-0014", "BCBS-TX", at("13:40", "2026-03-11"), "CIGNA", [
    line("1", "99215", "250.00", "136.00", "CO-45 80.00", "PR-2 34.00", allowed="170.00"),
])

# CLM-2026-0017: AETNA never answers: secondary_overdue once --now passes 30 days.
primary("CLM-2026-0017", "BCBS-TX", at("13:40", "2026-03-20"), "AETNA", [
    line("1", "99213", "120.00", "64.00", "CO-45 40.00", "PR-2 16.00", allowed="80.00", dos="2026-03-16"),
])

clm_0021_secondary = secondary("CLM-2026-0021", "HUMANA", at("10:15"), [
    line("1", "99215", "250.00", "36.00", "CO-45 80.00", "OA-23 134.00", allowed="170.00", dos="2026-02-24"),
    line("2", "80053", "45.00", "0.00", "CO-96 45.00", dos="2026-02-24"),
])

secondary("CLM-2026-0004", "UMR", at("10:30"), [
    line("1", "99214", "180.00", "0.00", "CO-45 65.00", "OA-23 115.00", allowed="115.00"),
    line("2", "93000", "60.00", "17.60", "CO-45 38.00", "OA-23 4.40", allowed="22.00"),
])

secondary("CLM-2026-0005", "MEDICARE", at("10:40"), [
    line("1", "99214", "175.00", "30.00", "CO-45 50.00", "OA-23 95.00", allowed="125.00"),
    line("2", "97110", "90.00", "24.80", "CO-45 59.00", "OA-23 6.20", allowed="31.00", modifiers=("GP",)),
])

secondary("CLM-2026-0006", "TXMCD", at("10:50"), [
    line("1", "99213", "120.00", "0.00", "CO-45 65.00", "OA-23 55.00", allowed="55.00"),
    line("2", "36415", "20.00", "0.00", "CO-45 16.50", "OA-23 3.50", allowed="3.50"),
    line("3", "71046", "110.00", "25.00", "CO-45 72.00", "OA-23 10.00", "PR-3 3.00", allowed="38.00"),
])

# Malformed: CLM-2026-0034's primary with a naive adjudicated_at (no zone); resent fixed later.
clm_0034_primary = eob("EOB-P-CLM-2026-0034", "CLM-2026-0034", "UHC", "processed", "2026-03-18T09:00:00", [
    line("1", "99213", "120.00", "65.60", "CO-45 38.00", "PR-2 16.40", allowed="82.00", dos="2026-03-13"),
])
send("eob.primary", "CLM-2026-0034", clm_0034_primary)

secondary("CLM-2026-0010", "AETNA", at("11:00"), [
    line("1", "99214", "150.00", "0.00", "CO-22 150.00"),
], status="denied")

secondary("CLM-2026-0011", "HUMANA", at("11:10"), [
    line("1", "99213", "120.00", "12.80", "CO-45 40.00", "OA-23 67.20", allowed="80.00"),
])

secondary("CLM-2026-0012", "HUMANA", at("11:20"), [
    line("1", "99213", "120.00", "0.00", "CO-16 120.00", remarks=("MA04",)),
    line("2", "36415", "20.00", "0.00", "CO-16 20.00", remarks=("MA04",)),
], status="denied", event_id="EOB-S-CLM-2026-0012-1")

clm_0022_primary = primary("CLM-2026-0022", "BCBS-TX", at("13:40", "2026-03-12"), "AETNA", [
    line("1", "99213", "120.00", "64.00", "CO-45 40.00", "PR-2 16.00", allowed="80.00"),
])

# CLM-2026-0024: the secondary pays the visit but not the EKG (CO-96 non-covered).
primary("CLM-2026-0024", "BCBS-TX", at("13:40", "2026-03-13"), "AETNA", [
    line("1", "99214", "150.00", "80.00", "CO-45 50.00", "PR-2 20.00", allowed="100.00"),
    line("2", "93000", "60.00", "20.00", "CO-45 35.00", "PR-2 5.00", allowed="25.00"),
])

# CLM-2026-0028: a four-line visit, every line reconciled under lesser-of-allowables.
primary("CLM-2026-0028", "BCBS-TX", at("13:40", "2026-03-16"), "AETNA", [
    line("1", "99215", "250.00", "140.00", "CO-45 75.00", "PR-2 35.00", allowed="175.00", dos="2026-03-09"),
    line("2", "80053", "45.00", "12.00", "CO-45 30.00", "PR-2 3.00", allowed="15.00", dos="2026-03-09"),
    line("3", "36415", "20.00", "2.40", "CO-45 17.00", "PR-2 0.60", allowed="3.00", dos="2026-03-09"),
    line("4", "93000", "60.00", "20.00", "CO-45 35.00", "PR-2 5.00", allowed="25.00", dos="2026-03-09"),
])

# CLM-2026-0031: out-of-network secondary: the patient keeps part of the balance.
primary("CLM-2026-0031", "BCBS-TX", at("13:40", "2026-03-17"), "CIGNA", [
    line("1", "99214", "175.00", "92.00", "CO-45 60.00", "PR-2 23.00", allowed="115.00"),
    line("2", "36415", "20.00", "2.40", "CO-45 17.00", "PR-2 0.60", allowed="3.00"),
])

# Malformed: CLM-2026-0035's line does not balance (CO-45 keyed as 30.00); resent fixed later.
clm_0035_primary = eob("EOB-P-CLM-2026-0035", "CLM-2026-0035", "BCBS-TX", "processed", at("13:40", "2026-03-18"), [
    line("1", "99213", "120.00", "64.00", "CO-45 30.00", "PR-2 16.00", allowed="80.00", check=False),
])
clm_0035_primary["secondary_payer_id"] = "AETNA"
send("eob.primary", "CLM-2026-0035", clm_0035_primary)

# CLM-2026-0036: the primary says there is no secondary coverage: billing-ready at once.
primary("CLM-2026-0036", "BCBS-TX", at("13:40", "2026-03-19"), None, [
    line("1", "99213", "120.00", "64.00", "CO-45 40.00", "PR-2 16.00", allowed="80.00"),
])

secondary("CLM-2026-0013", "AETNA", at("11:45"), [
    line("1", "99214", "150.00", "5.00", "CO-45 60.00", "OA-23 85.00", allowed="90.00"),
    line("2", "93000", "60.00", "4.00", "CO-45 36.00", "OA-23 20.00", allowed="24.00"),
])

secondary("CLM-2026-0014", "CIGNA", at("12:00"), [
    line("1", "99215", "250.00", "34.00", "CO-45 90.00", "OA-23 126.00", allowed="160.00"),
])

# CLM-2026-0015: the secondary's claim carries a venipuncture line the primary never saw.
primary("CLM-2026-0015", "AETNA", at("15:00", "2026-03-13"), "UMR", [
    line("1", "99213", "120.00", "64.00", "CO-45 40.00", "PR-2 16.00", allowed="80.00"),
])

# CLM-2026-0016: the secondary was billed 165.00 for the line the primary saw at 175.00.
primary("CLM-2026-0016", "UHC", at("15:00", "2026-03-14"), "HUMANA", [
    line("1", "99214", "175.00", "96.00", "CO-45 55.00", "PR-2 24.00", allowed="120.00"),
])

# CLM-2026-0027: `standard` where the secondary's own 80% benefit, not the balance, limits its payment.
primary("CLM-2026-0027", "AETNA", at("15:00", "2026-03-18"), "HUMANA", [
    line("1", "99214", "175.00", "20.00", "CO-45 75.00", "PR-1 60.00", "PR-2 20.00", allowed="100.00",
         dos="2026-03-11"),
])

secondary("CLM-2026-0030", "MEDIGAP-G", at("12:20"), [
    line("1", "97110", "90.00", "6.30", "CO-45 58.50", "OA-23 25.20", allowed="31.50", modifiers=("GP",),
         dos="2026-03-05"),
    line("2", "97110", "90.00", "6.30", "CO-45 58.50", "OA-23 25.20", allowed="31.50", modifiers=("GP",),
         dos="2026-03-10"),
])

secondary("CLM-2026-0009", "MEDICARE", at("12:30"), [
    line("1", "99215", "300.00", "65.00", "CO-45 115.00", "OA-23 120.00", allowed="185.00"),
])

secondary("CLM-2026-0022", "AETNA", at("12:40"), [
    line("1", "99213", "120.00", "4.00", "CO-45 52.00", "OA-23 64.00", allowed="68.00"),
])

secondary("CLM-2026-0023", "AETNA", at("12:45"), [
    line("1", "99214", "150.00", "10.00", "CO-45 60.00", "OA-23 80.00", allowed="90.00"),
    line("2", "36415", "20.00", "0.60", "CO-45 17.00", "OA-23 2.40", allowed="3.00"),
])

# CLM-2026-0020: BCBS-TX reverses its EOB (wrong date of service)...
send("eob.primary", "CLM-2026-0020", reversal(clm_0020_primary, at("13:00")))

secondary("CLM-2026-0015", "UMR", at("13:10"), [
    line("1", "99213", "120.00", "4.00", "CO-45 35.00", "OA-23 81.00", allowed="85.00"),
    line("2", "36415", "20.00", "0.00", "OA-23 20.00"),
])

secondary("CLM-2026-0016", "HUMANA", at("13:15"), [
    line("1", "99214", "165.00", "24.00", "CO-45 55.00", "OA-23 86.00", allowed="110.00"),
])

# The malformed primaries come back fixed, under the same event ids.
clm_0034_primary["adjudicated_at"] = "2026-03-18T09:00:00-05:00"
send("eob.primary", "CLM-2026-0034", clm_0034_primary)
clm_0035_primary["lines"][0]["adjustments"][0]["amount"] = "40.00"
send("eob.primary", "CLM-2026-0035", clm_0035_primary)
send("eob.primary", "CLM-2026-0029", clm_0029_primary)

secondary("CLM-2026-0024", "AETNA", at("13:30"), [
    line("1", "99214", "150.00", "10.00", "CO-45 60.00", "OA-23 80.00", allowed="90.00"),
    line("2", "93000", "60.00", "0.00", "CO-96 60.00"),
])

primary("CLM-2026-0025", "UHC", at("11:00", "2026-03-16"), "AETNA", [
    line("1", "99213", "120.00", "60.00", "CO-45 40.00", "PR-2 20.00", allowed="80.00", dos="2026-03-09"),
])

secondary("CLM-2026-0028", "AETNA", at("13:50"), [
    line("1", "99215", "250.00", "25.00", "CO-45 85.00", "OA-23 140.00", allowed="165.00", dos="2026-03-09"),
    line("2", "80053", "45.00", "2.00", "CO-45 31.00", "OA-23 12.00", allowed="14.00", dos="2026-03-09"),
    line("3", "36415", "20.00", "0.60", "CO-45 17.00", "OA-23 2.40", allowed="3.00", dos="2026-03-09"),
    line("4", "93000", "60.00", "4.00", "CO-45 36.00", "OA-23 20.00", allowed="24.00", dos="2026-03-09"),
])

secondary("CLM-2026-0031", "CIGNA", at("14:00"), [
    line("1", "99214", "175.00", "8.00", "CO-45 75.00", "OA-23 92.00", allowed="100.00"),
    line("2", "36415", "20.00", "0.10", "CO-45 17.50", "OA-23 2.40", allowed="2.50"),
])

# CLM-2026-0032: Medicare secondary applies its own Part B deductible (PR-1 50).
primary("CLM-2026-0032", "UHC", at("10:30", "2026-03-19"), "MEDICARE", [
    line("1", "99214", "175.00", "40.00", "CO-45 35.00", "PR-1 100.00", allowed="140.00"),
])
secondary("CLM-2026-0032", "MEDICARE", at("14:10"), [
    line("1", "99214", "175.00", "60.00", "CO-45 50.00", "PR-1 50.00", "OA-23 15.00", allowed="125.00"),
])

secondary("CLM-2026-0027", "HUMANA", at("14:15"), [
    line("1", "99214", "175.00", "72.00", "CO-45 85.00", "OA-23 18.00", allowed="90.00", dos="2026-03-11"),
])

# CLM-2026-0021: ...HUMANA reverses the EOB that denied the CMP...
send("eob.secondary", "CLM-2026-0021", reversal(clm_0021_secondary, at("14:20")))

# CLM-2026-0019: an AETNA EOB for a claim whose primary EOB never arrives (orphan_secondary).
secondary("CLM-2026-0019", "AETNA", at("14:30"), [
    line("1", "99214", "150.00", "18.00", "CO-45 60.00", "OA-23 72.00", allowed="90.00", dos="2026-03-06"),
])

# CLM-2026-0022: the clearinghouse redelivers the primary EOB (same event_id): no effect.
send("eob.primary", "CLM-2026-0022", clm_0022_primary)

# CLM-2026-0012: HUMANA reprocesses with the primary EOB attached and pays.
secondary("CLM-2026-0012", "HUMANA", at("15:00"), [
    line("1", "99213", "120.00", "16.00", "CO-45 40.00", "OA-23 64.00", allowed="80.00"),
    line("2", "36415", "20.00", "0.60", "CO-45 17.00", "OA-23 2.40", allowed="3.00"),
], event_id="EOB-S-CLM-2026-0012-2")

# CLM-2026-0020: ...and reissues it with the corrected date of service: ready again.
primary("CLM-2026-0020", "BCBS-TX", at("15:30"), "AETNA", [
    line("1", "99214", "150.00", "80.00", "CO-45 50.00", "PR-2 20.00", allowed="100.00"),
], event_id="EOB-P-CLM-2026-0020-C")

# CLM-2026-0021: ...and reissues it paying the CMP: ready again.
secondary("CLM-2026-0021", "HUMANA", at("15:45"), [
    line("1", "99215", "250.00", "36.00", "CO-45 80.00", "OA-23 134.00", allowed="170.00", dos="2026-02-24"),
    line("2", "80053", "45.00", "3.00", "CO-45 31.50", "OA-23 10.50", allowed="13.50", dos="2026-02-24"),
], event_id="EOB-S-CLM-2026-0021-C")

# CLM-2026-0023: AETNA's duplicate-claim notice (CO-18 on every line): ignored, and its
# adjudicated_at (16:55) does not move the replay clock: the next outcomes read 16:10 and 16:30.
secondary("CLM-2026-0023", "AETNA", at("16:55"), [
    line("1", "99214", "150.00", "0.00", "CO-18 150.00"),
    line("2", "36415", "20.00", "0.00", "CO-18 20.00"),
], status="denied", event_id="EOB-S-CLM-2026-0023-DUP")

secondary("CLM-2026-0035", "AETNA", at("16:10"), [
    line("1", "99213", "120.00", "4.00", "CO-45 52.00", "OA-23 64.00", allowed="68.00"),
])

# CLM-2026-0036: AETNA pays after all, though the primary named no secondary: ready voided, COB dispute.
secondary("CLM-2026-0036", "AETNA", at("16:30"), [
    line("1", "99213", "120.00", "4.00", "CO-45 52.00", "OA-23 64.00", allowed="68.00"),
])

# BCBS-TX's 835 for CLM-2026-0201 and 0202, without crossover: both wait for AETNA (the 837 says).
x12("remittance-2026-03-12-bcbstx.835")

# CLM-2026-0037: BCBS-TX's 835 without crossover (no NM1*TT): the submission says AETNA is
# secondary, so the claim waits for it instead of billing the patient the 20.00 PR-2.
primary("CLM-2026-0037", "BCBS-TX", at("16:40", "2026-03-12"), UNSTATED, [
    line("1", "99214", "150.00", "80.00", "CO-45 50.00", "PR-2 20.00", allowed="100.00"),
])

# CLM-2026-0039: UHC's 835 without crossover, and no submission for the claim: coverage unknown,
# the patient is not billed until someone verifies it.
primary("CLM-2026-0039", "UHC", at("16:45", "2026-03-13"), UNSTATED, [
    line("1", "99213", "120.00", "64.00", "CO-45 40.00", "PR-2 16.00", allowed="80.00"),
])

# CLM-2026-0040: the same for BCBS-TX; then the billing system publishes the claim as billed
# (AETNA secondary, TRICARE third): the estimate follows, and AETNA's EOB settles it.
primary("CLM-2026-0040", "BCBS-TX", at("16:50", "2026-03-13"), UNSTATED, [
    line("1", "99213", "120.00", "64.00", "CO-45 40.00", "PR-2 16.00", allowed="80.00"),
])
submission("CLM-2026-0040", at("17:00", "2026-03-03"), ["BCBS-TX", "AETNA", "TRICARE"], [("1", "99213", "120.00")])
secondary("CLM-2026-0040", "AETNA", at("17:10"), [
    line("1", "99213", "120.00", "4.00", "CO-45 52.00", "OA-23 64.00", allowed="68.00"),
])

# CLM-2026-0037: AETNA pays 10 (lesser of allowables): billing-ready, patient 0.
secondary("CLM-2026-0037", "AETNA", at("17:20"), [
    line("1", "99214", "150.00", "10.00", "CO-45 60.00", "OA-23 80.00", allowed="90.00"),
])

# AETNA's 835: pays 0201, denies 0202 (CLP02 4, CO-96) without saying whose turn it was: the
# claim's submission places the denial as the secondary's.
x12("remittance-2026-03-24-aetna.835")

# fmt: on


def main(argv: list[str]) -> int:
    output = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    with output.open("w", encoding="utf-8", newline="\n") as out:
        for message in feed:
            out.write(json.dumps(message) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
