"""The work queue's web application, assembled in one place: the middlewares (security headers,
sign-in and CSRF: `cobstream.ui.auth`) and the routes of the read pages (`pages`), the sign-in
page (`signin`), the work on discrepancies (`actions`) and the printouts and exports (`reports`)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from cobstream.ui import actions, auth, pages, reports, signin
from cobstream.ui.reader import ReaderStatus

MAX_FORM_BYTES = 64 * 1024  # a note is at most 4,000 characters


def create_app(
    store_path: Path,
    status: ReaderStatus,
    work_path: Path,
    *,
    secure_cookies: bool = False,
    explainer: pages.Explainer | None = None,
) -> web.Application:
    app = web.Application(middlewares=[auth.security_headers, auth.signed_in], client_max_size=MAX_FORM_BYTES)
    app[pages.STORE] = store_path
    app[pages.STATUS] = status
    app[auth.WORK_PATH] = work_path
    app[auth.SECURE_COOKIES] = secure_cookies
    pages.add_routes(app, explainer)
    signin.add_routes(app)
    actions.add_routes(app)
    reports.add_routes(app)
    return app
