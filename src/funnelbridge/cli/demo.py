"""CLI command: demo — simulate a B2B company through the real engine and print its funnel report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from funnelbridge.cli.app import console, state

if TYPE_CHECKING:
    from funnelbridge.demo.report import StageCounts
    from funnelbridge.demo.runner import DemoResult

__all__ = ["register"]

DEFAULT_DB = "sqlite:///funnelbridge-demo.db"


def _summary(result: DemoResult) -> Table:
    table = Table(title=f"Demo company — {result.people:,} people over {result.days} days (seed {result.seed})")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows: list[tuple[str, Any]] = [
        ("events ingested", result.events),
        ("people who identified themselves", result.identified),
        ("sales reps", result.reps),
        ("marketing spend (USD)", f"{result.marketing_spend:,.2f}"),
    ]
    rows += [(name.replace("_", " "), n) for name, n in {**result.actions, **result.engine}.items()]
    for name, value in rows:
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    return table


def _stage_table(counts: StageCounts) -> Table:
    top = max((n for _, n in counts.stages), default=0) or 1
    table = Table(title=f"Funnel (pipeline {counts.pipeline}; journeys that reached each stage)")
    for name, justify in (("stage", "left"), ("journeys", "right"), ("from previous", "right"), ("", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    previous = None
    for stage, n in counts.stages:
        rate = f"{n / previous:.1%}" if previous else ""
        table.add_row(stage, f"{n:,}", rate, "█" * max(1 if n else 0, round(30 * n / top)))
        previous = n
    for detour, n in counts.detours:
        table.add_row(f"[dim]{detour}[/]", f"{n:,}", "", "")
    return table


def _render_report(report: Any) -> None:
    from funnelbridge.demo.report import StageCounts, analytics_render_function

    if isinstance(report, StageCounts):
        console.print(_stage_table(report))
        console.print("[dim](basic stage counts: the analytics funnel report is not installed)[/]")
        return
    analytics_render_function()(console, report)


def _serve(settings: Any) -> None:
    from funnelbridge.demo.serve import dashboard_available, serve_dashboard

    if not dashboard_available():
        console.print("The dashboard is not available in this installation (no funnelbridge.web); done.")
        return

    def ready(login: Any) -> None:
        console.print(f"Dashboard at [bold]{login.url}[/] — log in as {login.email} / {login.password} (Ctrl-C stops)")

    serve_dashboard(settings, ready=ready)


def demo(
    leads: Annotated[
        int, typer.Option(min=1, help="People in the simulated market (visitors who may become leads).")
    ] = 3000,
    days: Annotated[int, typer.Option(min=1, help="Simulated days.")] = 180,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same database and report.")] = 7,
    db: Annotated[str, typer.Option("--db", help="Database URL of the demo store.")] = DEFAULT_DB,
    reset: Annotated[bool, typer.Option("--reset", help="Drop and recreate the demo database first.")] = False,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the dashboard afterwards.")] = False,
    ground_truth: Annotated[
        Path | None, typer.Option("--ground-truth", help="CSV of the hidden propensities (default: <db>.truth.csv).")
    ] = None,
    playbook: Annotated[Path | None, typer.Option(help="Playbook YAML (default: the shipped b2b example).")] = None,
) -> None:
    """Simulate a B2B company (campaigns, visitors, leads, reps, deals) through the engine and print the funnel."""
    from dataclasses import replace

    from funnelbridge.demo.report import build_report
    from funnelbridge.demo.runner import run_demo
    from funnelbridge.playbook.examples import example_path

    settings = replace(state().settings, database_url=db, playbook=str(playbook or example_path("b2b")))
    columns = (TextColumn("simulating days"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("days", total=days)
        result = run_demo(
            settings, leads, days, seed, lambda done, _total: bar.update(task, completed=done),
            ground_truth=ground_truth, reset=reset, report=build_report,
        )  # fmt: skip
    console.print(_summary(result))
    _render_report(result.report)
    console.print(f"ground truth: [bold]{result.truth_path}[/]; store: [bold]{result.database_url}[/]", highlight=False)
    console.print(f"simulated in {result.seconds:.1f} s", highlight=False)
    if serve:
        _serve(settings)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(demo)
