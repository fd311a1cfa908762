"""Signing in to `cobstream ui` from tests: users in a work file, and an aiohttp test client that
signs in through the sign-in form as a browser does (its cookie, its token)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from cobstream.ui import work
from cobstream.ui.app import create_app
from cobstream.ui.reader import ReaderStatus

PASSWORD = "a long passphrase 42"
TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def add_users(work_path: Path, *people: tuple[str, str]) -> None:
    """(name, role) users, each with PASSWORD."""
    db = work.connect_work(work_path)
    try:
        for name, role in people:
            work.add_user(db, name, role, PASSWORD, datetime.now(UTC))
    finally:
        db.close()


def token_of(page: str) -> str:
    found = TOKEN.search(page)
    assert found, "no form token on the page"
    return found.group(1)


@dataclass
class Browser:
    """A test client with a session: `get` and `post` (the form's token added)."""

    client: TestClient
    csrf: str = ""

    async def get(self, path: str, **kwargs) -> ClientResponse:
        return await self.client.get(path, allow_redirects=False, **kwargs)

    async def post(self, path: str, data: dict[str, str] | None = None, **kwargs) -> ClientResponse:
        return await self.client.post(path, data={"csrf": self.csrf, **(data or {})}, allow_redirects=False, **kwargs)

    async def sign_in(self, name: str, password: str = PASSWORD) -> ClientResponse:
        form = await (await self.client.get("/signin")).text()
        answer = await self.client.post(
            "/signin", data={"csrf": token_of(form), "name": name, "password": password, "next": "/"},
            allow_redirects=False,
        )  # fmt: skip
        if answer.status == 303:
            self.csrf = token_of(await (await self.client.get("/")).text())
        return answer


@asynccontextmanager
async def browser(store_path: Path, work_path: Path, name: str | None = None) -> AsyncIterator[Browser]:
    """A client of the app on these files, signed in as `name` when given."""
    work.connect_work(work_path).close()
    async with TestClient(TestServer(create_app(store_path, ReaderStatus(), work_path))) as client:
        signed = Browser(client)
        if name is not None:
            answer = await signed.sign_in(name)
            assert answer.status == 303, await answer.text()
        yield signed
