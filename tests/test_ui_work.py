"""The work queue as a billing team works it, over HTTP (aiohttp's test client; the browser
tests are tests/integration/test_ui.py): signing in, roles, CSRF, the work on a discrepancy
(assign, status, resolution, notes) and its history, the queue's work filters, the access log,
and the security refusals. The store holds the example day as the worker publishes it."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pypdf import PdfReader
from test_ui_store import example_day
from ui_support import PASSWORD, add_users, browser, token_of

from cobstream import cli
from cobstream.ui import queue, work
from cobstream.ui.app import create_app
from cobstream.ui.pages import money
from cobstream.ui.reader import ReaderStatus
from cobstream.ui.store import Store

UNDERPAID = "CLM-2026-0013"  # secondary_underpaid, blocking (examples/README.md)
MISMATCH = "CLM-2026-0015"  # line_mismatch
SUPERSEDED = "CLM-2026-0012"  # missing_primary_eob_denial, then reprocessed: superseded


@pytest.fixture(scope="module")
def day_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "ui.sqlite3"
    store = Store(path, "")
    store.ingest(example_day().records)
    store.close()
    return path


@pytest.fixture
def work_path(tmp_path: Path) -> Path:
    path = tmp_path / "work.sqlite3"
    add_users(path, ("lee", "admin"), ("ana", "biller"), ("bo", "biller"), ("vic", "viewer"))
    return path


def discrepancy_of(store_path: Path, claim_id: str) -> queue.QueueItem:
    db = sqlite3.connect(store_path)
    db.row_factory = sqlite3.Row
    try:
        [item, *_] = queue.every_discrepancy(db, claim_id)
    finally:
        db.close()
    return item


def actions(work_path: Path, event_id: str) -> list[work.Action]:
    db = work.connect_work(work_path)
    try:
        return work.actions_of(db, discrepancy_id=event_id)
    finally:
        db.close()


def rows(page: str) -> list[str]:
    return re.findall(r'<tr data-claim="([^"]+)"', page)


# ---- signing in ---------------------------------------------------------------------------------


async def test_signing_in_gives_an_httponly_samesite_session_and_signing_out_ends_it(day_store, work_path) -> None:
    async with browser(day_store, work_path) as client:
        asked = urlsplit((await client.get("/claims/CLM-2026-0013?x=1")).headers["Location"])
        assert (asked.path, parse_qs(asked.query)) == ("/signin", {"next": ["/claims/CLM-2026-0013?x=1"]})
        answer = await client.sign_in("ana")
        assert answer.status == 303
        cookie = answer.headers["Set-Cookie"]
        assert "cobstream_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback; --secure-cookies behind TLS
        page = await (await client.get("/")).text()
        assert 'data-user="ana" data-role="biller"' in page
        assert (await client.post("/signout")).status == 303
        assert (await client.get("/")).status == 303  # the session is gone on the server too


async def test_behind_tls_the_session_cookie_is_secure(day_store, work_path) -> None:
    app = create_app(day_store, ReaderStatus(), work_path, secure_cookies=True)
    async with TestClient(TestServer(app)) as client:
        form = await client.get("/signin")
        signin_cookie = form.cookies["cobstream_signin"]
        assert signin_cookie["secure"]
        # The test client speaks plain HTTP, so it keeps no Secure cookie: sent as TLS would send it.
        answer = await client.post(
            "/signin",
            data={"csrf": token_of(await form.text()), "name": "ana", "password": PASSWORD},
            headers={"Cookie": f"cobstream_signin={signin_cookie.value}"},
            allow_redirects=False,
        )
        assert answer.status == 303
        assert answer.cookies["cobstream_session"]["secure"]
        assert answer.cookies["cobstream_session"]["httponly"]


async def test_a_wrong_password_is_refused_alike_for_every_cause_and_locks_after_five(day_store, work_path) -> None:
    async with browser(day_store, work_path) as client:
        wrong = await client.sign_in("ana", "not the password")
        unknown = await client.sign_in("nobody", "not the password")
        assert wrong.status == unknown.status == 401
        assert "The name or the password is wrong" in await wrong.text()
        for _ in range(4):
            await client.sign_in("ana", "not the password")
        assert (await client.sign_in("ana")).status == 401  # locked, even with the right password
    db = work.connect_work(work_path)
    log = [(e["action"], e["detail"]) for e in work.access_log(db)]
    db.close()
    assert ("sign-in refused", "account locked after failed sign-ins (as 'ana')") in log
    assert ("sign-in refused", "no such user (as 'nobody')") in log


async def test_after_signing_in_the_user_goes_back_to_the_page_asked_but_never_off_site(day_store, work_path) -> None:
    async with browser(day_store, work_path) as client:
        for target, expected in (("/claims/CLM-2026-0013", "/claims/CLM-2026-0013"), ("//evil.example/", "/")):
            form = await (await client.client.get("/signin")).text()
            answer = await client.client.post(
                "/signin", data={"csrf": token_of(form), "name": "ana", "password": PASSWORD, "next": target},
                allow_redirects=False,
            )  # fmt: skip
            assert answer.headers["Location"] == expected


async def test_a_disabled_user_is_signed_out_and_cannot_sign_in(day_store, work_path) -> None:
    async with browser(day_store, work_path, "bo") as client:
        db = work.connect_work(work_path)
        work.disable_user(db, "bo", work.moment_of(0))
        db.close()
        assert (await client.get("/")).status == 303
        assert (await client.sign_in("bo")).status == 401


# ---- security refusals --------------------------------------------------------------------------


async def test_every_page_and_action_is_refused_without_a_session(day_store, work_path) -> None:
    event_id = discrepancy_of(day_store, UNDERPAID).event_id
    app = create_app(day_store, ReaderStatus(), work_path)
    routes = {(route.method, route.resource.canonical) for route in app.router.routes() if route.method != "HEAD"}
    public = {("GET", "/signin"), ("POST", "/signin"), ("GET", "/healthz")}
    assert len(routes - public) >= 12
    async with browser(day_store, work_path) as client:
        for method, path in sorted(routes - public):
            concrete = path.replace("{claim_id}", UNDERPAID).replace("{event_id}", event_id)
            answer = await (client.get(concrete) if method == "GET" else client.post(concrete, {"note": "x"}))
            if method == "GET" and not concrete.endswith((".csv", ".pdf", ".837")):
                assert answer.status == 303, concrete
                assert answer.headers["Location"].startswith("/signin?next="), concrete
            else:
                assert answer.status == 401, concrete
    assert actions(work_path, event_id) == []


async def test_a_forged_form_is_refused(day_store, work_path) -> None:
    event_id = discrepancy_of(day_store, UNDERPAID).event_id
    path = f"/discrepancies/{event_id}/note"
    async with browser(day_store, work_path, "ana") as client:
        no_token = await client.client.post(path, data={"note": "forged"}, allow_redirects=False)
        wrong_token = await client.client.post(path, data={"note": "forged", "csrf": "x" * 43}, allow_redirects=False)
        other_site = await client.post(path, {"note": "forged"}, headers={"Origin": "https://evil.example"})
        assert [no_token.status, wrong_token.status, other_site.status] == [403, 403, 403]
        assert (await client.post(path, {"note": "mine"})).status == 303  # the page's own form
    async with browser(day_store, work_path) as stranger:  # a sign-in form without its cookie
        answer = await stranger.client.post(
            "/signin", data={"csrf": "guess", "name": "ana", "password": PASSWORD}, allow_redirects=False
        )
        assert answer.status == 403
    assert [a.note for a in actions(work_path, event_id)] == ["mine"]


@pytest.mark.parametrize("bad", ["x" * 129, "CLM%07BELL", "CLM%00NUL"])
async def test_a_claim_id_in_the_address_that_is_not_one_is_refused(day_store, work_path, bad: str) -> None:
    async with browser(day_store, work_path, "ana") as client:
        for path in (f"/claims/{bad}", f"/claims/{bad}/secondary-claim.837", f"/discrepancies/{bad}/appeal"):
            answer = await client.get(path)
            assert answer.status == 400, path
            assert "is not one" in await answer.text()
        assert (await client.post(f"/discrepancies/{bad}/note", {"note": "x"})).status == 400


async def test_every_answer_carries_the_security_headers(day_store, work_path) -> None:
    async with browser(day_store, work_path, "ana") as client:
        for path in ("/", f"/claims/{UNDERPAID}", "/signin", "/claims/x%07"):
            headers = (await client.get(path)).headers
            assert "default-src 'none'" in headers["Content-Security-Policy"], path
            assert headers["X-Frame-Options"] == "DENY", path
            assert headers["Cache-Control"] == "no-store", path
            assert headers["Referrer-Policy"] == "no-referrer", path


# ---- work on a discrepancy ----------------------------------------------------------------------


async def test_a_viewer_reads_but_cannot_act(day_store, work_path) -> None:
    event_id = discrepancy_of(day_store, UNDERPAID).event_id
    async with browser(day_store, work_path, "vic") as client:
        page = await (await client.get(f"/claims/{UNDERPAID}")).text()
        assert 'id="read-only"' in page
        assert 'action="/discrepancies/' not in page
        for path, form in (
            ("assign", {"assignee": "me"}),
            ("status", {"status": "in_progress"}),
            ("note", {"note": "x"}),
        ):
            answer = await client.post(f"/discrepancies/{event_id}/{path}", form)
            assert answer.status == 403
            assert "vic signs in as a viewer" in await answer.text()
        assert (await client.get("/access-log")).status == 403
    assert actions(work_path, event_id) == []


async def test_a_biller_assigns_works_and_resolves_a_discrepancy_with_its_history(day_store, work_path) -> None:
    event_id = discrepancy_of(day_store, UNDERPAID).event_id
    base = f"/discrepancies/{event_id}"
    async with browser(day_store, work_path, "ana") as client:
        assert (await client.post(f"{base}/assign", {"assignee": "me"})).headers["Location"] == (
            f"/claims/{UNDERPAID}#work-{event_id}"
        )
        await client.post(f"{base}/status", {"status": "appealed", "note": "appeal faxed to AETNA"})
        await client.post(f"{base}/note", {"note": "AETNA says 30 days"})
        refused = await client.post(f"{base}/status", {"status": "resolved"})
        assert refused.status == 400
        assert "needs a resolution" in await refused.text()
        await client.post(f"{base}/status", {"status": "resolved", "resolution": "recovered", "recovered": "12.34"})
        page = await (await client.get(f"/claims/{UNDERPAID}")).text()
    done = actions(work_path, event_id)
    assert [(a.user, a.kind, a.assignee, a.status, a.resolution, a.recovered_cents, a.note) for a in done] == [
        ("ana", "assign", "ana", None, None, None, None),
        ("ana", "status", None, "appealed", None, None, "appeal faxed to AETNA"),
        ("ana", "note", None, None, None, None, "AETNA says 30 days"),
        ("ana", "status", None, "resolved", "recovered", 1234, None),
    ]
    section = page[page.index(f'id="work-{event_id}"') :]
    assert 'data-status="resolved" data-assignee="ana"' in section
    assert "resolved: recovered 12.34" in section
    assert section.index("assigned to ana") < section.index("status: appealed") < section.index("AETNA says 30 days")


async def test_the_queue_filters_by_assignee_and_status_and_my_work_is_mine(day_store, work_path) -> None:
    ids = {claim: discrepancy_of(day_store, claim).event_id for claim in (UNDERPAID, MISMATCH, "CLM-2026-0014")}
    async with browser(day_store, work_path, "ana") as ana, browser(day_store, work_path, "bo") as bo:
        await ana.post(f"/discrepancies/{ids[UNDERPAID]}/assign", {"assignee": "me"})
        await ana.post(f"/discrepancies/{ids[MISMATCH]}/assign", {"assignee": "bo"})
        await bo.post(f"/discrepancies/{ids['CLM-2026-0014']}/assign", {"assignee": "me"})
        await bo.post(f"/discrepancies/{ids['CLM-2026-0014']}/status", {"status": "resolved", "resolution": "rebilled"})
        everything = rows(await (await ana.get("/")).text())
        assert len(everything) == 11
        assert "CLM-2026-0014" not in everything
        mine = await (await ana.get("/?assignee=ana")).text()
        assert "<h1>My work</h1>" in mine
        assert rows(mine) == [UNDERPAID]
        assert rows(await (await bo.get("/?assignee=bo")).text()) == [MISMATCH]
        assert rows(await (await ana.get("/?status=resolved")).text()) == ["CLM-2026-0014"]
        unassigned = rows(await (await ana.get("/?assignee=unassigned")).text())
        assert set(everything) - set(unassigned) == {UNDERPAID, MISMATCH}
        assert len(rows(await (await ana.get("/?status=any")).text())) == 12
        assert (await ana.get("/?status=done")).status == 400
        export = await (await ana.get("/queue.csv?assignee=ana")).text()
    table = list(csv.DictReader(io.StringIO(export)))
    assert [(r["claim_id"], r["assignee"], r["status"]) for r in table] == [(UNDERPAID, "ana", "new")]


async def test_a_superseded_discrepancy_keeps_its_history_and_takes_only_notes(day_store, work_path) -> None:
    item = discrepancy_of(day_store, SUPERSEDED)
    assert not item.is_open
    async with browser(day_store, work_path, "ana") as client:
        answer = await client.post(f"/discrepancies/{item.event_id}/status", {"status": "in_progress"})
        assert answer.status == 409
        assert "superseded by a newer claim version" in await answer.text()
        assert (await client.post(f"/discrepancies/{item.event_id}/note", {"note": "payer reprocessed"})).status == 303
        page = await (await client.get(f"/claims/{SUPERSEDED}")).text()
    section = page[page.index(f'id="work-{item.event_id}"') :]
    assert 'data-open="false"' in section[:400]
    assert "superseded by a newer claim version" in section
    assert "payer reprocessed" in section


async def test_two_people_acting_on_one_discrepancy_at_once_lose_neither_action(day_store, work_path) -> None:
    event_id = discrepancy_of(day_store, UNDERPAID).event_id
    base = f"/discrepancies/{event_id}"
    async with browser(day_store, work_path, "ana") as ana, browser(day_store, work_path, "bo") as bo:
        answers = await asyncio.gather(
            *(ana.post(f"{base}/note", {"note": f"ana {n}"}) for n in range(10)),
            *(bo.post(f"{base}/note", {"note": f"bo {n}"}) for n in range(10)),
            ana.post(f"{base}/assign", {"assignee": "me"}),
            bo.post(f"{base}/status", {"status": "waiting_on_payer"}),
        )
    assert [a.status for a in answers] == [303] * 22
    done = actions(work_path, event_id)
    assert sorted(a.note for a in done if a.kind == "note") == sorted(
        [f"ana {n}" for n in range(10)] + [f"bo {n}" for n in range(10)]
    )
    db = work.connect_work(work_path)
    state = db.execute("SELECT * FROM work_current WHERE discrepancy_id = ?", (event_id,)).fetchone()
    db.close()
    assert (state["assignee"], state["status"], state["actions"]) == ("ana", "waiting_on_payer", 22)


# ---- the access log -----------------------------------------------------------------------------


async def test_every_claim_view_and_action_is_in_the_append_only_access_log(day_store, work_path) -> None:
    event_id = discrepancy_of(day_store, UNDERPAID).event_id
    async with browser(day_store, work_path, "ana") as ana:
        await ana.get(f"/claims/{UNDERPAID}")
        await ana.post(f"/discrepancies/{event_id}/note", {"note": "called AETNA"})
        await ana.get("/queue.csv")
    async with browser(day_store, work_path, "lee") as lee:
        page = await (await lee.get("/access-log")).text()
        assert "viewed claim" in page
        assert "called AETNA" not in page
    db = work.connect_work(work_path)
    entries = [(e["user"], e["action"], e["claim_id"]) for e in work.access_log(db)]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE access_log SET user = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM work_actions")
    db.close()
    assert ("ana", "viewed claim", UNDERPAID) in entries
    assert ("ana", "note", UNDERPAID) in entries
    assert ("ana", "exported queue", None) in entries
    assert entries.index(("ana", "viewed claim", UNDERPAID)) < entries.index(("ana", "note", UNDERPAID))


# ---- the command line ---------------------------------------------------------------------------


def test_users_are_managed_from_the_command_line(tmp_path: Path, monkeypatch, capsys) -> None:
    path = str(tmp_path / "work.sqlite3")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["ui", "users", "add", "ana", "--role", "biller", "--password-stdin", "--work-db", path]) == 2
    assert "at least 12 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["ui", "users", "add", "ana", "--role", "biller", "--password-stdin", "--work-db", path]) == 0
    assert cli.main(["ui", "users", "role", "ana", "admin", "--work-db", path]) == 0
    assert cli.main(["ui", "users", "disable", "ana", "--work-db", path]) == 0
    capsys.readouterr()
    assert cli.main(["ui", "users", "list", "--work-db", path]) == 0
    assert capsys.readouterr().out.startswith("ana\tadmin\tdisabled\tadded ")
    assert cli.main(["ui", "users", "add", "bad name", "--role", "viewer", "--work-db", path]) == 2
    assert cli.main(["ui", "access-log", "--work-db", path]) == 0
    logged = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(e["action"], e["detail"]) for e in logged] == [
        ("user added", "ana as biller"),
        ("role changed", "ana to admin"),
        ("user disabled", "ana"),
    ]


def test_the_ui_refuses_to_start_without_a_user(tmp_path: Path, capsys) -> None:
    assert cli.main(["ui", "--work-db", str(tmp_path / "work.sqlite3"), "--db", str(tmp_path / "ui.sqlite3")]) == 2
    assert "cobstream ui users add NAME --role admin" in capsys.readouterr().err


# ---- the appeal ---------------------------------------------------------------------------------


async def test_an_open_underpayment_prints_as_an_appeal_page_and_pdf(day_store, work_path) -> None:
    item = discrepancy_of(day_store, UNDERPAID)
    async with browser(day_store, work_path, "vic") as client:
        claim = await (await client.get(f"/claims/{UNDERPAID}")).text()
        assert f'href="/discrepancies/{item.event_id}/appeal"' in claim
        page = await (await client.get(f"/discrepancies/{item.event_id}/appeal")).text()
        pdf = await client.get(f"/discrepancies/{item.event_id}/appeal.pdf")
        body = await pdf.read()
        superseded = discrepancy_of(day_store, SUPERSEDED)
        assert (await client.get(f"/discrepancies/{superseded.event_id}/appeal")).status == 409
        dispute = discrepancy_of(day_store, "CLM-2026-0011")  # cob_order_dispute: not appealable
        assert (await client.get(f"/discrepancies/{dispute.event_id}/appeal")).status == 409
    assert UNDERPAID in page
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert body.startswith(b"%PDF-")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    assert UNDERPAID in text
    assert money(-(item.difference_cents or 0)) in text
