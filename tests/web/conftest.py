"""Web fixtures: the app with the dashboard, and a logged-in sales rep."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from funnelbridge.api import create_app
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.passwords import set_password
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store import Database
from funnelbridge.users import add_user


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def csrf() -> Callable[[str], str]:
    """Extracts a page's CSRF token."""
    return csrf_of


NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def web_runtime(sqlite_db: Database) -> Runtime:
    rt = Runtime(db=sqlite_db, playbook=load_example("b2b"), clock=FrozenClock(NOW))
    add_user(rt, "rita@example.com", "Rita Rep", "sales")
    set_password(rt, "rita@example.com", "correct horse")
    return rt


@pytest.fixture
def web(web_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(web_runtime, Settings(secret_key="test")), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def logged_in(web: TestClient) -> TestClient:
    token = csrf_of(web.get("/login").text)
    response = web.post(
        "/login", data={"email": "rita@example.com", "password": "correct horse", "csrf": token}, follow_redirects=False
    )
    assert response.status_code == 303
    return web
