"""The public sample corpus: real-world X12 835 and FHIR files converted exactly as pinned.

This module owns tests/data/corpus/: `x12/` (835 remittances, converted with
`models.remittance.convert_x12`, each file on its own, no roles known from earlier files) and `fhir/`
(ExplanationOfBenefit resources, Bundles and NDJSON, converted with `convert_fhir`). Every corpus file
`F` is a public sample copied unchanged from an open-source repository whose licence allows it; the
folder's SOURCES.md names its repository, path, commit, licence and copyright holder.

Next to `F` lies `F.expected.jsonl`: one JSON object per item the converter returns, in file order:

- `{"event": {"topic", "key", "value"}}` for a `ConvertedEob` (its replay line),
- `{"rejected": {"where", "claim_id", "error"}}` for a `ConversionRejected`, `error` being the full
  refusal reason,
- `{"reported": "..."}` for a `ProviderAdjustment` or a `PaymentNotice` (their `describe()`).

The tests check, per file, that the converter still returns exactly that; that every corpus file is
listed in its folder's SOURCES.md and every SOURCES.md row has its file; and that every expected file
has its corpus file.

To (re)write the expected files after a deliberate change to a converter:

    COBSTREAM_CORPUS_WRITE=1 .venv/bin/pytest tests/test_corpus.py
    COBSTREAM_CORPUS_WRITE=1 .venv/bin/pytest tests/test_corpus.py -k x12    # one folder only

Warning: a rewritten expected file is what the converter does now, not what it should do. Read every
changed line by hand against its corpus file (amounts, adjustments, refusal reasons) before committing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from models.remittance import (
    ConversionRejected,
    ConvertedEob,
    ConvertedSubmission,
    Item,
    PaymentNotice,
    ProviderAdjustment,
    convert_fhir,
    convert_x12,
)

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
SOURCES = "SOURCES.md"
EXPECTED = ".expected.jsonl"
WRITE = os.environ.get("COBSTREAM_CORPUS_WRITE") == "1"

CONVERTERS: dict[str, Callable[[bytes], list[Item]]] = {
    "x12": convert_x12,  # each file on its own: no roles known from earlier files
    "x12_837": convert_x12,  # claims as submitted: 837P and 837I, read by the same entry point
    "fhir": convert_fhir,
}


def corpus_files(folder: str) -> list[Path]:
    """The sample files of one corpus folder (not SOURCES.md, not expected files, not dotfiles)."""
    where = CORPUS / folder
    if not where.is_dir():
        return []
    return sorted(
        path
        for path in where.iterdir()
        if path.is_file()
        and path.name != SOURCES
        and not path.name.endswith(EXPECTED)
        and not path.name.startswith(".")
    )


def expected_path(sample: Path) -> Path:
    return sample.with_name(sample.name + EXPECTED)


def record(item: Item) -> dict[str, Any]:
    """One converter item as the JSON object its expected file holds."""
    if isinstance(item, ConvertedEob | ConvertedSubmission):
        return {"event": item.replay_line()}
    if isinstance(item, ConversionRejected):
        return {"rejected": {"where": item.where, "claim_id": item.claim_id, "error": item.error}}
    if isinstance(item, ProviderAdjustment | PaymentNotice):
        return {"reported": item.describe()}
    raise TypeError(f"unexpected converter item {type(item).__name__}")


def converted_lines(folder: str, sample: Path) -> list[bytes]:
    """The expected file's lines for what the converter makes of `sample` today."""
    items = CONVERTERS[folder](sample.read_bytes())
    return [orjson.dumps(record(item)) for item in items]


def listed_files(sources: Path) -> list[str]:
    """The file names in the first column of SOURCES.md's table (header and rule rows skipped)."""
    names = []
    for line in sources.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or not cells[0]:
            continue
        name = cells[0].strip("`")
        if name.lower() != "file" and not re.fullmatch(r":?-+:?", name):
            names.append(name)
    return names


CASES = [
    pytest.param(folder, path, id=f"{folder}/{path.name}") for folder in CONVERTERS for path in corpus_files(folder)
]


@pytest.mark.parametrize(("folder", "sample"), CASES)
def test_sample_converts_exactly_as_expected(folder: str, sample: Path) -> None:
    lines = converted_lines(folder, sample)
    expected = expected_path(sample)
    if WRITE:
        expected.write_bytes(b"".join(line + b"\n" for line in lines))
    assert expected.is_file(), (
        f"{expected.name} is missing: run COBSTREAM_CORPUS_WRITE=1 .venv/bin/pytest tests/test_corpus.py, "
        "then read it by hand against the sample"
    )
    want = [orjson.loads(line) for line in expected.read_bytes().splitlines() if line.strip()]
    got = [orjson.loads(line) for line in lines]
    assert got == want, f"{sample.name} no longer converts as {expected.name} says"


@pytest.mark.parametrize("folder", [f for f in CONVERTERS if (CORPUS / f).is_dir()])
def test_sources_list_every_sample_and_only_samples(folder: str) -> None:
    samples = {path.name for path in corpus_files(folder)}
    sources = CORPUS / folder / SOURCES
    if not samples:
        pytest.skip(f"no samples in corpus/{folder} yet")
    assert sources.is_file(), f"corpus/{folder} has samples but no {SOURCES}"
    listed = listed_files(sources)
    duplicates = sorted({name for name in listed if listed.count(name) > 1})
    assert not duplicates, f"listed more than once in corpus/{folder}/{SOURCES}: {duplicates}"
    assert sorted(samples - set(listed)) == [], f"samples missing from corpus/{folder}/{SOURCES}"
    assert sorted(set(listed) - samples) == [], f"{SOURCES} rows without their file in corpus/{folder}"


@pytest.mark.parametrize("folder", [f for f in CONVERTERS if (CORPUS / f).is_dir()])
def test_every_expected_file_has_its_sample(folder: str) -> None:
    orphans = [
        path.name
        for path in (CORPUS / folder).glob(f"*{EXPECTED}")
        if not path.with_name(path.name.removesuffix(EXPECTED)).is_file()
    ]
    assert orphans == [], f"expected files without their sample in corpus/{folder}"


def test_corpus_folders_are_the_converters_folders() -> None:
    """A folder nobody converts would silently pin nothing."""
    folders = {path.name for path in CORPUS.iterdir() if path.is_dir()} if CORPUS.is_dir() else set()
    assert folders <= set(CONVERTERS), f"corpus folders without a converter: {sorted(folders - set(CONVERTERS))}"
