"""`cobstream convert x12|fhir FILE...`'s body: payers' remittances (and the provider's 837
claims) into replay JSON Lines.

Standard output gets one replay line (`{"topic", "key", "value"}`, CONTRACT.md) per converted
EOB, and per claim submission of an 837 (topic `claims.submitted`), in file order, so that
`cobstream convert x12 claims.837 a.835 | cobstream replay -` reconciles the remittances against
what was billed. Standard error gets one line per rejection (file, where, claim, reason), per
provider adjustment and per payment notice, then a summary. `--dead-letters FILE` also writes
each rejection as the contract's `DeadLetter` (JSON Lines shaped like replay's output), with the
reason and the original segments: a rejection never travels as a replay line, because replay
would dead-letter it for a JSON reason and lose the real one (docs/X12.md, "Rejections").

Exit status: 0 when everything converted, 1 when something was rejected (the rest is still
written), 2 when a file or an argument is unusable (unreadable, empty, not X12 / not JSON).
The command line: `cobstream.commands.convert`.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO

import orjson

from cobstream.shared.progress import bar
from models.contract.events import Role
from models.remittance import (
    ConversionRejected,
    ConvertedEob,
    ConvertedSubmission,
    Item,
    KnownRoles,
    PaymentNotice,
    ProviderAdjustment,
    convert_fhir,
    convert_x12,
)
from models.remittance.decode import Rejected, dead_letter

Converter = Callable[[bytes, KnownRoles], list[Item]]


def converter(kind: str) -> Converter:
    """The conversion for a format."""
    if kind == "x12":
        return lambda data, known: convert_x12(data, known_roles=known)
    return lambda data, _known: convert_fhir(data)  # FHIR's insurance list says the role


def cmd_convert(args: argparse.Namespace) -> int:
    try:
        letters = open(args.dead_letters, "wb") if args.dead_letters else None  # noqa: SIM115
    except OSError as exc:
        print(f"cobstream convert: cannot write {args.dead_letters}: {exc.strerror}", file=sys.stderr)
        return 2
    run = _Run(converter(args.format), sys.stdout.buffer, sys.stderr, letters)
    try:
        with bar(f"convert {args.format}", total=_bytes_of(args.files), unit="B") as progress:
            for path in args.files:
                run.file(path)
                progress.update(_bytes_of([path]) or 0)
                progress.set_postfix_str(f"{run.counts['events']:,} EOB events", refresh=False)
    finally:
        if letters:
            letters.close()
    sys.stdout.flush()
    print(run.summary(), file=sys.stderr)
    return run.status


def _bytes_of(paths: list[str]) -> int | None:
    """The files' total size, for the progress bar (None when one is standard input or unreadable)."""
    try:
        return sum(Path(p).stat().st_size for p in paths) if "-" not in paths else None
    except OSError:
        return None


class _Run:
    """One command's conversion: files in order, roles learnt from earlier files (EOBs, and the
    coverage of submissions) kept for later ones."""

    def __init__(self, convert: Converter, out: IO[bytes], err: IO[str], letters: IO[bytes] | None) -> None:
        self.convert, self.out, self.err, self.letters = convert, out, err, letters
        self.known_roles: dict[tuple[str, str], Role] = {}
        self.counts: Counter[str] = Counter()
        self.status = 0

    def file(self, path: str) -> None:
        data = self._read(path)
        if data is None:
            return
        items = self.convert(data, self.known_roles)
        if all(isinstance(i, ConversionRejected) and i.unit == "file" for i in items):
            self._unusable(path, "; ".join(i.reason for i in items if isinstance(i, ConversionRejected)))
            return
        self.counts["files"] += 1
        for item in items:
            self._emit(path, item)

    def _read(self, path: str) -> bytes | None:
        try:
            if path == "-":
                return sys.stdin.buffer.read()
            with open(path, "rb") as source:
                return source.read()
        except OSError as exc:
            self._unusable(path, f"cannot read it: {exc.strerror}")
            return None

    def _unusable(self, path: str, reason: str) -> None:
        print(f"{path}: unusable: {reason}", file=self.err)
        self.counts["unusable"] += 1
        self.status = 2

    def _emit(self, path: str, item: Item) -> None:
        if isinstance(item, ConvertedEob):
            self.out.write(orjson.dumps(item.replay_line()) + b"\n")
            self.known_roles[(item.event.payer_id, item.event.claim_id)] = item.role
            self.counts["events"] += 1
        elif isinstance(item, ConvertedSubmission):
            self.out.write(orjson.dumps(item.replay_line()) + b"\n")
            self.known_roles.update(item.roles())
            self.counts["submissions"] += 1
        elif isinstance(item, ConversionRejected):
            self._rejected(path, item)
        elif isinstance(item, ProviderAdjustment | PaymentNotice):
            print(f"{path}: reported: {item.where}: {item.describe()}", file=self.err)
            self.counts["reported"] += 1

    def _rejected(self, path: str, item: ConversionRejected) -> None:
        subject = f"claim {item.claim_id}" if item.claim_id else item.unit
        topic = f" ({item.topic})" if item.topic else ""
        print(f"{path}: rejected {subject}{topic}: {item.error}", file=self.err)
        self.counts["rejected"] += 1
        self.status = max(self.status, 1)
        if self.letters is not None:
            letter = dead_letter(
                Rejected(f"{path}: {item.error}", item.claim_id),
                source_topic=item.topic,
                partition=None,
                offset=item.position,
                key=item.claim_id,
                raw=item.original,
                received_at=None,
            )
            line = {"topic": "eob.dead-letter", "key": item.claim_id, "value": letter.model_dump(mode="json")}
            self.letters.write(orjson.dumps(line) + b"\n")

    def summary(self) -> str:
        c = self.counts
        submissions = f" and {c['submissions']} submissions" if c["submissions"] else ""
        return (
            f"converted {c['events']} EOB events{submissions} from {c['files']} file(s); {c['rejected']} rejected, "
            f"{c['reported']} reported (not claim events)"
            + (f", {c['unusable']} unusable file(s)" if c["unusable"] else "")
        )
