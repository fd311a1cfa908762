"""`cobstream audit`'s body: read (`read`), judge (`judge`, over `jobs` processes), print
(`report`), and the exit status (0 all accounted for, 1 anything missing, unexpected or
conflicting, 2 unusable arguments or broker, or a judging process lost), on the workers' input
path (COBSTREAM_INPUT_PATH, COBSTREAM_PARTITIONS). The command line: `cobstream.commands.audit`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from typing import IO

import orjson

from cobstream.audit.jobs import in_processes
from cobstream.audit.judge import audit
from cobstream.audit.read import AuditUnusable, read_records
from cobstream.audit.report import report_json, summary
from cobstream.shared.gc_tuning import survivors_frozen
from cobstream.shared.processes import available_cores
from streams.settings import Settings, SettingsError


def cmd_audit(args: argparse.Namespace) -> int:
    with survivors_frozen():  # it holds every record it reads until it has judged them
        return run_audit(since=args.since, until=args.until, as_json=args.json, jobs=args.jobs or available_cores())


def run_audit(
    *,
    since: datetime | None,
    until: datetime | None,
    as_json: bool = False,
    out: IO[str] = sys.stdout,
    jobs: int = 1,
) -> int:
    """`cobstream audit`: read, judge (the claims over `jobs` processes), print; the exit status."""
    if since is not None and until is not None and since > until:
        print("cobstream audit: --since must not be later than --until", file=sys.stderr)
        return 2
    # aiokafka logs each failed connection itself; the one line below says it all.
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    try:
        settings = Settings.from_env()
        records = asyncio.run(read_records(settings, since=since))
    except (SettingsError, AuditUnusable) as exc:
        print(f"cobstream audit: {exc}", file=sys.stderr)
        return 2
    retention = timedelta(days=settings.claim_retention_days)
    # On the direct input path the claims agent applies the records on their claim's partition
    # where they land: the audit needs the partition count to tell which.
    partitions = settings.partitions if settings.direct_topics else None
    try:
        report = audit(
            records,
            since=since,
            until=until,
            retention=retention,
            direct_partitions=partitions,
            judge=in_processes(jobs),
        )
    except BrokenProcessPool as exc:
        print(
            f"cobstream audit: a process judging claims ended without its share ({exc}); try fewer --jobs",
            file=sys.stderr,
        )
        return 2
    if as_json:
        out.write(orjson.dumps(report_json(report), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out.write(summary(report, settings.topic_prefix))
    return report.exit_status
