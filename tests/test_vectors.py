"""Every shared replay vector (../shared/vectors) through the `cobstream replay` command."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT.parent / "shared" / "vectors"
CLI = [sys.executable, "-m", "cobstream.cli"]

names = sorted(p.name.removesuffix(".expected.jsonl") for p in VECTORS.glob("*.expected.jsonl"))


@pytest.mark.skipif(not VECTORS.is_dir(), reason=f"shared vectors not found at {VECTORS}")
@pytest.mark.parametrize("name", names)
def test_vector(name: str, tmp_path: Path) -> None:
    args_file = VECTORS / f"{name}.args"
    args = shlex.split(args_file.read_text()) if args_file.exists() else []
    out = tmp_path / "out.jsonl"
    with out.open("wb") as sink:
        subprocess.run([*CLI, "replay", *args, str(VECTORS / f"{name}.jsonl")], stdout=sink, check=True, cwd=ROOT)
    compared = subprocess.run(
        [sys.executable, str(VECTORS / "compare.py"), str(VECTORS / f"{name}.expected.jsonl"), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert compared.returncode == 0, compared.stdout


def test_vectors_present() -> None:
    if not VECTORS.is_dir():
        pytest.skip(f"shared vectors not found at {VECTORS}")
    assert len(names) >= 20
