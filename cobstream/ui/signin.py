"""The sign-in page and signing out (`/signin`, `/signout`); the checks behind them are
`cobstream.ui.auth`'s and `cobstream.ui.work`'s."""

from __future__ import annotations

from aiohttp import web

from cobstream.ui import auth
from cobstream.ui.pages import render

REFUSED = "The name or the password is wrong, or the account is locked or disabled."


def add_routes(app: web.Application) -> None:
    app.router.add_get("/signin", signin_page)
    app.router.add_post("/signin", signin)
    app.router.add_post("/signout", signout)


async def signin_page(request: web.Request) -> web.Response:
    return _form(request, auth.safe_next(request.query.get("next")), None)


def _form(request: web.Request, target: str, problem: str | None) -> web.Response:
    token = auth.signin_form_token(request)
    response = render(request, "signin.html", status=401 if problem else 200, target=target, problem=problem,
                      signin_token=token)  # fmt: skip
    auth.set_signin_cookie(request, response, token)
    return response


async def signin(request: web.Request) -> web.StreamResponse:
    token, target = await auth.attempt_signin(request)
    if token is None:  # one answer for every cause: which names exist does not show
        return _form(request, target, REFUSED)
    response = auth.see_other(target)
    auth.start_session(request, response, token)
    return response


async def signout(request: web.Request) -> web.StreamResponse:
    return await auth.end_session(request)
