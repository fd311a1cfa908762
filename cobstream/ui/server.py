"""Running `cobstream ui`: the topic reader and the web server on one event loop, stopped
cleanly on SIGINT or SIGTERM (the reader finishes the batch it is storing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from aiohttp import web

from cobstream.ui.app import create_app
from cobstream.ui.reader import TopicReader
from cobstream.ui.store import Store
from streams.settings import Settings

log = logging.getLogger("cobstream.ui")


async def serve(
    settings: Settings, store: Store, work_path: Path, host: str, port: int, *, secure_cookies: bool = False
) -> int:
    """Serve until stopped; 0 when stopped by a signal, 1 when the reader failed."""
    reader = TopicReader(settings, store)
    app = create_app(store.path, reader.status, work_path, secure_cookies=secure_cookies)
    # No aiohttp access log: a claim page's path is its claim id (who saw what: the work file's).
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        shown = f"[{host}]" if ":" in host else host
        print(f"cobstream ui: http://{shown}:{bound}/ (store {store.path})", flush=True)
        return await _until_stopped(reader)
    finally:
        await runner.cleanup()


async def _until_stopped(reader: TopicReader) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    reading = asyncio.create_task(reader.run(), name="cobstream-ui-reader")
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if reading.done() and not reading.cancelled() and reading.exception() is not None:
            error = reading.exception()
            log.error("the reader stopped: %s: %s", type(error).__name__, error)
            return 1
        return 0
    finally:
        for task in (reading, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        log.info("stopped")
