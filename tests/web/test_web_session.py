from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient


def test_pages_redirect_to_login(web: TestClient) -> None:
    response = web.get("/playbook", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/playbook"


def test_wrong_password_is_refused(web: TestClient, csrf: Callable[[str], str]) -> None:
    token = csrf(web.get("/login").text)
    response = web.post("/login", data={"email": "rita@example.com", "password": "wrong one", "csrf": token})
    assert response.status_code == 401 and "Wrong email or password" in response.text


def test_login_without_csrf_token_is_refused(web: TestClient) -> None:
    web.get("/login")
    response = web.post("/login", data={"email": "rita@example.com", "password": "correct horse", "csrf": "forged"})
    assert response.status_code == 403


def test_open_redirect_is_not_followed(web: TestClient, csrf: Callable[[str], str]) -> None:
    token = csrf(web.get("/login").text)
    data = {"email": "rita@example.com", "password": "correct horse", "csrf": token, "next": "//evil.example"}
    assert web.post("/login", data=data, follow_redirects=False).headers["location"] == "/"


def test_playbook_page_renders_the_contract(logged_in: TestClient) -> None:
    html = logged_in.get("/playbook").text
    for text in ("Default B2B funnel", "handoff", "score.engagement ≥ 50", "Reject reasons", "nurture_long", "SAL"):
        assert text in html


def test_logout_ends_the_session(logged_in: TestClient, csrf: Callable[[str], str]) -> None:
    token = csrf(logged_in.get("/playbook").text)
    logged_in.post("/logout", data={"csrf": token})
    assert logged_in.get("/playbook", follow_redirects=False).status_code == 303


def test_static_assets_are_vendored(web: TestClient) -> None:
    css = web.get("/static/funnelbridge.css")
    assert css.status_code == 200 and "--ink" in css.text
    html = web.get("/login").text
    assert "http://" not in html and "https://" not in html
