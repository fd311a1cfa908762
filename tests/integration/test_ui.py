"""`cobstream ui` on the real broker, in a real headless browser (Debian's chromium): a worker
reconciles the example day, the UI reads the topics into its store, and the work queue is used
as a billing clerk would: read the queue, filter it through the form, open a claim. Each page is
screenshotted and the pictures themselves are checked, not only the HTML."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from harness import Deployment, replayed, wait_for
from PIL import Image, ImageChops
from playwright.async_api import Page, async_playwright
from pypdf import PdfReader
from test_stream import example_lines
from ui_support import PASSWORD, add_users

from cobstream.shared.processes import free_port, stop_process
from models.contract.topics import OUTCOME_TOPICS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
VIEWPORT = {"width": 1280, "height": 900}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BLOCKING_RED = (207, 34, 46)  # .badge.blocking in cobstream/ui/templates/base.html
# The example day's open discrepancies on the wall clock (no timeout due yet), in the order raised
# (examples/README.md); all blocking. Those of AETNA as secondary payer that dispute the COB order:
EXAMPLE_QUEUE = [f"CLM-2026-{n}" for n in ("0026", "0010", "0011", "0013", "0014", "0015", "0016", "0036", "0039")]
# 0036's primary says it has no secondary (AETNA's EOB is the dispute): its secondary payer is none.
AETNA_DISPUTES = [f"CLM-2026-{n}" for n in ("0026", "0010", "0011")]

# The billing team: a lead who audits, two billers, and someone who only reads.
TEAM = (("lee", "admin"), ("ana", "biller"), ("bo", "biller"), ("vic", "viewer"))

pytestmark = pytest.mark.broker


def chromium() -> str:
    """The browser to drive: skipped without one locally, a failure on CI (which must run these)."""
    path = os.environ.get("COBSTREAM_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        reason = f"no chromium at {path} (scripts/chromium installs Debian's; or set COBSTREAM_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the browser tests", pytrace=False)
        pytest.skip(reason)
    return path


@dataclass
class Ui:
    """`cobstream ui` running as a subprocess for a deployment."""

    process: subprocess.Popen
    log: Path
    url: str

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(self.url + "healthz", timeout=5) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:  # 503 while the reader connects: still JSON
            return json.loads(exc.read())
        except OSError:
            return {}

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def start_ui(deployment: Deployment, tmp_path: Path) -> Iterator[Any]:
    started: list[Ui] = []

    def start(name: str = "ui") -> Ui:
        port = free_port()
        log = tmp_path / f"{name}-{len(started)}.log"
        work_db = tmp_path / "work.sqlite3"
        if not work_db.exists():
            add_users(work_db, *TEAM)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cobstream.cli",
                "ui",
                "--port",
                str(port),
                "--db",
                str(tmp_path / "ui.sqlite3"),
                "--work-db",
                str(work_db),
            ],
            env=deployment.env(name),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        ui = Ui(process, log, f"http://127.0.0.1:{port}/")
        started.append(ui)
        wait_for(lambda: ui.health().get("status") == "ok" or process.poll() is not None, 60, "cobstream ui")
        assert process.poll() is None, ui.text()[-3000:]
        return ui

    yield start
    for ui in started:
        stop_process(ui.process)


async def _send(deployment: Deployment, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=deployment.settings.broker_list)
    await producer.start()
    try:
        await producer.send_and_wait(deployment.settings.topic(topic), key=key, value=value)
    finally:
        await producer.stop()


def test_the_work_queue_in_a_browser(deployment: Deployment, start_ui: Any, tmp_path: Path) -> None:
    browser = chromium()
    lines = example_lines()
    expected = replayed(lines)
    deployment.start_worker()
    deployment.produce(lines, interval=0.05)
    deployment.outputs(len(expected))
    # Something on an output topic that is not an event: recorded by the UI, never fatal.
    asyncio.run(_send(deployment, "billing.discrepancy", b"CLM-BAD", b'{"event_id": "E-BAD", "claim_id": '))

    ui = start_ui()
    topics = Counter(e["topic"] for e in expected)
    outcomes = sum(topics[topic] for topic in OUTCOME_TOPICS)  # the secondary claims too
    wait_for(
        lambda: ui.health()["store"]["outcomes"] == outcomes and ui.health()["store"]["unreadable"] == 1,
        60,
        f"the UI to read {outcomes} outcomes",
    )
    assert ui.health()["store"]["dead_letters"] == topics["eob.dead-letter"]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = asyncio.run(_browse(ui.url, browser, tmp_path))
    for shot in shots.values():
        shutil.copy(shot.path, ARTIFACTS / shot.path.name)
    _check_screenshots(shots)

    assert "CLM-2026" not in ui.text(), "the UI logged a claim id"
    stop_process(ui.process)
    assert ui.process.returncode == 0, ui.text()[-2000:]


@dataclass
class Shot:
    path: Path
    badge: dict[str, float] | None  # a blocking badge's box on the page, when there is one


async def _browse(url: str, browser: str, tmp_path: Path) -> dict[str, Shot]:
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=browser,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            device_scale_factor=1,
        )
        try:
            page = await context.new_page()
            await page.goto(url)
            await page.screenshot(path=str(tmp_path / "ui-signin.png"))
            shutil.copy(tmp_path / "ui-signin.png", ARTIFACTS / "ui-signin.png")
            await sign_in(page, "vic")
            assert await _rows(page) == EXAMPLE_QUEUE
            assert await page.locator("#queue tbody tr").evaluate_all(
                "rows => rows.map(row => row.querySelector('.badge').textContent)"
            ) == ["blocking"] * len(EXAMPLE_QUEUE)
            queue = await _shot(page, tmp_path / "ui-queue.png")

            await page.select_option("select[name=secondary_payer]", "AETNA")
            await page.select_option("select[name=kind]", "cob_order_dispute")
            async with page.expect_navigation():
                await page.get_by_role("button", name="Filter").click()
            assert "kind=cob_order_dispute" in page.url
            assert await _rows(page) == AETNA_DISPUTES
            filtered = await _shot(page, tmp_path / "ui-filtered.png")

            async with page.expect_navigation():
                await page.get_by_role("link", name="CLM-2026-0011").click()
            await _check_claim_page(page, "CLM-2026-0011")
            claim = await _shot(page, tmp_path / "ui-claim.png")
        finally:
            await context.close()
    return {"queue": queue, "filtered": filtered, "claim": claim}


async def sign_in(page: Page, name: str) -> None:
    """Through the sign-in form the queue sends a signed-out browser to."""
    assert "/signin" in page.url
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Sign in").click()
    assert "/signin" not in page.url
    assert await page.locator("#signed-in").get_attribute("data-user") == name


async def _rows(page: Page) -> list[str]:
    return await page.locator("#queue tbody tr").evaluate_all("rows => rows.map(row => row.dataset.claim)")


async def _check_claim_page(page: Page, claim: str) -> None:
    assert page.url.endswith(f"/claims/{claim}")
    assert await page.locator("h1").text_content() == f"Claim {claim}"
    explanation = await page.locator("#explanation pre").text_content()
    assert explanation.startswith(f"Claim {claim}: discrepancy")
    assert "cob_order_dispute (blocking)" in explanation
    history = await page.locator("#history tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.source + ' ' + row.dataset.topic)"
    )
    # 0011: the primary (its estimate), then HUMANA's EOB where AETNA's was expected (the dispute).
    assert history == [
        "input eob.primary",
        "outcome secondary.expected",
        "input eob.secondary",
        "outcome billing.discrepancy",
    ]


async def _shot(page: Page, path: Path) -> Shot:
    await page.screenshot(path=str(path))
    badge = page.locator(".badge.blocking").first
    box = await badge.bounding_box() if await badge.count() else None
    return Shot(path, box)


def _check_screenshots(shots: dict[str, Shot]) -> None:
    images = {name: Image.open(shot.path) for name, shot in shots.items()}
    for name, image in images.items():
        assert image.format == "PNG", name
        assert image.size == (VIEWPORT["width"], VIEWPORT["height"]), name
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        assert colours is not None
        assert len(colours) > 50, f"{name}: only {len(colours)} colours, the page looks blank"
        commonest = max(count for count, _ in colours)
        assert commonest < 0.9 * rgb.width * rgb.height, f"{name}: one colour covers 90% of the page"
        box = shots[name].badge
        assert box is not None, f"{name}: no blocking badge"
        assert _share_of(rgb, box, BLOCKING_RED) > 0.5, f"{name}: the blocking badge is not red where it is drawn"
    difference = ImageChops.difference(images["queue"].convert("RGB"), images["filtered"].convert("RGB"))
    same = sum(count for count, pixel in difference.getcolors(maxcolors=1 << 24) if pixel == (0, 0, 0))
    changed = difference.width * difference.height - same
    assert changed > 0.01 * difference.width * difference.height, "filtering changed nothing on the screen"


def _share_of(image: Image.Image, box: dict[str, float], colour: tuple[int, int, int], tolerance: int = 24) -> float:
    """The share of the box's pixels that are `colour` (the badge's text is white, its corners round)."""
    left, top = int(box["x"]) + 2, int(box["y"]) + 2
    right, bottom = int(box["x"] + box["width"]) - 2, int(box["y"] + box["height"]) - 2
    counted = image.crop((left, top, right, bottom)).getcolors(maxcolors=1 << 24)
    close = sum(n for n, pixel in counted if all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True)))
    return close / sum(n for n, _ in counted)


def test_a_restarted_ui_continues_where_it_stopped(deployment: Deployment, start_ui: Any) -> None:
    lines = example_lines()
    deployment.start_worker()
    deployment.produce(lines[:20], interval=0.02)
    deployment.outputs(len(replayed(lines[:20])))  # the worker is done with them
    stored = 20 + len(replayed(lines[:20]))
    first = start_ui()
    wait_for(lambda: first.health()["store"]["records"] == stored, 60, "the UI to read the first messages")
    stop_process(first.process)
    assert first.process.returncode == 0, first.text()[-2000:]

    second = start_ui()
    time.sleep(3)
    assert second.health()["reader"]["records_read"] == 0  # nothing read again
    deployment.produce(lines[20:30], interval=0.02)
    wait_for(lambda: second.health()["store"]["records"] >= stored + 10, 60, "the UI to read the new messages")
    time.sleep(2)
    health = second.health()
    assert health["reader"]["records_read"] == health["store"]["records"] - stored


# ---- a billing team at work ---------------------------------------------------------------------

UNDERPAID = "CLM-2026-0013"  # secondary_underpaid (AETNA paid 9.00 of 14.00): appealable
MISMATCH = "CLM-2026-0015"  # line_mismatch


def test_a_billing_team_works_the_queue_in_a_browser(deployment: Deployment, start_ui: Any, tmp_path: Path) -> None:
    """Sign-in, a viewer refused, assign, status, note, resolve, the history, filters, my work,
    the scorecard chart, the CSV, the appeal page and its PDF, and two billers at once."""
    browser = chromium()
    lines = example_lines()
    expected = replayed(lines)
    deployment.start_worker()
    deployment.produce(lines, interval=0.02)
    deployment.outputs(len(expected))
    ui = start_ui()
    outcomes = sum(1 for e in expected if e["topic"] in OUTCOME_TOPICS)
    wait_for(lambda: ui.health()["store"]["outcomes"] == outcomes, 60, f"the UI to read {outcomes} outcomes")

    shots = asyncio.run(_work_the_queue(ui.url, browser, tmp_path))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for shot in shots:
        shutil.copy(shot, ARTIFACTS / shot.name)

    log = _access_log(tmp_path / "work.sqlite3")
    assert ("vic", "viewed claim", UNDERPAID) in log
    assert ("ana", "status", UNDERPAID) in log
    assert ("ana", "printed appeal PDF", UNDERPAID) in log
    assert "CLM-2026" not in ui.text(), "the UI logged a claim id"
    stop_process(ui.process)
    assert ui.process.returncode == 0, ui.text()[-2000:]


def _access_log(path: Path) -> list[tuple[str | None, str, str | None]]:
    done = subprocess.run(
        [sys.executable, "-m", "cobstream.cli", "ui", "access-log", "--format", "jsonl", "--work-db", str(path)],
        capture_output=True, check=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    return [(e["user"], e["action"], e["claim_id"]) for e in entries]


async def _work_the_queue(url: str, browser: str, tmp_path: Path) -> list[Path]:
    async with async_playwright() as playwright:
        chromium_ = await playwright.chromium.launch(executable_path=browser, args=CHROMIUM_ARGS)
        try:
            viewer = await _person(chromium_, url, "vic")
            await _a_viewer_is_refused(viewer, url)
            ana = await _person(chromium_, url, "ana")
            shots = await _ana_works_an_underpayment(ana, url, tmp_path)
            shots += await _filters_and_my_work(ana, url, tmp_path)
            shots += await _scorecard_and_csv(ana, url, tmp_path)
            shots += await _appeal(ana, url, tmp_path)
            bo = await _person(chromium_, url, "bo")
            await _two_at_once(ana, bo, url)
        finally:
            await chromium_.close()
    return shots


async def _person(chromium_: Any, url: str, name: str) -> Page:
    """A browser context of their own (their own cookies), signed in."""
    context = await chromium_.new_context(viewport=VIEWPORT, device_scale_factor=1, accept_downloads=True)
    page = await context.new_page()
    await page.goto(url)
    await sign_in(page, name)
    return page


async def _a_viewer_is_refused(page: Page, url: str) -> None:
    await page.goto(f"{url}claims/{UNDERPAID}")
    assert await page.locator("#read-only").is_visible()
    assert await page.locator("form.assign").count() == 0
    event_id = await page.locator("section.discrepancy").first.get_attribute("data-event")
    # The forms are not there; sending one anyway, with the page's own token, is refused.
    token = await page.locator("header input[name=csrf]").get_attribute("value")
    answer = await page.request.post(
        f"{url}discrepancies/{event_id}/assign", form={"csrf": token or "", "assignee": "me"}, max_redirects=0
    )
    assert answer.status == 403
    assert "vic signs in as a viewer" in await answer.text()


async def _section(page: Page) -> Any:
    return page.locator("section.discrepancy[data-open=true]").first


async def _submit(page: Page, form: Any, button: str) -> None:
    async with page.expect_navigation():
        await form.get_by_role("button", name=button).click()


async def _ana_works_an_underpayment(page: Page, url: str, tmp_path: Path) -> list[Path]:
    await page.goto(f"{url}claims/{UNDERPAID}")
    section = await _section(page)
    await _submit(page, section.locator("form.assign"), "Assign")  # "me" is the default
    section = await _section(page)
    assert await section.get_attribute("data-assignee") == "ana"
    status = section.locator("form.status-form")
    await status.locator("select[name=status]").select_option("appealed")
    await status.locator("textarea[name=note]").fill("Appeal sent to AETNA with the primary EOB")
    await _submit(page, status, "Set status")
    section = await _section(page)
    await section.locator("form.note-form textarea[name=note]").fill("AETNA: reprocessing within 30 days")
    await _submit(page, section.locator("form.note-form"), "Add note")
    section = await _section(page)
    status = section.locator("form.status-form")
    await status.locator("select[name=status]").select_option("resolved")
    await _submit(page, status, "Set status")  # no resolution: refused, nothing recorded
    assert "a resolved discrepancy needs a resolution" in await page.locator(".problem").text_content()
    await page.goto(f"{url}claims/{UNDERPAID}")
    section = await _section(page)
    status = section.locator("form.status-form")
    await status.locator("select[name=status]").select_option("resolved")
    await status.locator("select[name=resolution]").select_option("recovered")
    await status.locator("input[name=recovered]").fill("5.00")
    await _submit(page, status, "Set status")
    section = await _section(page)
    assert await section.get_attribute("data-status") == "resolved"
    history = await section.locator("table.work-history tbody tr").evaluate_all(
        "rows => rows.map(row => [row.dataset.user, row.cells[2].textContent.trim(), row.cells[3].textContent])"
    )
    assert history == [
        ["ana", "assigned to ana", ""],
        ["ana", "status: appealed", "Appeal sent to AETNA with the primary EOB"],
        ["ana", "note", "AETNA: reprocessing within 30 days"],
        ["ana", "status: resolved, recovered 5.00", ""],
    ]
    path = tmp_path / "ui-work.png"
    await section.scroll_into_view_if_needed()
    await page.screenshot(path=str(path))
    return [path]


async def _filters_and_my_work(page: Page, url: str, tmp_path: Path) -> list[Path]:
    await page.goto(url)
    assert UNDERPAID not in await _rows(page)  # resolved: off the default view
    await page.goto(f"{url}claims/{MISMATCH}")
    section = await _section(page)
    await section.locator("form.assign select[name=assignee]").select_option("bo")
    await _submit(page, section.locator("form.assign"), "Assign")
    await page.goto(url)
    async with page.expect_navigation():
        await page.locator("#my-work").click()
    assert await page.locator("h1").text_content() == "My work"
    assert await _rows(page) == []  # ana's one discrepancy is resolved
    await page.select_option("select[name=status]", "resolved")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Filter").click()
    assert await _rows(page) == [UNDERPAID]
    await page.goto(url)
    await page.select_option("select[name=assignee]", "bo")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Filter").click()
    assert await _rows(page) == [MISMATCH]
    assert await page.locator("#queue tbody tr").first.get_attribute("data-assignee") == "bo"
    path = tmp_path / "ui-filtered-assignee.png"
    await page.screenshot(path=str(path))
    async with page.expect_download() as download:
        await page.locator("#queue-csv").click()
    exported = (await (await download.value).path()).read_text()
    table = list(csv.DictReader(io.StringIO(exported)))
    assert [(row["claim_id"], row["assignee"]) for row in table] == [(MISMATCH, "bo")]
    return [path]


async def _scorecard_and_csv(page: Page, url: str, tmp_path: Path) -> list[Path]:
    await page.goto(f"{url}scorecard")
    await page.select_option("select[name=payer]", "AETNA")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show").click()
    rows = await page.locator("#scorecard tbody tr").evaluate_all(
        "rows => rows.map(row => ({payer: row.dataset.payer, month: row.dataset.month,"
        " expected: row.querySelector('.expected').textContent.trim(),"
        " paid: row.querySelector('.paid').textContent.trim()}))"
    )
    assert rows
    assert {row["payer"] for row in rows} == {"AETNA"}
    bars = await page.locator("svg rect[data-series]").evaluate_all(
        "bars => bars.map(bar => ({month: bar.dataset.month, series: bar.dataset.series,"
        " cents: Number(bar.dataset.cents), height: bar.getBoundingClientRect().height}))"
    )
    for row in rows:
        for series in ("expected", "paid"):
            [bar] = [b for b in bars if b["month"] == row["month"] and b["series"] == series]
            assert _cents(row[series]) == bar["cents"], (row, bar)
    tallest = max(bars, key=lambda b: b["cents"])
    for bar in bars:  # drawn to one scale: each bar's height in proportion to its amount
        assert abs(bar["height"] - tallest["height"] * bar["cents"] / tallest["cents"]) <= 1.5, bar
    path = tmp_path / "ui-scorecard.png"
    await page.screenshot(path=str(path))
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download CSV").click()
    exported = list(csv.DictReader(io.StringIO((await (await download.value).path()).read_text())))
    assert [(r["secondary_payer"], r["month"], _cents(r["expected"]), _cents(r["paid"])) for r in exported] == [
        ("AETNA", row["month"], _cents(row["expected"]), _cents(row["paid"])) for row in rows
    ]
    return [path]


def _cents(text: str) -> int:
    return round(float(text.replace(",", "")) * 100)


async def _appeal(page: Page, url: str, tmp_path: Path) -> list[Path]:
    await page.goto(f"{url}claims/CLM-2026-0013")
    section = await _section(page)
    assert await section.get_attribute("data-kind") == "secondary_underpaid"
    async with page.expect_navigation():
        await section.locator("a.appeal-page").click()
    letter = await page.locator("#appeal").text_content()
    assert "CLM-2026-0013" in letter
    assert "lesser_of_allowables" in letter  # AETNA's COB method in the example day
    assert await page.locator("#lines tr[data-line]").count() >= 1
    assert "EOB-P-CLM-2026-0013" in await page.locator("#primary-eob").text_content()
    path = tmp_path / "ui-appeal.png"
    await page.screenshot(path=str(path), full_page=True)
    printed = tmp_path / "ui-appeal-printed.pdf"
    await page.pdf(path=str(printed), format="Letter")  # the page prints cleanly: no navigation in print
    assert "Sign out" not in "".join(p.extract_text() for p in PdfReader(printed).pages)
    pdf_href = page.url + ".pdf"
    answer = await page.request.get(pdf_href)
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(await answer.body())).pages)
    assert "CLM-2026-0013" in text
    assert "EOB-P-CLM-2026-0013" in text
    return [path]


async def _two_at_once(ana: Page, bo: Page, url: str) -> None:
    """Two billers write on one discrepancy at the same moment: both notes are kept."""
    for page, words in ((ana, "ana: called AETNA"), (bo, "bo: faxed the EOB")):
        await page.goto(f"{url}claims/{MISMATCH}")
        await (await _section(page)).locator("form.note-form textarea[name=note]").fill(words)

    async def submit(page: Page) -> None:
        await _submit(page, (await _section(page)).locator("form.note-form"), "Add note")

    await asyncio.gather(submit(ana), submit(bo))
    await ana.reload()
    notes = (
        await (await _section(ana))
        .locator("table.work-history tbody tr[data-kind=note] td:nth-child(4)")
        .all_text_contents()
    )
    assert sorted(notes) == ["ana: called AETNA", "bo: faxed the EOB"]
