"""The work queue's team record: who may sign in (users, roles, sessions), the work done on each
discrepancy (assignments, statuses, resolutions, notes) and the access log.

One SQLite file (`--work-db`, default `.cobstream-work.sqlite3`) beside the topic store and never
rebuilt: the topic store is a copy of the topics that can be read again, this file is the team's
own record and is backed up like one (docs/UI.md).

**Append-only.** The work done (`work_actions`) and the access log (`access_log`) are only ever
inserted into; triggers refuse any UPDATE or DELETE, so neither can be rewritten through this
file's SQL. A discrepancy's current assignee and status are the latest of its actions
(`work_current`), and every action stays in its history. Two people acting on one discrepancy at
once insert two rows in two transactions: neither is lost, the later one is the current state.

**Users and sessions.** Passwords are hashed with argon2id (argon2-cffi). A session is a random
token of which only the SHA-256 is stored, with its CSRF token, an idle timeout and an absolute
lifetime; disabling a user ends its sessions. Users are never deleted (the log names them).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

DEFAULT_WORK_PATH = Path(".cobstream-work.sqlite3")
WORK_SCHEMA_VERSION = "1"

Role = Literal["viewer", "biller", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "biller", "admin")
ROLE_WORDS = {
    "viewer": "reads the queue, the claims and the scorecard; cannot act",
    "biller": "also assigns, changes status, resolves, writes notes and prints appeals",
    "admin": "also reads the access log",
}
# A discrepancy's status as the team works it; "new" until someone changes it.
WorkStatus = Literal["new", "in_progress", "appealed", "waiting_on_payer", "resolved"]
WORK_STATUSES: tuple[WorkStatus, ...] = ("new", "in_progress", "appealed", "waiting_on_payer", "resolved")
STATUS_WORDS = {
    "new": "new",
    "in_progress": "in progress",
    "appealed": "appealed",
    "waiting_on_payer": "waiting on payer",
    "resolved": "resolved",
}
# What came of a resolved discrepancy; "recovered" carries the amount recovered.
Resolution = Literal["recovered", "rebilled", "written_off", "patient_billed", "payer_upheld"]
RESOLUTIONS: tuple[Resolution, ...] = ("recovered", "rebilled", "written_off", "patient_billed", "payer_upheld")
RESOLUTION_WORDS = {
    "recovered": "recovered",
    "rebilled": "rebilled",
    "written_off": "written off",
    "patient_billed": "patient billed",
    "payer_upheld": "payer upheld",
}
ActionKind = Literal["assign", "status", "note"]

SESSION_IDLE = timedelta(minutes=30)  # automatic logoff after inactivity
SESSION_LIFETIME = timedelta(hours=12)  # signed in again at least once a working day
SIGNIN_ATTEMPTS = 5  # failed sign-ins in a row before the account is locked for a while
SIGNIN_LOCK = timedelta(minutes=15)
MIN_PASSWORD = 12
MAX_NOTE = 4000
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, created_us INTEGER NOT NULL,
    disabled_us INTEGER, failed_signins INTEGER NOT NULL DEFAULT 0, locked_until_us INTEGER);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users (name), csrf TEXT NOT NULL,
    created_us INTEGER NOT NULL, seen_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS work_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, discrepancy_id TEXT NOT NULL, claim_id TEXT NOT NULL,
    at_us INTEGER NOT NULL, user TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('assign', 'status', 'note')),
    assignee TEXT, status TEXT, resolution TEXT, recovered_cents INTEGER, note TEXT);
CREATE INDEX IF NOT EXISTS work_by_discrepancy ON work_actions (discrepancy_id, id);
CREATE INDEX IF NOT EXISTS work_by_claim ON work_actions (claim_id, id);
CREATE TABLE IF NOT EXISTS access_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at_us INTEGER NOT NULL, user TEXT, action TEXT NOT NULL,
    claim_id TEXT, discrepancy_id TEXT, detail TEXT, remote TEXT);
CREATE TRIGGER IF NOT EXISTS work_actions_append_only_update BEFORE UPDATE ON work_actions
BEGIN SELECT RAISE(ABORT, 'work_actions is append-only'); END;
CREATE TRIGGER IF NOT EXISTS work_actions_append_only_delete BEFORE DELETE ON work_actions
BEGIN SELECT RAISE(ABORT, 'work_actions is append-only'); END;
CREATE TRIGGER IF NOT EXISTS access_log_append_only_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS access_log_append_only_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
-- Each worked discrepancy as it stands: the latest assignment, the latest status (with its
-- resolution), how many actions and when the last one was.
CREATE VIEW IF NOT EXISTS work_current AS
SELECT w.discrepancy_id, w.claim_id,
       (SELECT a.assignee FROM work_actions a WHERE a.discrepancy_id = w.discrepancy_id AND a.kind = 'assign'
        ORDER BY a.id DESC LIMIT 1) AS assignee,
       coalesce((SELECT a.status FROM work_actions a WHERE a.discrepancy_id = w.discrepancy_id AND a.kind = 'status'
        ORDER BY a.id DESC LIMIT 1), 'new') AS status,
       (SELECT a.resolution FROM work_actions a WHERE a.discrepancy_id = w.discrepancy_id AND a.kind = 'status'
        ORDER BY a.id DESC LIMIT 1) AS resolution,
       (SELECT a.recovered_cents FROM work_actions a WHERE a.discrepancy_id = w.discrepancy_id AND a.kind = 'status'
        ORDER BY a.id DESC LIMIT 1) AS recovered_cents,
       count(*) AS actions, max(w.at_us) AS last_at_us
FROM work_actions w GROUP BY w.discrepancy_id;
"""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class WorkError(ValueError):
    """An action, a user or a work file that cannot be taken; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    disabled: bool = False

    @property
    def can_act(self) -> bool:
        return self.role in ("biller", "admin")


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str


@dataclass(frozen=True)
class Action:
    """One recorded piece of work on a discrepancy."""

    id: int
    discrepancy_id: str
    claim_id: str
    at: datetime
    user: str
    kind: ActionKind
    assignee: str | None = None
    status: WorkStatus | None = None
    resolution: Resolution | None = None
    recovered_cents: int | None = None
    note: str | None = None


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def moment_of(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def connect_work(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """The work file (created with its schema when new), WAL, foreign keys on."""
    try:
        db = sqlite3.connect(path, timeout=30, check_same_thread=check_same_thread, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(SCHEMA)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (WORK_SCHEMA_VERSION,))
        version = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise WorkError(f"{path}: not a usable cobstream work file ({exc}); pass another --work-db") from None
    if version != WORK_SCHEMA_VERSION:
        db.close()
        raise WorkError(f"{path} was written by another version of cobstream ui (work schema {version})")
    db.row_factory = sqlite3.Row
    return db


@contextmanager
def writing(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken at once (BEGIN IMMEDIATE: two writers queue, neither is lost)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


# ---- users ------------------------------------------------------------------------------------


def check_user_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise WorkError("a user name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise WorkError(f"a password has at least {MIN_PASSWORD} characters")
    return password


def add_user(db: sqlite3.Connection, name: str, role: str, password: str, now: datetime) -> User:
    check_user_name(name)
    role = _role(role)
    hashed = PasswordHasher().hash(check_password(password))
    with writing(db):
        if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise WorkError(f"there is already a user {name}; `users role`, `users password` change one")
        db.execute("INSERT INTO users (name, role, password_hash, created_us) VALUES (?,?,?,?)",
                   (name, role, hashed, micros(now)))  # fmt: skip
        _log(db, now, None, "user added", detail=f"{name} as {role}")
    return User(name, role)


def set_role(db: sqlite3.Connection, name: str, role: str, now: datetime) -> None:
    role = _role(role)
    _change_user(db, name, now, "role changed", f"{name} to {role}", "role = ?", (role,))


def set_password(db: sqlite3.Connection, name: str, password: str, now: datetime) -> None:
    hashed = PasswordHasher().hash(check_password(password))
    reset = "password_hash = ?, failed_signins = 0, locked_until_us = NULL"
    _change_user(db, name, now, "password changed", name, reset, (hashed,))
    _end_sessions(db, name)


def disable_user(db: sqlite3.Connection, name: str, now: datetime) -> None:
    _change_user(db, name, now, "user disabled", name, "disabled_us = ?", (micros(now),))
    _end_sessions(db, name)


def enable_user(db: sqlite3.Connection, name: str, now: datetime) -> None:
    _change_user(db, name, now, "user enabled", name, "disabled_us = NULL, failed_signins = 0, locked_until_us = NULL",
                 ())  # fmt: skip


def _change_user(
    db: sqlite3.Connection, name: str, now: datetime, what: str, detail: str, assignment: str, values: tuple
) -> None:
    with writing(db):
        changed = db.execute(f"UPDATE users SET {assignment} WHERE name = ?", (*values, name)).rowcount
        if not changed:
            raise WorkError(f"no user {name}")
        _log(db, now, None, what, detail=detail)


def _end_sessions(db: sqlite3.Connection, name: str) -> None:
    with writing(db):
        db.execute("DELETE FROM sessions WHERE user = ?", (name,))


def _role(role: str) -> Role:
    if role not in ROLES:
        raise WorkError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


def users(db: sqlite3.Connection) -> list[tuple[User, datetime]]:
    rows = db.execute("SELECT name, role, disabled_us, created_us FROM users ORDER BY name").fetchall()
    return [(User(r["name"], r["role"], r["disabled_us"] is not None), moment_of(r["created_us"])) for r in rows]


def active_users(db: sqlite3.Connection) -> list[User]:
    """Who work can be assigned to: enabled users who can act."""
    return [user for user, _ in users(db) if not user.disabled and user.can_act]


def has_users(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM users WHERE disabled_us IS NULL LIMIT 1").fetchone() is not None


# ---- signing in -------------------------------------------------------------------------------


def sign_in(db: sqlite3.Connection, name: str, password: str, now: datetime, remote: str | None) -> str | None:
    """A new session's token for a right name and password; None otherwise (the log says why,
    the caller only that it failed). A locked or disabled account is refused even with the
    right password; SIGNIN_ATTEMPTS failures in a row lock it for SIGNIN_LOCK."""
    row = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
    refusal = _refusal(row, password, now)
    with writing(db):
        if refusal is not None:
            if row is not None and refusal == "wrong password":
                _count_failure(db, row, now)
            _log(db, now, None, "sign-in refused", detail=f"{refusal} (as {name[:64]!r})", remote=remote)
            return None
        token = secrets.token_urlsafe(32)
        db.execute("UPDATE users SET failed_signins = 0, locked_until_us = NULL WHERE name = ?", (name,))
        db.execute("INSERT INTO sessions VALUES (?,?,?,?,?)",
                   (_digest(token), name, secrets.token_urlsafe(32), micros(now), micros(now)))  # fmt: skip
        _log(db, now, name, "signed in", remote=remote)
    return token


def _refusal(row: sqlite3.Row | None, password: str, now: datetime) -> str | None:
    hasher = PasswordHasher()
    if row is None:
        hasher.hash(password)  # as slow as a real check: a name's existence does not show in the timing
        return "no such user"
    if row["disabled_us"] is not None:
        return "user disabled"
    if row["locked_until_us"] is not None and row["locked_until_us"] > micros(now):
        return "account locked after failed sign-ins"
    try:
        hasher.verify(row["password_hash"], password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return "wrong password"
    return None


def _count_failure(db: sqlite3.Connection, row: sqlite3.Row, now: datetime) -> None:
    failures = row["failed_signins"] + 1
    locked = micros(now + SIGNIN_LOCK) if failures >= SIGNIN_ATTEMPTS else None
    db.execute(
        "UPDATE users SET failed_signins = ?, locked_until_us = ? WHERE name = ?",
        (0 if locked else failures, locked, row["name"]),
    )


def session(db: sqlite3.Connection, token: str, now: datetime) -> Session | None:
    """The signed-in user of a session token, its idle clock moved on; None when unknown,
    expired or the user is disabled (an expired session is removed)."""
    row = db.execute(
        "SELECT s.*, u.role, u.disabled_us FROM sessions s JOIN users u ON u.name = s.user WHERE token_sha256 = ?",
        (_digest(token),),
    ).fetchone()
    if row is None:
        return None
    at = micros(now)
    expired = now - moment_of(row["seen_us"]) > SESSION_IDLE or now - moment_of(row["created_us"]) > SESSION_LIFETIME
    with writing(db):
        if expired or row["disabled_us"] is not None:
            db.execute("DELETE FROM sessions WHERE token_sha256 = ?", (row["token_sha256"],))
            return None
        db.execute("UPDATE sessions SET seen_us = ? WHERE token_sha256 = ?", (at, row["token_sha256"]))
    return Session(User(row["user"], row["role"]), row["csrf"])


def sign_out(db: sqlite3.Connection, token: str, now: datetime, remote: str | None) -> None:
    with writing(db):
        row = db.execute("SELECT user FROM sessions WHERE token_sha256 = ?", (_digest(token),)).fetchone()
        db.execute("DELETE FROM sessions WHERE token_sha256 = ?", (_digest(token),))
        if row is not None:
            _log(db, now, row["user"], "signed out", remote=remote)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---- work on a discrepancy --------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What someone asks to record on a discrepancy (validated by `record`)."""

    kind: ActionKind
    assignee: str | None = None
    status: str | None = None
    resolution: str | None = None
    recovered_cents: int | None = None
    note: str | None = None


def record(db: sqlite3.Connection, discrepancy_id: str, claim_id: str, by: User, change: Change, now: datetime) -> int:
    """Record one action (and its access log line) in one transaction; returns its id."""
    if not by.can_act:
        raise WorkError(f"a {by.role} cannot act on a discrepancy")
    values = _checked(db, change)
    with writing(db):
        cursor = db.execute(
            "INSERT INTO work_actions (discrepancy_id, claim_id, at_us, user, kind, assignee, status, resolution, "
            "recovered_cents, note) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (discrepancy_id, claim_id, micros(now), by.name, *values),
        )
        _log(db, now, by.name, change.kind, claim_id=claim_id, discrepancy_id=discrepancy_id, detail=_said(change))
    return int(cursor.lastrowid or 0)


def _checked(db: sqlite3.Connection, change: Change) -> tuple:
    note = (change.note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise WorkError(f"a note has at most {MAX_NOTE} characters")
    if change.kind == "note":
        if note is None:
            raise WorkError("the note is empty")
        return ("note", None, None, None, None, note)
    if change.kind == "assign":
        if change.assignee is not None and change.assignee not in {u.name for u in active_users(db)}:
            raise WorkError(f"{change.assignee!r} is not a biller or admin who can take work")
        return ("assign", change.assignee, None, None, None, note)
    return ("status", None, *_status_values(change), note)


def _status_values(change: Change) -> tuple:
    if change.status not in WORK_STATUSES:
        raise WorkError(f"unknown status; expected one of {', '.join(WORK_STATUSES)}")
    if change.status != "resolved":
        if change.resolution or change.recovered_cents is not None:
            raise WorkError("a resolution is given only when the status is resolved")
        return (change.status, None, None)
    if change.resolution not in RESOLUTIONS:
        raise WorkError(f"a resolved discrepancy needs a resolution: one of {', '.join(RESOLUTIONS)}")
    if change.resolution == "recovered":
        if change.recovered_cents is None or change.recovered_cents <= 0:
            raise WorkError("a recovery needs the amount recovered, above 0.00")
    elif change.recovered_cents is not None:
        raise WorkError("an amount is given only with the resolution recovered")
    return (change.status, change.resolution, change.recovered_cents)


def _said(change: Change) -> str:
    if change.kind == "assign":
        return f"assigned to {change.assignee}" if change.assignee else "unassigned"
    if change.kind == "note":
        return "note added"
    said = f"status {change.status}"
    if change.resolution:
        said += f", {change.resolution}"
    if change.recovered_cents is not None:
        said += f" {change.recovered_cents // 100}.{change.recovered_cents % 100:02d}"
    return said + (" with a note" if change.note else "")


def actions_of(
    db: sqlite3.Connection, *, claim_id: str | None = None, discrepancy_id: str | None = None
) -> list[Action]:
    """The recorded work of a claim or of one discrepancy, oldest first."""
    column, value = ("claim_id", claim_id) if claim_id is not None else ("discrepancy_id", discrepancy_id)
    rows = db.execute(f"SELECT * FROM work_actions WHERE {column} = ? ORDER BY id", (value,)).fetchall()
    return [
        Action(r["id"], r["discrepancy_id"], r["claim_id"], moment_of(r["at_us"]), r["user"], r["kind"], r["assignee"],
               r["status"], r["resolution"], r["recovered_cents"], r["note"])
        for r in rows
    ]  # fmt: skip


# ---- the access log ---------------------------------------------------------------------------


def log_access(
    db: sqlite3.Connection,
    now: datetime,
    user: str | None,
    action: str,
    *,
    claim_id: str | None = None,
    discrepancy_id: str | None = None,
    detail: str | None = None,
    remote: str | None = None,
) -> None:
    """One line of the access log, in its own transaction."""
    with writing(db):
        _log(db, now, user, action, claim_id=claim_id, discrepancy_id=discrepancy_id, detail=detail, remote=remote)


def _log(
    db: sqlite3.Connection,
    now: datetime,
    user: str | None,
    action: str,
    *,
    claim_id: str | None = None,
    discrepancy_id: str | None = None,
    detail: str | None = None,
    remote: str | None = None,
) -> None:
    db.execute(
        "INSERT INTO access_log (at_us, user, action, claim_id, discrepancy_id, detail, remote) VALUES (?,?,?,?,?,?,?)",
        (micros(now), user, action, claim_id, discrepancy_id, detail, remote),
    )


ACCESS_COLUMNS = ("at", "user", "action", "claim_id", "discrepancy_id", "detail", "remote")


def access_log(db: sqlite3.Connection, since: datetime | None = None, limit: int | None = None) -> list[dict]:
    """The access log from `since` on, oldest first (the newest `limit` when given)."""
    rows = db.execute(
        "SELECT * FROM (SELECT * FROM access_log WHERE at_us >= ? ORDER BY id DESC LIMIT ?) ORDER BY id",
        (micros(since) if since else 0, limit if limit is not None else -1),
    ).fetchall()
    return [{"at": moment_of(r["at_us"]).isoformat(), **{name: r[name] for name in ACCESS_COLUMNS[1:]}} for r in rows]
