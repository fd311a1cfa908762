"""`cobstream topics create`'s command line; the body is `cobstream.topics.cmd_topics`."""

from __future__ import annotations

import argparse

from cobstream.commands import deferred


def register(subparsers: argparse._SubParsersAction) -> None:
    topics = subparsers.add_parser("topics", help="manage the Kafka topics of the contract")
    actions = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create every topic with its partitions and cleanup policy")
    create.set_defaults(run=deferred("cobstream.topics:cmd_topics"))
