"""Browser tests: Playwright drives Debian's Chromium (headless) against the real app served by uvicorn on
127.0.0.1. Screenshots of every page go to test-output/screenshots/."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from funnelbridge import lifecycle
from funnelbridge.api import create_app
from funnelbridge.apikeys import create_api_key
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.ingest import ingest_events
from funnelbridge.lifecycle import Actor
from funnelbridge.passwords import set_password
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.users import add_user

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
REP = Actor("rita@example.com", "sales")
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)


def _person(rt: Runtime, n: int, email: str) -> int:
    anon = f"anon-{n}"
    ingest_events(
        rt,
        [
            {
                "type": "page",
                "event": "page_view",
                "anonymous_id": anon,
                "timestamp": f"2026-03-0{n}T09:00:00Z",
                "properties": {"path": "/pricing", "utm_source": "google", "utm_campaign": "brand"},
            },
            {
                "type": "identify",
                "anonymous_id": anon,
                "email": email,
                "timestamp": f"2026-03-0{n}T09:05:00Z",
                "traits": {"title": "VP Sales", "company": f"Co {n}", "employees": 300, "industry": "software"},
            },
            {"type": "track", "event": "demo_request", "email": email, "timestamp": f"2026-03-0{n}T09:10:00Z"},
        ],
    )
    return next(i.contact_id for i in lifecycle.sales_queue(rt) if i.email == email)


def _company(rt: Runtime) -> dict[str, Any]:
    add_user(rt, "rita@example.com", "Rita Rep", "sales")
    set_password(rt, "rita@example.com", "correct horse")
    leads = [_person(rt, n, f"p{n}@co{n}.com") for n in range(1, 6)]
    ingest_events(
        rt,
        [
            {
                "type": "page",
                "event": "page_view",
                "anonymous_id": "lurker",
                "timestamp": "2026-03-02T10:00:00Z",
                "properties": {"path": "/blog/x"},
            }
        ],
    )
    for lead in leads[2:]:
        lifecycle.accept(rt, lead, REP)
        lifecycle.qualify(rt, lead, REP, {"budget": "y", "authority": "y", "need": "y", "timeline": "y"})
    deal = lifecycle.open_deal(rt, leads[2], REP, amount=Decimal("12000"))
    won = lifecycle.open_deal(rt, leads[3], REP, amount=Decimal("30000"))
    lifecycle.win_deal(rt, won.deal_id, REP)
    key = create_api_key(rt.db, "browser test", "read_only", NOW)[0]
    return {"queue": leads[:2], "deal": deal.deal_id, "key": key}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    import uvicorn

    path = tmp_path_factory.mktemp("browser") / "store.db"
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))
    data = _company(rt)
    port = _free_port()
    app = create_app(rt, Settings(secret_key="browser-test"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", data
    server.should_exit = True
    thread.join(timeout=10)
    db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, served: tuple[str, dict[str, Any]]) -> Iterator[Any]:
    base, _ = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    tab.goto(f"{base}/login")
    tab.get_by_label("Email").fill("rita@example.com")
    tab.get_by_label("Password").fill("correct horse")
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(f"{base}/")
    yield tab
    context.close()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_every_page_opens_and_is_captured(page: Any, served: tuple[str, dict[str, Any]]) -> None:
    base, _ = served
    for path, heading in [
        ("/", "Funnel"),
        ("/queue", "Sales queue"),
        ("/pipeline", "Pipeline board"),
        ("/campaigns", "Campaigns"),
        ("/handoff", "Handoff scorecard"),
        ("/playbook", "Playbook"),
    ]:
        page.goto(base + path)
        assert heading in page.locator("h1").inner_text()
        _shot(page, path.strip("/") or "funnel")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/queue")
    _shot(page, "queue-phone")


def test_funnel_numbers_match_the_analytics_api(page: Any, served: tuple[str, dict[str, Any]]) -> None:
    base, data = served
    page.goto(base + "/")
    shown = {
        row.get_attribute("data-stage"): int(row.locator("td.reached").inner_text())
        for row in page.locator("#stage-table tbody tr").all()
    }
    api = httpx.get(
        f"{base}/api/v1/reports/funnel", headers={"Authorization": f"Bearer {data['key']}"}, timeout=60
    ).json()
    expected = {c["stage"]: c["reached"] for c in api["funnel"]["total"]["counts"]}
    assert shown == expected
    assert expected["visitor"] == 6 and expected["mql"] == 5 and expected["customer"] == 1


def test_accept_and_reject_from_the_queue(page: Any, served: tuple[str, dict[str, Any]]) -> None:
    base, data = served
    first, second = data["queue"]
    page.goto(base + "/queue")
    page.get_by_role("button", name="Accept p1@co1.com").click()
    page.wait_for_selector(".flash")
    assert f"Accepted lead {first}" in page.locator(".flash").inner_text()
    page.get_by_label("Reject reason for p2@co2.com").select_option("bad_timing")
    page.get_by_role("button", name="Reject p2@co2.com").click()
    page.wait_for_selector(".flash")
    assert f"Rejected lead {second}" in page.locator(".flash").inner_text()
    assert page.locator("#queue").count() == 0
    page.goto(f"{base}/leads/{second}")
    assert "reason bad_timing" in page.locator(".timeline").inner_text()
    _shot(page, "lead")


def test_move_a_deal_on_the_board(page: Any, served: tuple[str, dict[str, Any]]) -> None:
    base, data = served
    page.goto(base + "/pipeline")
    card = page.locator(f'article[data-deal="{data["deal"]}"]')
    card.get_by_label("Move").select_option("negotiation")
    card.get_by_role("button", name="Move").click()
    page.wait_for_selector(".flash")
    assert "moved to negotiation" in page.locator(".flash").inner_text()
    assert page.locator(f'section[data-stage="negotiation"] article[data-deal="{data["deal"]}"]').count() == 1
    assert page.locator("#weighted-value").inner_text() == "9,600"
