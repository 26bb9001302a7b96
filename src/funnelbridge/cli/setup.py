"""CLI commands: init, db upgrade / downgrade / current."""

from __future__ import annotations

from typing import Annotated

import typer

from funnelbridge.cli.app import console, state

__all__ = ["register"]

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


def init(
    example: Annotated[str, typer.Option(help="Shipped playbook to start from: b2b, six_stage or b2c.")] = "b2b",
) -> None:
    """Write a playbook (unless one exists) and create or upgrade the database."""
    from funnelbridge.bootstrap import init_project

    result = init_project(state().settings, example=example)
    verb = "wrote" if result.wrote_playbook else "kept existing"
    console.print(f"{verb} playbook [bold]{result.playbook_path}[/] (version {result.playbook_version})")
    console.print(f"database ready at [bold]{result.database_url}[/]")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate the database schema up (to the latest by default)."""
    from funnelbridge.store.db import connect
    from funnelbridge.store.migrate import current_revision, upgrade

    db = connect(state().settings.database_url)
    upgrade(db, revision)
    console.print(f"database at revision [bold]{current_revision(db)}[/]")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision ('base' = empty).")]) -> None:
    """Migrate the database schema down to a revision."""
    from funnelbridge.store.db import connect
    from funnelbridge.store.migrate import current_revision, downgrade

    db = connect(state().settings.database_url)
    downgrade(db, revision)
    console.print(f"database at revision [bold]{current_revision(db) or 'base'}[/]")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the latest one."""
    from funnelbridge.store.db import connect
    from funnelbridge.store.migrate import current_revision, head_revision

    db = connect(state().settings.database_url)
    console.print(f"current {current_revision(db) or 'base'}, head {head_revision(db)}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(init)
    app.add_typer(db_app, name="db")
