"""Progress on a terminal for the long commands (`produce`, `convert`, `bench`).

A bar is drawn on standard error only when standard error is a terminal; piped or redirected
(CI logs, `2> file`, the tests' subprocesses) nothing extra is written, so the commands' own
lines stay exactly as documented. `COBSTREAM_PROGRESS=0` turns bars off on a terminal too.
tqdm does the drawing; this module only decides when, and names the units.
"""

from __future__ import annotations

import os
import sys
from typing import IO

from tqdm import tqdm


def wanted(stream: IO[str]) -> bool:
    """Whether to draw on `stream`: a terminal, unless COBSTREAM_PROGRESS=0."""
    if os.environ.get("COBSTREAM_PROGRESS", "").strip() in {"0", "false", "no", "off"}:
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _size(stream: IO[str]) -> tuple[int, int]:
    """The terminal's columns and lines, or 80 x 24 where it reports none (a pseudo-terminal
    without a size, where tqdm would otherwise draw nothing at all)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return 80, 24
    return size.columns or 80, size.lines or 24


def bar(description: str, total: float | None = None, unit: str = "msg", *, stream: IO[str] | None = None) -> tqdm:
    """A progress bar (a silent one when not `wanted`): `update(n)`, `close()`, or `with`.

    `unit="B"` counts bytes in KiB/MiB; any other unit counts items with k/M suffixes.
    """
    out = stream if stream is not None else sys.stderr
    scaled = unit == "B"
    columns, lines = _size(out)
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        unit_scale=scaled,
        unit_divisor=1024 if scaled else 1000,
        file=out,
        disable=not wanted(out),
        ncols=columns,
        nrows=lines,
        leave=True,
        mininterval=0.2,
    )
