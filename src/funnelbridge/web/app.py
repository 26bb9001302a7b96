"""Wiring of the dashboard: templates, static files, session login, CSRF and the page routers."""

from __future__ import annotations

import importlib
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

__all__ = ["PAGE_MODULES", "LoginRequired", "csrf_ok", "flash", "install", "render", "templates"]

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))

PAGE_MODULES = (
    "funnelbridge.web.pages.session",
    "funnelbridge.web.pages.playbook",
    "funnelbridge.web.pages.queue",
    "funnelbridge.web.pages.leads",
    "funnelbridge.web.pages.pipeline",
    "funnelbridge.web.pages.reports",
)

NAV = (
    ("/", "Funnel"),
    ("/queue", "Sales queue"),
    ("/pipeline", "Pipeline"),
    ("/campaigns", "Campaigns"),
    ("/handoff", "Handoff"),
    ("/playbook", "Playbook"),
)


class LoginRequired(Exception):
    """Raised by page dependencies when there is no session; answered with a redirect to /login."""


def _csrf_token(request: Request) -> str:
    session = request.session
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


def csrf_ok(request: Request, token: str | None) -> None:
    """Reject a form post whose CSRF token does not match the session's."""
    if not token or not secrets.compare_digest(token, request.session.get("csrf", "")):
        raise HTTPException(403, "the form expired or did not come from this site; reload the page")


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A one-time message shown on the next page."""
    request.session["flash"] = {"message": message, "kind": kind}


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("nav", NAV)
    context["flash"] = request.session.pop("flash", None)
    context["user"] = request.session.get("user_name")
    context["role"] = request.session.get("role")
    context["csrf"] = _csrf_token(request)
    context["path"] = request.url.path
    context["now_iso"] = request.app.state.rt.clock.now().isoformat()
    context["playbook"] = request.app.state.rt.playbook
    return templates.TemplateResponse(request, template, context, status_code=status_code)


async def _login_redirect(request: Request, exc: Exception) -> Response:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    app.add_exception_handler(LoginRequired, _login_redirect)
    for name in PAGE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a page whose engine part is not installed
            if exc.name and exc.name.startswith("funnelbridge.web"):
                raise
            continue
        app.include_router(module.router)
