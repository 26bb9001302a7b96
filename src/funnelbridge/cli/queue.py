"""CLI command: ``queue`` — MQLs waiting for sales, oldest first, with SLA time left."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from funnelbridge.cli.app import console
from funnelbridge.cli.lead import format_span, runtime

__all__ = ["register"]


def queue(
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline (default: every pipeline).")] = None,
) -> None:
    """MQLs waiting for a sales decision, oldest first, with the handoff SLA time left."""
    from funnelbridge.lifecycle import sales_queue

    with runtime() as rt:
        items = sales_queue(rt, pipeline)
        tz = rt.playbook.timezone
    table = Table(title=f"sales queue — {len(items)} waiting", title_justify="left")
    for col in ("contact", "name", "company", "pipeline", "grade", "score", "waiting", "SLA left", "owner"):
        table.add_column(col, justify="right" if col in ("contact", "score") else "left")
    for item in items:
        sla = format_span(item.sla_left)
        if item.breached and item.sla_left is not None:
            sla = f"[red]{format_span(-item.sla_left)} overdue[/]"
        table.add_row(
            str(item.contact_id),
            escape(item.name),
            escape(item.company or ""),
            escape(item.pipeline),
            item.grade or "–",
            f"{item.score_total:g}" if item.score_total is not None else "–",
            format_span(item.waiting),
            sla,
            str(item.owner_id or "–"),
        )
    console.print(table)
    console.print(f"SLA clocks run in business hours where the playbook says so (time zone {tz}).", style="dim")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("queue")(queue)
