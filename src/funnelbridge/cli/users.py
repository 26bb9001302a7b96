"""CLI commands: ``user add``, ``user list``, ``user away`` — the reps that leads are routed to."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from funnelbridge.cli.app import console, state
from funnelbridge.runtime import Runtime

__all__ = ["register"]

user_app = typer.Typer(help="Users: reps, managers and admins (routing targets).", no_args_is_help=True)


def _runtime() -> Runtime:
    from funnelbridge.bootstrap import open_runtime

    return open_runtime(state().settings)


@user_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="Email address (the user's identity).")],
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[str, typer.Option(help="admin, marketing, sales or read_only.")] = "sales",
    team: Annotated[str, typer.Option(help="Routing team (see the playbook's routing rules).")] = "default",
    manager: Annotated[str | None, typer.Option(help="Email of the user's manager (escalations).")] = None,
    capacity: Annotated[int | None, typer.Option(help="Most new leads per week (empty: the rule's).")] = None,
) -> None:
    """Add a user."""
    from funnelbridge.users import add_user

    user_id = add_user(_runtime(), email, name, role, team, manager, capacity)
    console.print(f"added user [bold]{escape(email)}[/] (id {user_id}, {escape(role)}, team {escape(team)})")


@user_app.command("list")
def list_(
    team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
) -> None:
    """List users with team, manager, capacity and availability."""
    from funnelbridge.users import list_users

    rows = list_users(_runtime(), team=team)
    emails = {u.id: u.email for u in rows}
    table = Table(title="users")
    for col in ("id", "email", "name", "role", "team", "manager", "capacity/week", "status"):
        table.add_column(col)
    for u in rows:
        status = "inactive" if not u.active else "away" if u.away else "available"
        manager = emails.get(u.manager_id, "") if u.manager_id else ""
        capacity = "" if u.capacity_per_week is None else str(u.capacity_per_week)
        table.add_row(
            str(u.id), escape(u.email), escape(u.name), u.role, escape(u.team), escape(manager), capacity, status
        )
    console.print(table)


@user_app.command("away")
def away(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    back: Annotated[bool, typer.Option("--back", help="Mark the user available again.")] = False,
) -> None:
    """Mark a rep away (routing skips them) or, with --back, available again."""
    from funnelbridge.users import set_away

    user = set_away(_runtime(), email, away=not back)
    console.print(f"{escape(user.email)} is now {'away' if user.away else 'available'}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(user_app, name="user")
