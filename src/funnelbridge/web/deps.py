"""Page dependencies: the logged-in dashboard user."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from funnelbridge.web.app import LoginRequired

__all__ = ["WebUser", "web_user"]


@dataclass(frozen=True)
class WebUser:
    id: int
    name: str
    email: str
    role: str

    @property
    def is_sales(self) -> bool:
        return self.role in ("sales", "admin")


def web_user(request: Request) -> WebUser:
    session = request.session
    if not session.get("user_id"):
        raise LoginRequired
    return WebUser(session["user_id"], session["user_name"], session["email"], session["role"])
