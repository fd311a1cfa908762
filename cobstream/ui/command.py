"""`cobstream ui`'s bodies: serving (the reader and the web pages in one process, until Ctrl-C or
SIGTERM), managing its users, and printing its access log. Loopback by default; the broker
settings are the other commands' COBSTREAM_* variables (brokers, topic prefix, SASL/TLS). The
command line: `cobstream.commands.ui`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import getpass
import json
import logging
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from cobstream.ui import work
from cobstream.ui.server import serve
from cobstream.ui.store import DEFAULT_PATH, Store, StoreError
from streams.settings import Settings, SettingsError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def cmd_ui(args: argparse.Namespace) -> int:
    work_path = args.work_db or work.DEFAULT_WORK_PATH
    try:
        settings = Settings.from_env()
        with _work(work_path) as db:
            if not work.has_users(db):
                raise work.WorkError(
                    f"{work_path} has no user who can sign in: add one first with "
                    "`cobstream ui users add NAME --role admin`"
                )
        store = Store(args.db or DEFAULT_PATH, settings.topic_prefix)
    except (SettingsError, StoreError, work.WorkError) as exc:
        print(f"cobstream ui: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.host not in LOOPBACK and not args.secure_cookies:
        print(
            f"cobstream ui: listening on {args.host}, beyond this machine, without --secure-cookies: the pages show "
            "claim ids and amounts; serve them only behind TLS (README: Putting the work queue behind TLS)",
            file=sys.stderr,
        )
    try:
        return asyncio.run(serve(settings, store, work_path, args.host, args.port, secure_cookies=args.secure_cookies))
    except OSError as exc:
        print(f"cobstream ui: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _work(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """The work file, opened for one command and closed after it."""
    return contextlib.closing(work.connect_work(path))


def cmd_users(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    try:
        with _work(args.work_db or work.DEFAULT_WORK_PATH) as db:
            return _users(db, args, now)
    except work.WorkError as exc:
        print(f"cobstream ui users: {exc}", file=sys.stderr)
        return 2


def _users(db: sqlite3.Connection, args: argparse.Namespace, now: datetime) -> int:
    command = args.users_command
    if command == "list":
        for user, created in work.users(db):
            state = "disabled" if user.disabled else "enabled"
            print(f"{user.name}\t{user.role}\t{state}\tadded {created:%Y-%m-%d}")
        return 0
    if command == "add":
        work.add_user(db, work.check_user_name(args.name), args.role, _password(args), now)
        print(f"added {args.name} as {args.role}")
    elif command == "role":
        work.set_role(db, args.name, args.role, now)
        print(f"{args.name} is now a {args.role}")
    elif command == "password":
        work.set_password(db, args.name, _password(args), now)
        print(f"password of {args.name} changed; their sessions are ended")
    elif command == "disable":
        work.disable_user(db, args.name, now)
        print(f"{args.name} can no longer sign in; their sessions are ended")
    else:
        work.enable_user(db, args.name, now)
        print(f"{args.name} can sign in again")
    return 0


def _password(args: argparse.Namespace) -> str:
    """The new password: the first line of standard input, or asked twice on the terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise work.WorkError("no terminal to ask the password on: pass --password-stdin and pipe it in")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise work.WorkError("the two passwords differ")
    return first


def cmd_access_log(args: argparse.Namespace) -> int:
    try:
        since = datetime.fromisoformat(args.since) if args.since else None
    except ValueError:
        print(f"cobstream ui access-log: --since {args.since!r} is not an ISO 8601 date or time", file=sys.stderr)
        return 2
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    try:
        with _work(args.work_db or work.DEFAULT_WORK_PATH) as db:
            entries = work.access_log(db, since)
    except work.WorkError as exc:
        print(f"cobstream ui access-log: {exc}", file=sys.stderr)
        return 2
    if args.format == "jsonl":
        for entry in entries:
            print(json.dumps(entry, ensure_ascii=False))
        return 0
    writer = csv.DictWriter(sys.stdout, fieldnames=work.ACCESS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(entries)
    return 0
