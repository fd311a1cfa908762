"""`cobstream worker`: the Faust worker with cobstream's agents.

Before Faust starts, `streams.preflight` checks the settings against the cluster (reachable, login,
topics and their partitions) so that a bad configuration ends the worker at once with one line
on stderr, instead of Faust retrying for ever or failing later in a traceback. Once running, the
worker rides out a broker that goes away (Faust reconnects).
"""

from __future__ import annotations

import logging
import os
import sys

import faust
import mode.loop

from agents import build_worker
from cobstream.shared.gc_tuning import tune_gc
from models.contract.topics import CLAIM_EVENTS
from streams import metrics
from streams.preflight import PreflightError, run_preflight
from streams.restore import restore_before_start
from streams.settings import Settings, SettingsError

CONFIG_ERROR = 2

# Debug lines of Faust and aiokafka that print whole messages (EOBs: patient data, amounts), by
# the logger that writes them: the template, and which of its arguments are message contents.
PAYLOAD_LINES = {
    "faust.topics": ("send: topic=%r k=%r v=%r", (1, 2)),
    "faust.transport.drivers.aiokafka": ("send: topic=%r k=%r v=%r", (1, 2)),
    "aiokafka.producer.producer": ("Sending (key=%s value=%s)", (0, 1)),
    "faust.agents.agent": ("%r yielded: %r", (1,)),
}


class Size:
    """Stands for message contents in a log line: only their size shows."""

    def __init__(self, value: object) -> None:
        self.text = "None" if value is None else f"<{len(value) if hasattr(value, '__len__') else '?'} bytes>"

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


class RedactPayloads(logging.Filter):
    """Keeps the debug line (topic, partition, timestamp) but not the key and value it carries."""

    def __init__(self, template: str, positions: tuple[int, ...]) -> None:
        super().__init__()
        self.template, self.positions = template, positions

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and self.template in record.msg and isinstance(record.args, tuple):
            record.args = tuple(Size(a) if i in self.positions else a for i, a in enumerate(record.args))
        return True


def redact_payloads() -> None:
    for name, (template, positions) in PAYLOAD_LINES.items():
        logging.getLogger(name).addFilter(RedactPayloads(template, positions))


def fail(message: str, code: int) -> int:
    print(f"cobstream worker: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def report_bulk_restore(app: object, line: str | None) -> None:
    """Log what the bulk restore did once Faust has set logging up (it ran before)."""
    if line is None:
        return

    async def bulk_restore_report() -> None:
        logging.getLogger("cobstream.restore").info("%s", line)

    app.task(bulk_restore_report)  # type: ignore[attr-defined]


def run_worker(loglevel: str | None = None) -> int:
    try:
        found = Settings.from_env()
    except SettingsError as exc:
        return fail(str(exc), CONFIG_ERROR)

    if os.environ.get("COBSTREAM_EVENT_LOOP", "asyncio") == "uvloop":
        # Faster (see docs/PERFORMANCE.md), but not the default until the two-worker stall
        # seen in the scale-out benchmark is understood.
        mode.loop.use("uvloop")  # before anything creates an event loop

    try:
        run_preflight(found)
    except PreflightError as exc:
        return fail(str(exc), exc.exit_code)

    worker = build_worker(found)
    settings, app = worker.settings, worker.app
    redact_payloads()
    tune_gc()
    metrics.watch_gc()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    report_bulk_restore(app, restore_before_start(settings, worker.claims.table))
    faust_worker = faust.Worker(
        app,
        loglevel=loglevel or settings.log_level,
        redirect_stdouts=False,
        quiet=True,
    )
    logging.getLogger("cobstream").info(
        "worker for group %s on %s; input path %s (the claims agent reads %s)",
        settings.group_id,
        settings.brokers,
        settings.input_path,
        ", ".join((CLAIM_EVENTS, *settings.direct_topics)),
    )
    faust_worker.execute_from_commandline()  # exits the process when the worker stops
    return 0
