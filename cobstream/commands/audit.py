"""`cobstream audit`'s command line; the body is `cobstream.audit.command.cmd_audit`."""

from __future__ import annotations

import argparse

from cobstream.commands import deferred
from cobstream.shared.arguments import positive_int, timestamp_argument

AUDIT_DESCRIPTION = """\
Account for every EOB and every outcome on the topics of COBSTREAM_TOPIC_PREFIX, after an
incident. Reads eob.primary, eob.secondary, claims.submitted, remittance.x12, the reference
topics, the internal cobstream.claim-events topic and the output topics (no consumer group,
read_committed), each partition up to its end offset when the audit reaches it, and replays each
claim's claim events through the core in the order the workers applied them. It reports every
EOB not taken in (neither a claim event nor a dead letter), every outcome the core publishes for
an accepted EOB that is missing or differs, every outcome without an input, every revision gap,
and every conflicting duplicate (the same event_id with different bytes); identical repeats are
counted as harmless, dead letters are counted by reason. Findings name claim ids, event ids and
topic[partition]@offset places, never amounts.

On the direct input path (COBSTREAM_INPUT_PATH=direct, the default) the claims agent applies an
EOB or submission on its claim's partition (by COBSTREAM_PARTITIONS, which must be the workers')
where it lands, with no claim event: such a record counts as taken in and is replayed at its own
place. The workers record no order between a partition's input topics and its claim-events: when
a claim's outcomes are not those of record-time order, the other orders that keep each topic's
offset order are tried, and a claim whose outcomes one of them gives is accepted and counted.

With --since/--until only the EOBs whose record time is in the range are audited; the output
topics are read from --since to their end (outcomes of those claims may come later), and
cobstream.claim-events (on the direct path eob.primary, eob.secondary and claims.submitted too)
is always read from its beginning (a claim's replay needs its whole history). Run it once the
workers have caught up: EOBs still in flight show as not taken in. The workers'
COBSTREAM_CLAIM_RETENTION_DAYS must be set alike (forgotten claims start again).

The claims are judged by --jobs processes (by default one per core), each a share of them, once
every record is read: the report is the same with any number.

Exit status: 0 everything accounted for; 1 anything missing, unexpected, differing or
conflicting; 2 unusable arguments, settings or broker, or a judging process that ended without
its share, killed for memory say (one line on stderr)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    audit = subparsers.add_parser(
        "audit",
        help="account for every EOB and outcome on the topics (exit 1 when anything is missing)",
        description=AUDIT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument(
        "--since", type=timestamp_argument, help="audit the EOBs received from this time (ISO 8601 with a zone)"
    )
    audit.add_argument(
        "--until", type=timestamp_argument, help="audit the EOBs received up to this time (ISO 8601 with a zone)"
    )
    audit.add_argument("--json", action="store_true", help="print the report as JSON instead of a summary")
    audit.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        metavar="N",
        help="processes that judge the claims, each a share of them (default: the cores this machine gives it)",
    )
    audit.set_defaults(run=deferred("cobstream.audit.command:cmd_audit"))
