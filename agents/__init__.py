"""The worker's agents, pages and tasks, and `build_worker`, the one place a worker is built:
the Faust app with its topics and claims table, the reference reader, the claims' write path,
and every agent registered on them. Importing any module here builds nothing."""

from __future__ import annotations

from datetime import timedelta

from agents import claims, explain, intake, metrics
from streams import kafka_internals
from streams import metrics as worker_metrics
from streams.app import Worker, create_app, declare_claims_table, declare_topics
from streams.claim_writer import ClaimWriter
from streams.reference import ReferenceReader
from streams.settings import Settings


def build_worker(settings: Settings) -> Worker:
    """A worker for these settings, with every agent registered."""
    app = create_app(settings)
    topics = declare_topics(app, settings)
    table = declare_claims_table(app, settings)
    reference = ReferenceReader(settings)

    def committed_offset(topic: str, partition: int) -> int:
        """The offset this worker last committed for a partition of a topic (contract name; -1 if
        none): outbox entries below it will never be delivered again."""
        found = kafka_internals.committed_offset(app, settings.topic(topic), partition)
        return found if found is not None else -1

    retention = timedelta(days=settings.claim_retention_days)
    writer = ClaimWriter(table, reference.reference, retention, committed_offset, worker_metrics.census)
    worker = Worker(settings, app, topics, table, reference, writer)
    for agent in (intake, claims, explain, metrics):
        agent.register(worker)
    return worker
