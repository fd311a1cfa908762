"""A cobstream command run as a user runs it, in a child process, and measured from the child's own
accounting (`wait4`): wall and CPU seconds and peak RSS. The replay and audit phases time their
commands with it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, TypeVar

from cobstream.bench.options import MIB

T = TypeVar("T")


@dataclass(frozen=True)
class CommandRun:
    """How one `cobstream ...` child ran."""

    exit_code: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    last_error_line: str  # its standard error's last line ("" if none)


def run_measured(
    arguments: list[str], env: Mapping[str, str], consume: Callable[[IO[bytes]], T]
) -> tuple[T, CommandRun]:
    """`python -m cobstream.cli ARGUMENTS` with `env`; `consume` reads its standard output while it
    runs (so a large output is never held), and its result comes back with the measures."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "cobstream.cli", *arguments],
            stdout=subprocess.PIPE,
            stderr=err,
            env={**env, "PYTHONHASHSEED": "0"},
        )
        assert child.stdout is not None
        consumed = consume(child.stdout)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        last = err.read().decode(errors="replace").strip().splitlines()[-1:]
    return consumed, CommandRun(
        exit_code=child.returncode,
        seconds=round(seconds, 3),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 3),
        peak_rss_mib=round(usage.ru_maxrss * 1024 / MIB, 1),  # Linux: kilobytes
        last_error_line=last[0] if last else "",
    )
