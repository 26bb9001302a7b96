"""After the demo: serve the REST API and the dashboard over the demo database, when they are installed."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from funnelbridge.settings import Settings

__all__ = ["DEMO_ADMIN", "DEMO_PASSWORD", "DashboardLogin", "dashboard_available", "serve_dashboard"]

DEMO_ADMIN = "admin@funnelbridge-demo.example"
DEMO_PASSWORD = "funnelbridge-demo"  # a demo database on the loopback interface; never a real deployment


@dataclass(frozen=True)
class DashboardLogin:
    url: str
    email: str
    password: str


def dashboard_available() -> bool:
    """Whether the web app (``funnelbridge.api`` with ``funnelbridge.web``) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("funnelbridge.api", "funnelbridge.web", "uvicorn"))


def serve_dashboard(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    ready: Callable[[DashboardLogin], None] | None = None,
) -> None:
    """Give the demo admin a password, tell ``ready`` the URL and login, and serve until interrupted."""
    from funnelbridge.api import create_app
    from funnelbridge.api.server import serve
    from funnelbridge.bootstrap import open_runtime
    from funnelbridge.passwords import set_password

    rt = open_runtime(settings)
    set_password(rt, DEMO_ADMIN, DEMO_PASSWORD)
    if ready is not None:
        ready(DashboardLogin(f"http://{host}:{port}/", DEMO_ADMIN, DEMO_PASSWORD))
    serve(create_app(rt, settings), host, port)
