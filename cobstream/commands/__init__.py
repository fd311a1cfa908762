"""The command lines: one module per `cobstream` subcommand, all registered the same way.

Each module here exposes `register(subparsers) -> None`, which adds the command's parser (its
arguments, help and description) and sets `run` with `parser.set_defaults(run=deferred(...))`.
`cobstream.cli` lists these modules once, in the order `cobstream --help` shows them, and loops.

A module here imports only argparse and light helpers (`cobstream.shared.arguments`, the bench's
options): the command's body lives in its own module (`cobstream.replay`, `cobstream.audit`...),
named by `deferred("module:function")` and imported only when that command runs. So `cobstream
replay --help` does not load Faust, aiokafka, aiohttp and the whole core for the other commands
(about 0.8 s measured on the development machine), while every file keeps its imports at the top.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

Command = Callable[[argparse.Namespace], int]


def deferred(target: str, *fields: str) -> Command:
    """The command's body, `module:function`, imported when the command runs (as an entry point is).

    The function gets the parsed arguments, or, when `fields` are named, those attributes of them
    in order (for a body that does not take argparse's namespace).
    """
    module, _, name = target.partition(":")

    def run(args: argparse.Namespace) -> int:
        body = getattr(importlib.import_module(module), name)
        return body(*(getattr(args, field) for field in fields)) if fields else body(args)

    run.__qualname__ = run.__name__ = f"deferred({target})"
    return run
