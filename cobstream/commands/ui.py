"""`cobstream ui`'s command line: serving (`cobstream ui`), its users (`cobstream ui users ...`)
and its access log (`cobstream ui access-log`); the bodies are `cobstream.ui.command`'s."""

from __future__ import annotations

import argparse
from pathlib import Path

from cobstream.commands import deferred

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6067
ROLES = ("viewer", "biller", "admin")  # cobstream.ui.work.ROLES, not imported here (argon2, sqlite)

DESCRIPTION = """\
Serve the discrepancy work queue: open discrepancies (blocking first, then oldest, then the
largest difference), filterable by payer, kind, assignee and status; a page per claim with the
team's work on each discrepancy (assign, status, resolution, notes), its explanation and event
history; appeal letters (page and PDF); the payer scorecard; CSV exports.

People sign in: add them first with `cobstream ui users add NAME --role viewer|biller|admin`.
A reader in the same process copies the environment's input, reference and output topics
(COBSTREAM_BROKERS, COBSTREAM_TOPIC_PREFIX, COBSTREAM_SECURITY_PROTOCOL, ...) into a local SQLite
file (--db, rebuilt from the topics when deleted). The team's work, the users and the access log
are in another (--work-db): that one is the team's record, back it up. Keep the default
loopback address unless TLS is in front of it (README, docs/UI.md)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    ui = subparsers.add_parser(
        "ui",
        help="the discrepancy work queue in the browser (sign-in, work, appeals, scorecard)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ui.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    ui.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    ui.add_argument(
        "--db", type=Path, default=None, help="the SQLite copy of the topics (default .cobstream-ui.sqlite3)"
    )
    _work_db(ui)
    ui.add_argument(
        "--secure-cookies",
        action="store_true",
        help="mark the session cookie Secure (set it when the pages are served over HTTPS, behind TLS)",
    )
    ui.set_defaults(run=deferred("cobstream.ui.command:cmd_ui"))
    tasks = ui.add_subparsers(dest="ui_command", metavar="SUBCOMMAND")
    _users(tasks)
    log = tasks.add_parser("access-log", help="print the access log (who saw or did what, when) as CSV or JSON lines")
    _work_db(log)
    log.add_argument("--since", default=None, help="from this date or time on (ISO 8601, UTC), e.g. 2026-12-01")
    log.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="output format (default csv)")
    log.set_defaults(run=deferred("cobstream.ui.command:cmd_access_log"))


def _work_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--work-db", type=Path, default=None,
        help="the team's work, users and access log (default .cobstream-work.sqlite3)",
    )  # fmt: skip


def _users(tasks: argparse._SubParsersAction) -> None:
    users = tasks.add_parser("users", help="who may sign in, and with which role")
    actions = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a user (asks for the password, or reads it from --password-stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True, help="viewer reads; biller also acts; admin also audits")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    role = actions.add_parser("role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    password = actions.add_parser("password", help="set a user's password (ends their sessions)")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    for name, words in (("disable", "stop a user signing in (ends their sessions)"), ("enable", "let them again")):
        actions.add_parser(name, help=words).add_argument("name")
    actions.add_parser("list", help="list the users, their roles and whether they are enabled")
    for parser in actions.choices.values():
        _work_db(parser)
    users.set_defaults(run=deferred("cobstream.ui.command:cmd_users"))
