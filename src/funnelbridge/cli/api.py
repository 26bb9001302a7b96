"""CLI commands: serve (REST API + dashboard), apikey create / list / revoke."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from funnelbridge.cli.app import console, state

__all__ = ["register"]

apikey_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: the host setting).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: the port setting).")] = None,
) -> None:
    """Serve the REST API and the web dashboard until Ctrl-C."""
    from funnelbridge.api import create_app
    from funnelbridge.api.server import serve as serve_app
    from funnelbridge.bootstrap import open_runtime

    settings = state().settings
    app = create_app(open_runtime(settings), settings)
    host, port = host or settings.host, port or settings.port
    console.print(f"serving on [bold]http://{host}:{port}[/] (API docs at /api/docs) — Ctrl-C to stop")
    serve_app(app, host, port)


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="admin, marketing, sales, read_only or ingest.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "cli",
) -> None:
    """Create an API key; the secret is printed once and stored only as a hash."""
    from funnelbridge.apikeys import create_api_key
    from funnelbridge.bootstrap import open_runtime

    rt = open_runtime(state().settings)
    secret, key = create_api_key(rt.db, name, role, rt.clock.now())
    console.print(f"created {key.role} key [bold]{key.prefix}[/] ({key.name}) — store it now, it is not shown again:")
    print(secret)


@apikey_app.command("list")
def apikey_list() -> None:
    """List API keys (prefix, role, created, revoked)."""
    from funnelbridge.apikeys import list_api_keys
    from funnelbridge.bootstrap import open_runtime

    table = Table("prefix", "name", "role", "created", "revoked")
    for key in list_api_keys(open_runtime(state().settings).db):
        table.add_row(
            key.prefix,
            key.name,
            key.role,
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    console.print(table)


@apikey_app.command("revoke")
def apikey_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix (see `apikey list`).")]) -> None:
    """Revoke an API key."""
    from funnelbridge.apikeys import revoke_api_key
    from funnelbridge.bootstrap import open_runtime

    rt = open_runtime(state().settings)
    revoke_api_key(rt.db, prefix, rt.clock.now())
    console.print(f"revoked {prefix}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(serve)
    app.add_typer(apikey_app, name="apikey")
