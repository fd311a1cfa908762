"""Progress bars appear on a terminal and nowhere else: piped output (CI logs, scripts reading
stderr) must keep exactly the commands' own lines."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from cobstream.shared.progress import bar, wanted

ROOT = Path(__file__).resolve().parents[1]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_the_counts() -> None:
    screen = Terminal()
    with bar("produce day.jsonl", total=40, unit="msg", stream=screen) as progress:
        progress.update(10)
        progress.update(30)
    drawn = screen.getvalue()
    assert "produce day.jsonl" in drawn
    assert "40/40" in drawn
    assert "100%" in drawn


def test_bytes_are_counted_in_binary_units() -> None:
    screen = Terminal()
    with bar("produce big.jsonl", total=3 * 1024**2, unit="B", stream=screen) as progress:
        progress.update(3 * 1024**2)
    assert "3.00M/3.00M" in screen.getvalue()


def test_a_pipe_gets_nothing() -> None:
    log = io.StringIO()
    with bar("produce day.jsonl", total=40, stream=log) as progress:
        progress.update(40)
    assert log.getvalue() == ""
    assert not wanted(log)


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_cobstream_progress_0_turns_bars_off_on_a_terminal(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("COBSTREAM_PROGRESS", value)
    screen = Terminal()
    with bar("convert x12", total=5, stream=screen) as progress:
        progress.update(5)
    assert screen.getvalue() == ""


def test_convert_piped_writes_only_its_report_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cobstream.cli", "convert", "x12", str(ROOT / "examples" / "remittance-2026-03-24.835")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "%|" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("converted ")


def test_convert_on_a_terminal_draws_a_bar_over_the_files(tmp_path: Path) -> None:
    example = ROOT / "examples" / "remittance-2026-03-24.835"
    command = f"{sys.executable} -m cobstream.cli convert x12 {example} {example} > {tmp_path / 'out.jsonl'}"
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"], capture_output=True, text=True, check=False, timeout=120
    )
    screen = done.stdout.replace("\r", "\n")
    assert "convert x12: 100%" in screen, screen
    assert "EOB events" in screen
    # Standard output, redirected, holds the events and nothing of the bar.
    assert "%|" not in (tmp_path / "out.jsonl").read_text()
