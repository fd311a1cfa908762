"""Realistic synthetic EOB traffic, for benchmarks and resilience tests (deterministic per seed).

Each claim has 1-6 lines and a primary EOB from a commercial payer naming one of several
secondary payers (every COB method); the secondary EOB pays what COB says it should, except for
about 5% of claims where it under- or overpays. About 1% of EOBs are sent twice, and some
secondaries arrive before their primaries.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cobstream.engine import Engine
from models.cob.claim import EobReceived
from models.cob.settlement import compute_claim
from models.remittance.decode import decode

PROCEDURES = ("99213", "99214", "99215", "80053", "36415", "93000", "71046", "97110")
PRIMARIES = ("BCBS-TX", "UHC", "AETNA-P", "CIGNA-P")
SECONDARIES: dict[str, dict] = {
    "AETNA": {"cob_method": "lesser_of_allowables"},
    "CIGNA": {"cob_method": "lesser_of_allowables", "in_network": False},
    "HUMANA": {"cob_method": "standard", "coinsurance_rate": "0.80"},
    "UMR": {"cob_method": "non_duplication", "coinsurance_rate": "0.80"},
    "MEDICARE": {"cob_method": "medicare_secondary", "coinsurance_rate": "0.80"},
    "TXMCD": {"cob_method": "medicaid", "copay": "3.00"},
    "MEDIGAP-G": {"cob_method": "supplemental", "covers_deductible": False},
}


def secondary_payer_of(primary: dict) -> str:
    return primary["secondary_payer_id"]


def _money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


@dataclass
class Traffic:
    claims: int
    seed: int = 7
    start: datetime = datetime(2026, 3, 1, tzinfo=UTC)
    secondary_first_share: float = 0.1
    discrepancy_share: float = 0.05
    duplicate_share: float = 0.01

    def reference(self) -> list[dict]:
        records = [
            {"topic": "reference.payers", "key": payer, "value": {"payer_id": payer, **terms}}
            for payer, terms in SECONDARIES.items()
        ]
        for payer in ("AETNA", "MEDICARE", "TXMCD"):
            for code in PROCEDURES[:4]:
                allowed = 9000 + 500 * PROCEDURES.index(code)
                records.append(
                    {
                        "topic": "reference.fee-schedule",
                        "key": f"{payer}|{code}|",
                        "value": {
                            "payer_id": payer,
                            "procedure_code": code,
                            "modifiers": [],
                            "allowed": _money(allowed),
                        },
                    }
                )
        return records

    def claim(self, rng: random.Random, n: int) -> tuple[dict, dict]:
        claim_id = f"CLM-{self.seed}-{n:08d}"
        secondary_payer = rng.choice(list(SECONDARIES))
        at = self.start + timedelta(minutes=n)
        lines, secondary_lines = [], []
        for index in range(1, rng.randint(1, 6) + 1):
            charge = rng.randrange(5_000, 40_000, 100)
            allowed = charge * rng.randint(55, 90) // 100
            deductible = rng.choice((0, 0, 0, allowed // 4))
            coinsurance = (allowed - deductible) // 5
            paid = allowed - deductible - coinsurance
            code = rng.choice(PROCEDURES)
            adjustments = [
                {"group": "CO", "reason": "45", "amount": _money(charge - allowed)},
                {"group": "PR", "reason": "2", "amount": _money(coinsurance)},
            ]
            if deductible:
                adjustments.append({"group": "PR", "reason": "1", "amount": _money(deductible)})
            lines.append(
                {
                    "line_id": str(index),
                    "procedure_code": code,
                    "service_date": at.date().isoformat(),
                    "charge": _money(charge),
                    "paid": _money(paid),
                    "allowed": _money(allowed),
                    "adjustments": adjustments,
                }
            )
            secondary_lines.append(
                {
                    "line_id": str(index),
                    "procedure_code": code,
                    "service_date": at.date().isoformat(),
                    "charge": _money(charge),
                    "paid": "0.00",
                    "allowed": None,
                    "adjustments": [],
                }
            )
        primary = {
            "event_id": f"P-{claim_id}",
            "claim_id": claim_id,
            "payer_id": rng.choice(PRIMARIES),
            "status": "processed",
            "adjudicated_at": at.isoformat(),
            "secondary_payer_id": secondary_payer,
            "lines": lines,
        }
        secondary = {
            "event_id": f"S-{claim_id}",
            "claim_id": claim_id,
            "payer_id": secondary_payer,
            "status": "processed",
            "adjudicated_at": (at + timedelta(days=14)).isoformat(),
            "lines": secondary_lines,
        }
        return primary, secondary

    def records(self) -> Iterator[dict]:
        """Replay records: reference data, then the claims' EOBs (paid as COB says, mostly)."""
        rng = random.Random(self.seed)
        yield from self.reference()
        engine = Engine()
        for record in self.reference():
            engine.receive(record["topic"], record["key"], json.dumps(record["value"]))
        for n in range(self.claims):
            primary, secondary = self.claim(rng, n)
            # What the secondary should pay, line by line, from the core itself.
            decoded = decode("eob.primary", None, json.dumps(primary))
            assert isinstance(decoded, EobReceived), decoded
            expected_lines = compute_claim(decoded.eob, secondary_payer_of(primary), engine.reference).lines
            skew = 0
            if rng.random() < self.discrepancy_share:
                skew = rng.choice((-500, 700))
            for line, expected in zip(secondary["lines"], expected_lines, strict=True):
                paid = max(0, int(expected.expected_paid * 100) + skew)
                skew = 0
                line["paid"] = _money(paid)
                rest = int(Decimal(line["charge"]) * 100) - paid
                line["adjustments"] = [{"group": "OA", "reason": "23", "amount": _money(rest)}]
            first, second = ("eob.secondary", secondary), ("eob.primary", primary)
            order = [first, second] if rng.random() < self.secondary_first_share else [second, first]
            for topic, value in order:
                record = {"topic": topic, "key": value["claim_id"], "value": value}
                yield record
                if rng.random() < self.duplicate_share:
                    yield record

    def lines(self) -> Iterator[bytes]:
        for record in self.records():
            yield json.dumps(record).encode() + b"\n"
