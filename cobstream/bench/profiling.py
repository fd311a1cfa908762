"""py-spy on a worker (`--profile`), and its collapsed stacks summed up."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cobstream.bench.options import ROOT, BenchError


class Profiler:
    """py-spy attached to a worker; `stop` leaves its collapsed stacks and a summary."""

    def __init__(self, folder: Path, pid: int, name: str) -> None:
        self.out = folder / f"{name}.pyspy.txt"
        folder.mkdir(parents=True, exist_ok=True)
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(spy).exists():
            raise BenchError("--profile needs py-spy (pip install py-spy)")
        with (folder / f"{name}.pyspy.log").open("wb") as log:
            self.process = subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--output", str(self.out)],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def stop(self) -> dict[str, Any]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if not self.out.exists():
            return {"error": "py-spy wrote nothing (see its .pyspy.log)"}
        return summarize_stacks(self.out.read_text().splitlines())


FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*)(?::\d+)?\)$")
LIBRARY = re.compile(r"^.*?lib/python3\.\d+/")


def _frame_name(frame: str) -> str:
    found = FRAME.match(frame.strip())
    if not found:
        return frame.strip()
    path = found.group("file")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif LIBRARY.match(path):
        path = LIBRARY.sub("", path, count=1)
    else:
        with contextlib.suppress(ValueError, OSError):
            path = str(Path(path).resolve().relative_to(ROOT))
    return f"{found.group('func')} ({path})"


def _package_of(name: str) -> str:
    path = name.rsplit("(", 1)[-1].rstrip(")")
    return path.split("/", 1)[0].removesuffix(".py") if "/" in path else path.removesuffix(".py")


def summarize_stacks(lines: Iterable[str], top: int = 25) -> dict[str, Any]:
    """Collapsed stacks (`frame;frame;... count`) to shares of samples: by the function on CPU
    (self), by every function on the stack (inclusive), and by the package on CPU."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        packages[_package_of(frames[-1])] += count
        for name in set(frames):
            inclusive[name] += count

    def shares(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"name": n, "share": round(c / total, 4)} for n, c in counter.most_common(top)]

    return {"samples": total, "self": shares(own), "inclusive": shares(inclusive), "self_by_package": shares(packages)}
