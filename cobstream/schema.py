"""`cobstream schema`'s body: the JSON Schema of every event of the contract (the command line:
`cobstream.commands.schema`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import BaseModel

from models.contract.events import EobEvent, FeeScheduleEntry, PayerProfile
from models.contract.outcomes import DeadLetter, ExpectedSecondaryPayment, PatientBillingReady, PaymentDiscrepancy

# Inputs are described as they are read, outputs as they are written.
SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "EobEvent": (EobEvent, "validation"),
    "PayerProfile": (PayerProfile, "validation"),
    "FeeScheduleEntry": (FeeScheduleEntry, "validation"),
    "ExpectedSecondaryPayment": (ExpectedSecondaryPayment, "serialization"),
    "PatientBillingReady": (PatientBillingReady, "serialization"),
    "PaymentDiscrepancy": (PaymentDiscrepancy, "serialization"),
    "DeadLetter": (DeadLetter, "serialization"),
}


def all_schemas() -> dict[str, dict]:
    return {name: model.model_json_schema(mode=mode) for name, (model, mode) in SCHEMAS.items()}  # type: ignore[arg-type]


def write_schemas(folder: str | None) -> int:
    schemas = all_schemas()
    if folder is None:
        json.dump(schemas, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        (out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(schemas)} schemas to {out}", file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    return write_schemas(args.out)
