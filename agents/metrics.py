"""The worker's `/metrics` page: the Prometheus exposition of `streams.metrics` on the worker's
Faust web server, which binds `COBSTREAM_WEB_HOST` (127.0.0.1 unless set otherwise).

`register` adds the page, the task that times the event loop and the one that paces the garbage
collector (`cobstream.shared.gc_tuning.pace_collections`) to a worker's app.
docs/METRICS.md describes every metric.
"""

from __future__ import annotations

from faust.web import Request, Response, View
from prometheus_client.exposition import choose_encoder

from cobstream.shared.gc_tuning import pace_collections
from streams import metrics
from streams.app import Worker


def register(worker: Worker) -> None:
    """The page and the values read at each scrape (claim census, consumer lag, table
    recovery), for this worker's app (once per process)."""
    metrics.watch_worker(worker.app, worker.settings.topic_prefix)
    metrics.SERVING.set_function(lambda: 1.0 if worker.serving() else 0.0)

    @worker.app.task
    async def time_the_event_loop() -> None:
        await metrics.watch_event_loop()

    @worker.app.task
    async def pace_the_collector() -> None:
        await pace_collections()

    @worker.app.page("/metrics")
    async def prometheus_metrics(self: View, request: Request) -> Response:
        # Prometheus' text format, or OpenMetrics when the scraper asks for it.
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return self.bytes(encode(metrics.REGISTRY), headers={"Content-Type": content_type})
