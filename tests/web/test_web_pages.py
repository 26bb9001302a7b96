from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient

from funnelbridge import lifecycle
from funnelbridge.ingest import ingest_events
from funnelbridge.lifecycle import Actor
from funnelbridge.runtime import Runtime

REP = Actor("rita@example.com", "sales")


def _mql(rt: Runtime, email: str, anon: str) -> int:
    ingest_events(
        rt,
        [
            {
                "type": "page",
                "event": "page_view",
                "anonymous_id": anon,
                "timestamp": "2026-03-01T09:00:00Z",
                "properties": {"path": "/pricing", "utm_source": "google", "utm_campaign": "brand"},
            },
            {
                "type": "identify",
                "anonymous_id": anon,
                "email": email,
                "timestamp": "2026-03-01T09:05:00Z",
                "traits": {"title": "VP Sales", "company": "Acme", "employees": 200, "industry": "software"},
            },
            {"type": "track", "event": "demo_request", "email": email, "timestamp": "2026-03-01T09:10:00Z"},
        ],
    )
    return next(i.contact_id for i in lifecycle.sales_queue(rt) if i.email == email)


def test_queue_shows_score_reasons_and_accepts(
    logged_in: TestClient, web_runtime: Runtime, csrf: Callable[[str], str]
) -> None:
    lead = _mql(web_runtime, "ada@acme.com", "a1")
    html = logged_in.get("/queue").text
    assert "ada@acme.com" in html and "demo request" in html and "data-deadline" in html
    response = logged_in.post(f"/queue/{lead}/accept", data={"csrf": csrf(html)})
    assert response.status_code == 200 and "Accepted lead" in response.text
    assert "ada@acme.com" not in response.text.split("<h1>")[1]


def test_queue_rejects_with_a_reason(logged_in: TestClient, web_runtime: Runtime, csrf: Callable[[str], str]) -> None:
    lead = _mql(web_runtime, "bo@beta.io", "b1")
    html = logged_in.get("/queue").text
    response = logged_in.post(f"/queue/{lead}/reject", data={"csrf": csrf(html), "reason": "bad_timing"})
    assert "Rejected lead" in response.text
    from funnelbridge.lifecycle.view import lead_view

    assert lead_view(web_runtime, lead).states[0].stage == "recycled"


def test_lead_page_has_timeline_and_breakdown(logged_in: TestClient, web_runtime: Runtime) -> None:
    lead = _mql(web_runtime, "cy@gamma.com", "c1")
    html = logged_in.get(f"/leads/{lead}").text
    for text in ("Timeline", "demo_request", "→ mql", "Score breakdown", "senior title", "google / — / brand"):
        assert text in html
    assert logged_in.get("/leads/9999").status_code == 404


def test_pipeline_board_moves_and_wins(logged_in: TestClient, web_runtime: Runtime, csrf: Callable[[str], str]) -> None:
    lead = _mql(web_runtime, "di@delta.com", "d1")
    lifecycle.accept(web_runtime, lead, REP)
    lifecycle.qualify(web_runtime, lead, REP, {"budget": "y", "authority": "y", "need": "y", "timeline": "y"})
    deal = lifecycle.open_deal(web_runtime, lead, REP, amount=Decimal("10000"))
    html = logged_in.get("/pipeline").text
    assert 'id="pipeline-value">10,000<' in html and 'id="weighted-value">1,000<' in html
    moved = logged_in.post(f"/pipeline/{deal.deal_id}/move", data={"csrf": csrf(html), "stage": "proposal"})
    assert "moved to proposal" in moved.text and 'id="weighted-value">6,000<' in moved.text
    won = logged_in.post(f"/pipeline/{deal.deal_id}/win", data={"csrf": csrf(moved.text)})
    assert "won" in won.text and 'id="open-deals">0<' in won.text


def test_read_only_user_sees_but_cannot_decide(
    web: TestClient, web_runtime: Runtime, csrf: Callable[[str], str]
) -> None:
    from funnelbridge.passwords import set_password
    from funnelbridge.users import add_user

    add_user(web_runtime, "mo@example.com", "Mo Marketer", "marketing")
    set_password(web_runtime, "mo@example.com", "marketing rules")
    token = csrf(web.get("/login").text)
    web.post("/login", data={"email": "mo@example.com", "password": "marketing rules", "csrf": token})
    lead = _mql(web_runtime, "ed@eps.com", "e1")
    html = web.get("/queue").text
    assert "sales decides" in html
    assert web.post(f"/queue/{lead}/accept", data={"csrf": csrf(html)}).status_code == 403
