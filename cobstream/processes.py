"""Stopping a child process politely: SIGTERM, then SIGKILL if it does not exit in time."""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
