"""Page dependencies: the logged-in dashboard user, and the Actor their commands are made as."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request

from funnelbridge.lifecycle import Actor
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

    def actor(self) -> Actor:
        role = self.role if self.role in ("admin", "marketing", "sales") else "system"
        return Actor(self.email, role)  # type: ignore[arg-type]

    def require_sales(self) -> None:
        if not self.is_sales:
            raise HTTPException(403, f"role {self.role!r} may not work the sales queue or deals")


def web_user(request: Request) -> WebUser:
    session = request.session
    if not session.get("user_id"):
        raise LoginRequired
    return WebUser(session["user_id"], session["user_name"], session["email"], session["role"])
