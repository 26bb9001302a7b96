"""CLI command: ``funnelbridge funnel EVENTS_FILE --step ...`` — an ordered event funnel over an export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from funnelbridge.cli.app import console, state

__all__ = ["register"]

if TYPE_CHECKING:  # the analytics stack (ibis) is imported only when the command runs
    from funnelbridge.analytics.event_funnel import FunnelResult, StepResult


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.3g}s"
    whole = round(value)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return " ".join(parts[:2])


def _step_rows(table: Table, steps: tuple[StepResult, ...], label: str | None) -> None:
    for i, step in enumerate(steps, 1):
        row = [str(i), step.name, str(step.count), f"{step.conversion_from_previous:.1%}"]
        row += [f"{step.conversion_from_first:.1%}", _seconds(step.average_seconds_to_convert)]
        row += [_seconds(step.median_seconds_to_convert)]
        table.add_row(*(([label if i == 1 else ""] if label is not None else []) + row))


def _render(result: FunnelResult) -> Table:
    split = result.breakdown is not None
    table = Table(title="event funnel")
    columns = ["#", "step", "people", "from previous", "from first", "avg time", "median time"]
    for column in (["breakdown"] if split else []) + columns:
        table.add_column(column, justify="right" if column not in ("step", "breakdown") else "left")
    _step_rows(table, result.steps, "(all)" if split else None)
    for value, steps in (result.breakdown or {}).items():
        table.add_section()
        _step_rows(table, steps, repr(value))
    return table


def funnel(
    events_file: Annotated[Path, typer.Argument(help="CSV or Parquet: person_id, event, timestamp (ISO 8601), ...")],
    step: Annotated[list[str], typer.Option("--step", help="A step: EVENT or EVENT:PROP=VALUE (repeat, in order).")],
    window: Annotated[str, typer.Option("--window", help="Conversion window from step 1: 14d, 24h, 5m, 15s.")] = "14d",
    order: Annotated[str, typer.Option("--order", help="ordered, strict or unordered.")] = "ordered",
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="EVENT[:PROP=VALUE][@FROM-TO], steps 1-based (repeat).")
    ] = None,
    breakdown: Annotated[str | None, typer.Option("--breakdown", help="Split by this property.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="duckdb, sqlite, postgres or spark.")] = "duckdb",
    engine_url: Annotated[str | None, typer.Option("--engine-url", help="Database URL for postgres.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the JSON result on stdout.")] = False,
) -> None:
    """Count people through ordered event steps (PostHog funnel semantics)."""
    from funnelbridge.analytics.event_funnel_load import run_funnel_file
    from funnelbridge.analytics.event_funnel_spec import build_spec

    spec = build_spec(step, window=window, order=order, exclude=exclude or [], breakdown=breakdown)
    url = engine_url or (state().settings.database_url if engine == "postgres" else None)
    result = run_funnel_file(events_file, spec, engine=engine, url=url)
    if as_json:
        typer.echo(json.dumps(result.to_json_dict(), allow_nan=False))
    else:
        console.print(_render(result))


def register(app: typer.Typer) -> None:
    """Add the ``funnel`` command to ``app``."""
    app.command("funnel")(funnel)
