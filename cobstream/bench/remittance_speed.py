"""How fast remittances and claims convert: a generated N-claim 835 (and the same claims as FHIR
NDJSON, and as the 837P that billed them) through `models.remittance`, in claims per second.
Reports numbers; never fails on a timing.

    python -m cobstream.bench.remittance_speed [CLAIMS]

`measure_x12(claims)`, `measure_837(claims)` and `measure_fhir(claims)` return plain dicts, ready
for `cobstream bench`'s JSON.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from models.remittance import ConvertedEob, ConvertedSubmission, convert_fhir, convert_x12
from models.remittance.fhir_adjudication import CARIN_ADJUDICATION, HL7_ADJUDICATION

ISA = "ISA*00*          *00*          *ZZ*BENCHPAYER     *ZZ*BENCHPROVIDER  *260324*0615*^*00501*000000001*0*P*:~"


def generate_835(claims: int, lines_per_claim: int = 2) -> bytes:
    """One interchange, one transaction, `claims` primary claim payments with a crossover, each
    with `lines_per_claim` balanced service lines (charge 150.00, allowed 100.00, paid 80.00)."""
    body = [
        f"BPR*I*{80 * lines_per_claim * claims}*C*ACH*CCP*01*111000025*DA*0012345678*1760000000**01"
        "*113000023*DA*9*20260324~",
        "TRN*1*EFTBENCH0001*1760000000~",
        "DTM*405*20260323~",
        "N1*PR*BENCH PAYER~",
        "N3*PO BOX 1~",
        "N4*DALLAS*TX*75266~",
        "REF*2U*BCBS-TX~",
        "PER*BL*EDI*TE*8005551212~",
        "N1*PE*BENCH PROVIDER*XX*1234567893~",
        "LX*1~",
    ]
    for n in range(1, claims + 1):
        charge, paid, patient = 150 * lines_per_claim, 80 * lines_per_claim, 20 * lines_per_claim
        body += [
            f"CLP*CLM-{n:07d}*19*{charge}*{paid}*{patient}*12*P{n:09d}*11*1~",
            "NM1*QC*1*SAMPLE*PATIENT****MI*XJB000000001~",
            "NM1*TT*2*AETNA*****PI*AETNA~",
        ]
        for line in range(1, lines_per_claim + 1):
            body += [
                "SVC*HC:99214:25*150*80**1~",
                "DTM*472*20260302~",
                "CAS*CO*45*50~",
                "CAS*PR*2*20~",
                f"REF*6R*{n}-{line}~",
                "AMT*B6*100~",
            ]
    envelope_head = [ISA, "GS*HP*BENCHPAYER*BENCHPROVIDER*20260324*0615*1*X*005010X221A1~", "ST*835*0001~"]
    trailer = [f"SE*{len(body) + 2}*0001~", "GE*1*1~", "IEA*1*000000001~"]
    return "\n".join([*envelope_head, *body, *trailer]).encode("ascii") + b"\n"


def generate_837(claims: int, lines_per_claim: int = 2) -> bytes:
    """One interchange, one 837P transaction, the claims of `generate_835` as billed: each claim
    for its own patient (a subscriber loop 2000B: BCBS-TX primary; the guide allows at most 100
    claims a subscriber), AETNA secondary (loops 2320/2330B), `lines_per_claim` lines of 150.00
    with REF*6R line ids."""
    body = [
        "BHT*0019*00*BENCH0001*20260320*1015*CH~",
        "NM1*41*2*BENCH PROVIDER*****46*BENCHPROVIDER~",
        "PER*IC*BILLING*TE*5125550100~",
        "NM1*40*2*BENCH PAYER*****46*BENCHPAYER~",
        "HL*1**20*1~",
        "NM1*85*2*BENCH PROVIDER*****XX*1234567893~",
        "N3*1 MAIN ST~",
        "N4*AUSTIN*TX*78701~",
        "REF*EI*741234567~",
    ]
    for n in range(1, claims + 1):
        body += [
            f"HL*{n + 1}*1*22*0~",
            "SBR*P*18*GRP1******CI~",
            f"NM1*IL*1*SAMPLE*PATIENT****MI*XJB{n:09d}~",
            "NM1*PR*2*BENCH PAYER*****PI*BCBS-TX~",
            f"CLM*CLM-{n:07d}*{150 * lines_per_claim}***11:B:1*Y*A*Y*Y~",
            "HI*ABK:J020~",
            "SBR*S*01*GRP2******CI~",
            "OI***Y***Y~",
            f"NM1*IL*1*SAMPLE*SPOUSE****MI*W{n:09d}~",
            "NM1*PR*2*AETNA*****PI*AETNA~",
        ]
        for line in range(1, lines_per_claim + 1):
            body += [f"LX*{line}~", "SV1*HC:99214:25*150*UN*1***1~", "DTP*472*D8*20260302~", f"REF*6R*{n}-{line}~"]
    envelope_head = [
        "ISA*00*          *00*          *ZZ*BENCHPROVIDER  *ZZ*BENCHPAYER     *260320*1015*^*00501*000000001*0*P*:~",
        "GS*HC*BENCHPROVIDER*BENCHPAYER*20260320*1015*1*X*005010X222A1~",
        "ST*837*0001*005010X222A1~",
    ]
    trailer = [f"SE*{len(body) + 2}*0001~", "GE*1*1~", "IEA*1*000000001~"]
    return "\n".join([*envelope_head, *body, *trailer]).encode("ascii") + b"\n"


def generate_fhir_ndjson(claims: int) -> bytes:
    """`claims` primary ExplanationOfBenefit resources, one per line, one item each."""
    lines = []
    for n in range(1, claims + 1):
        eob = {
            "resourceType": "ExplanationOfBenefit",
            "id": f"eob-{n}",
            "status": "active",
            "use": "claim",
            "outcome": "complete",
            "created": "2026-03-23T10:00:00Z",
            "insurer": {"identifier": {"value": "BCBS-TX"}},
            "claim": {"identifier": {"value": f"CLM-{n:07d}"}},
            "insurance": [{"focal": True, "coverage": {"reference": "Coverage/c1"}}],
            "item": [
                {
                    "sequence": 1,
                    "productOrService": {"coding": [{"code": "99214"}]},
                    "servicedDate": "2026-03-02",
                    "adjudication": [
                        {"category": {"coding": [{"system": system, "code": c}]}, "amount": {"value": v}}
                        for system, c, v in (
                            (HL7_ADJUDICATION, "submitted", 150),
                            (HL7_ADJUDICATION, "eligible", 100),
                            (CARIN_ADJUDICATION, "coinsurance", 20),
                            (HL7_ADJUDICATION, "benefit", 80),
                        )
                    ],
                }
            ],
        }
        lines.append(json.dumps(eob))
    return ("\n".join(lines) + "\n").encode()


def measure_x12(claims: int = 10_000, lines_per_claim: int = 2, repeats: int = 3) -> dict[str, Any]:
    data = generate_835(claims, lines_per_claim)
    return _measure("x12-835", lambda: convert_x12(data), claims, repeats, bytes_in=len(data))


def measure_837(claims: int = 10_000, lines_per_claim: int = 2, repeats: int = 3) -> dict[str, Any]:
    data = generate_837(claims, lines_per_claim)
    return _measure("x12-837P", lambda: convert_x12(data), claims, repeats, bytes_in=len(data))


def measure_fhir(claims: int = 10_000, repeats: int = 3) -> dict[str, Any]:
    data = generate_fhir_ndjson(claims)
    return _measure("fhir-ndjson", lambda: convert_fhir(data), claims, repeats, bytes_in=len(data))


def _measure(name: str, run: Any, claims: int, repeats: int, *, bytes_in: int) -> dict[str, Any]:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        items = run()
        best = min(best, time.perf_counter() - started)
    converted = sum(isinstance(i, ConvertedEob | ConvertedSubmission) for i in items)
    return {
        "format": name,
        "claims": claims,
        "converted": converted,
        "bytes": bytes_in,
        "seconds": round(best, 3),
        "claims_per_second": round(converted / best) if best else None,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    claims = int(args[0]) if args else 10_000
    for result in (measure_x12(claims), measure_837(claims), measure_fhir(claims)):
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
