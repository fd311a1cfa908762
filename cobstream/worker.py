"""`cobstream worker`: the Faust worker with cobstream's agents."""

from __future__ import annotations

import logging
import sys


def run_worker(loglevel: str | None = None) -> int:
    from streams.settings import SettingsError

    try:
        import agents.claims
        import agents.intake  # noqa: F401 - registers the agents on the app
        from streams.app import app, settings
    except SettingsError as exc:
        print(f"cobstream worker: {exc}", file=sys.stderr)
        return 2
    import faust

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(
        app,
        loglevel=loglevel or settings.log_level,
        redirect_stdouts=False,
        quiet=True,
    )
    logging.getLogger("cobstream").info("worker for group %s on %s", settings.group_id, settings.brokers)
    worker.execute_from_commandline()  # exits the process when the worker stops
    return 0
