"""Who is asking, and may they: the work queue's sign-in, sessions, CSRF protection, roles, the
security headers of every answer, and the access log of every page view and action.

Every route needs a signed-in session except `/signin` and `/healthz` (counts only, for
monitors): a page asked for without one is redirected to the sign-in page, anything else (a
form, a download) is refused with 401. A form (POST) must carry the session's CSRF token, and its
Origin, when the browser sends one, must be this server; the sign-in form, before any session,
carries a token of its own cookie's (double submit). A viewer reads; acting needs `biller` or
`admin` (`require_actor`).

The session cookie is HttpOnly and SameSite=Strict, Secure when `--secure-cookies` (behind TLS,
README). Its token is random and only its SHA-256 is stored (`cobstream.ui.work`).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlsplit

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from cobstream.ui import work
from cobstream.ui.work import Session, User
from models.contract.types import Identifier

SESSION_COOKIE = "cobstream_session"
SIGNIN_COOKIE = "cobstream_signin"
PUBLIC_PATHS = ("/signin", "/healthz")
SECURITY_HEADERS = {
    # No script anywhere; styles inline; the chart is inline SVG; forms post only here.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a claim page's address is its claim id
    "Cache-Control": "no-store",  # claim data stays off shared caches and the browser's disk
}

WORK_PATH = web.AppKey("work_path", Path)
SECURE_COOKIES = web.AppKey("secure_cookies", bool)
SESSION = web.RequestKey("session", Session)
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_IDENTIFIER = TypeAdapter(Identifier)


def now() -> datetime:
    return datetime.now(UTC)


async def with_work(app: web.Application, question: Callable[[sqlite3.Connection], T]) -> T:
    """Use the work file on a worker thread, through a connection of its own."""

    def ask() -> T:
        db = work.connect_work(app[WORK_PATH])
        try:
            return question(db)
        finally:
            db.close()

    return await asyncio.to_thread(ask)


def remote_of(request: web.Request) -> str | None:
    return request.remote


def user_of(request: web.Request) -> User:
    return request[SESSION].user


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        _headers(response)
        raise
    _headers(response)
    return response


def _headers(response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def signed_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the session to the request, or refuse; check every form's CSRF token and Origin."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    token = request.cookies.get(SESSION_COOKIE)
    found = await with_work(request.app, lambda db: work.session(db, token, now())) if token else None
    if found is None:
        if request.method == "GET" and _is_page(request.path):
            raise web.HTTPSeeOther(f"/signin?next={quote(request.path_qs, safe='')}")
        raise web.HTTPUnauthorized(text="sign in first: no valid session\n")
    request[SESSION] = found
    if request.method not in ("GET", "HEAD"):
        await check_form(request, found.csrf)
    return await handler(request)


def _is_page(path: str) -> bool:
    return not path.endswith((".csv", ".pdf", ".837"))


async def check_form(request: web.Request, expected: str) -> None:
    """Refuse a form from another site: its Origin, or a missing or wrong CSRF token. (With
    `Referrer-Policy: no-referrer` the browser sends `Origin: null` even for this site's own
    forms: then the token alone decides, as it does when there is no Origin.)"""
    origin = request.headers.get("Origin")
    if origin not in (None, "null") and urlsplit(origin).netloc != request.host:
        raise web.HTTPForbidden(text="refused: the form came from another site\n")
    form = await request.post()
    given = form.get("csrf")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        raise web.HTTPForbidden(text="refused: the form's security token is missing or wrong; reload the page\n")


def require_actor(request: web.Request) -> User:
    """The signed-in user, when their role may act; a viewer is refused (403)."""
    user = user_of(request)
    if not user.can_act:
        raise web.HTTPForbidden(text=f"refused: {user.name} signs in as a {user.role}, who can read but not act\n")
    return user


def require_admin(request: web.Request) -> User:
    user = user_of(request)
    if user.role != "admin":
        raise web.HTTPForbidden(text=f"refused: only an admin reads this; {user.name} is a {user.role}\n")
    return user


def identifier(request: web.Request, name: str) -> str:
    """A claim id or event id from the path, refused (400) when it cannot be one (CONTRACT.md:
    1 to 128 characters, no control characters)."""
    value = request.match_info[name]
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError:
        raise web.HTTPBadRequest(text=f"refused: the {name.replace('_', ' ')} in the address is not one\n") from None


async def log(
    request: web.Request, action: str, *, claim_id: str | None = None, discrepancy_id: str | None = None,
    detail: str | None = None,
) -> None:  # fmt: skip
    """One line of the access log for what the signed-in user just did or saw."""
    user = user_of(request).name
    await with_work(
        request.app,
        lambda db: work.log_access(db, now(), user, action, claim_id=claim_id, discrepancy_id=discrepancy_id,
                                   detail=detail, remote=remote_of(request)),
    )  # fmt: skip


# ---- the sign-in page ---------------------------------------------------------------------------


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def signin_form_token(request: web.Request) -> str:
    return request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)


def set_signin_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(SIGNIN_COOKIE, token, httponly=True, samesite="Strict", secure=request.app[SECURE_COOKIES],
                        path="/signin")  # fmt: skip


async def attempt_signin(request: web.Request) -> tuple[str | None, str]:
    """Check the sign-in form; returns (session token or None, where to go next)."""
    expected = request.cookies.get(SIGNIN_COOKIE)
    if not expected:
        raise web.HTTPForbidden(text="refused: the sign-in form's security token is missing; reload the page\n")
    await check_form(request, expected)
    form = await request.post()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    remote = remote_of(request)
    token = await with_work(request.app, lambda db: work.sign_in(db, name, password, now(), remote))
    return token, target


def start_session(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=request.app[SECURE_COOKIES],
                        path="/")  # fmt: skip
    response.del_cookie(SIGNIN_COOKIE, path="/signin")


async def end_session(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE, "")
    await with_work(request.app, lambda db: work.sign_out(db, token, now(), remote_of(request)))
    response = see_other("/signin")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def see_other(location: str) -> web.Response:
    """A 303 to `location` that cookies can be set on (post, redirect, get)."""
    return web.Response(status=303, headers={"Location": location})
