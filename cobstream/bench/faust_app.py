"""The bench's Faust passthroughs: Faust's own ceiling with the worker's settings.

    python -m cobstream.bench.faust_app passthrough   # the `faust` phase
    python -m cobstream.bench.faust_app table         # the `faust_table` phase

A minimal Faust app built by `streams.app.create_app` from the same `COBSTREAM_*` environment
as `cobstream worker` (so the same Faust settings and the same safe transport), with one agent
that reads the EOB topics and sends each message unchanged to `cobstream.claim-events`:
    async for event in stream.events():
        table[key] = event.value          # `table` only
        await out.send(key=event.key, value=event.value)

`table` writes each message to a table declared like the worker's claims table (same name, so
the same changelog topic, store, RocksDB options and topic configs) before sending it on: the
work the worker's claims agent does per claim event, without decoding anything. Nothing is
decoded or validated in either.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import faust
import mode.loop

from cobstream.shared.gc_tuning import tune_gc
from models.contract.topics import CLAIM_EVENTS, EOB_TOPICS
from streams import app as worker_app
from streams.settings import Settings

MODES = ("passthrough", "table")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cobstream.bench.faust_app")
    parser.add_argument("mode", choices=MODES)
    kind = parser.parse_args(argv).mode

    settings = Settings.from_env()
    if os.environ.get("COBSTREAM_EVENT_LOOP", "asyncio") == "uvloop":
        mode.loop.use("uvloop")  # as `cobstream worker` does, before any loop exists

    app = worker_app.create_app(settings)
    source = app.topic(
        *(settings.topic(name) for name in EOB_TOPICS),
        key_serializer=worker_app.RAW,
        value_serializer=worker_app.RAW,
        partitions=settings.partitions,
    )
    out = app.topic(settings.topic(CLAIM_EVENTS), key_serializer=worker_app.RAW, value_serializer=worker_app.RAW)
    # The worker's own declaration of the claims table (name, RocksDB options, topic configs).
    table = worker_app.declare_claims_table(app, settings).table if kind == "table" else None

    @app.agent(source, name="passthrough")
    async def passthrough(stream: faust.StreamT) -> None:
        async for event in stream.events():
            if table is not None:
                table[event.key if event.key is not None else b""] = event.value
            await out.send(key=event.key, value=event.value)

    tune_gc()  # as the worker does
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(app, loglevel=settings.log_level, redirect_stdouts=False, quiet=True)
    logging.getLogger("cobstream").info("bench Faust %s for group %s on %s", kind, settings.group_id, settings.brokers)
    worker.execute_from_commandline()  # exits the process when the worker stops
    return 0


if __name__ == "__main__":
    sys.exit(main())
