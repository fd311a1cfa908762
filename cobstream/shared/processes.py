"""Child processes (workers started by the demo, the bench and the tests; the audit's judging
processes): a free port for one, stopping one politely (SIGTERM, then SIGKILL if it does not exit
in time), and how many cores there are to run them on."""

from __future__ import annotations

import os
import socket
import subprocess


def available_cores() -> int:
    """The cores this process may run on (`audit --jobs`'s default, the bench's machine)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a worker's web server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
