"""CLI commands: ``funnelbridge report`` (the stage-funnel report) and ``funnelbridge export --parquet DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from funnelbridge.cli.app import console, state

__all__ = ["register"]

Period = Annotated[
    str | None,
    typer.Option(
        "--period",
        "-p",
        help="2026, 2026-Q1, 2026-03, 2026-W09, 2026-03-05, 2026-01-01..2026-03-31, last-30d, this-month, "
        "last-quarter or all (days in the playbook's time zone). Cohort basis: who entered in the period.",
    ),
]
By = Annotated[
    str | None,
    typer.Option("--by", help="Split by source, medium, campaign, segment, industry, country, owner, team or grade."),
]
EngineOpt = Annotated[
    str | None,
    typer.Option("--engine", "-e", help="store (default), sqlite, postgres, duckdb or spark (reads --parquet)."),
]


def report(
    period: Period = None,
    by: By = None,
    engine: EngineOpt = None,
    cohort: Annotated[str, typer.Option("--cohort", help="Cohort grain: day, week, month, quarter or none.")] = "month",
    strict: Annotated[
        bool, typer.Option("--strict", help="Strict order: leads that skipped a stage drop out.")
    ] = False,
    parquet: Annotated[
        Path | None, typer.Option("--parquet", help="Parquet export directory (for --engine spark/duckdb).")
    ] = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Pipeline name (default: the first).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of tables.")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML report here.")] = None,
) -> None:
    """Stage funnel, cohorts, velocity, leaks, economics and the handoff scorecard."""
    from funnelbridge.analytics.html import write_html
    from funnelbridge.analytics.render import render_report
    from funnelbridge.analytics.report import PARTS, funnel_report, report_to_json
    from funnelbridge.bootstrap import open_runtime

    settings = state().settings
    rt = open_runtime(settings)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True,
        disable=json_out,
    ) as bar:  # fmt: skip
        task = bar.add_task("report", total=len(PARTS))

        def tick(part: str) -> None:
            bar.update(task, description=part, completed=PARTS.index(part))

        result = funnel_report(
            rt, rt.playbook, period=period, by=by, engine=engine or settings.engine,
            cohort=None if cohort == "none" else cohort, order="strict" if strict else "any",
            parquet_dir=parquet, pipeline=pipeline, progress=tick,
        )  # fmt: skip
    rt.db.dispose()
    if json_out:
        typer.echo(report_to_json(result))
    else:
        render_report(console, result)
    if html is not None:
        written = write_html(result, html)
        if not json_out:
            console.print(f"HTML report written to [bold]{written}[/]")


def export(
    parquet: Annotated[Path, typer.Option("--parquet", help="Directory to write one <table>.parquet per table.")],
    table: Annotated[list[str] | None, typer.Option("--table", help="Only these tables (repeatable).")] = None,
) -> None:
    """Export the store's tables as Parquet (for the spark and duckdb engines, or any other tool)."""
    from funnelbridge.analytics.export import export_parquet
    from funnelbridge.store import tables as t
    from funnelbridge.store.db import connect

    db = connect(state().settings.database_url)
    names = table or sorted(t.metadata.tables)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("exporting", total=len(names))
        summary = export_parquet(db, parquet, tables=names, progress=lambda name, rows: bar.advance(task))
    db.dispose()
    total = sum(summary.rows.values())
    console.print(f"Exported {len(summary.rows)} tables ({total:,} rows) to [bold]{summary.directory}[/]")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("export")(export)
