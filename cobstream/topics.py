"""`cobstream topics create`'s body: every topic of the contract with its partitions and cleanup
policy (the command line: `cobstream.commands.topics`)."""

from __future__ import annotations

import argparse

from streams.settings import Settings
from streams.topics import run_create_topics


def cmd_topics(args: argparse.Namespace) -> int:
    for line in run_create_topics(Settings.from_env()):
        print(line)
    return 0
