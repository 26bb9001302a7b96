"""Login and logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from funnelbridge.passwords import authenticate
from funnelbridge.web.app import csrf_ok, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    csrf_ok(request, csrf)
    user = authenticate(request.app.state.rt, email, password)
    if user is None:
        return render(request, "login.html", status_code=401, next=_safe_next(next), error="Wrong email or password.")
    request.session.update(user_id=user.id, user_name=user.name, email=user.email, role=user.role)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()]) -> Response:
    csrf_ok(request, csrf)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
