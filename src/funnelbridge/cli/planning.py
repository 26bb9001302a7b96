"""CLI commands: playbook plan / suggest / apply (registered on the ``playbook`` sub-app)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from funnelbridge.cli.app import console, err_console, state
from funnelbridge.cli.playbook import playbook_app

if TYPE_CHECKING:
    from funnelbridge.planning.replay import PlanReport
    from funnelbridge.planning.suggest import Suggestion

__all__ = ["register"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _runtime() -> Any:
    from funnelbridge.bootstrap import open_runtime

    return open_runtime(state().settings)


def _plan_json(report: PlanReport) -> dict[str, Any]:
    data = asdict(report)
    for side in ("current", "proposed"):
        data[side].pop("mql_ids")
    return json.loads(json.dumps(data, default=str))  # type: ignore[no-any-return]


def _plan_table(report: PlanReport) -> Table:
    cur, new = report.current, report.proposed
    table = Table(title=f"Replay of {report.leads} leads — would-be {report.decision_stage.upper()}s")
    for name in ("", "current", "proposed"):
        table.add_column(name, justify="right" if name else "left")
    table.add_row("playbook", escape(f"{cur.name} ({cur.version})"), escape(f"{new.name} ({new.version})"))
    table.add_row("MQL threshold", escape(cur.mql_threshold), escape(new.mql_threshold))
    table.add_row(f"{report.decision_stage.upper()}s", str(cur.mqls), str(new.mqls))
    for stage in cur.reached:
        label = f"→ {stage} (actually reached)"
        table.add_row(label, f"{cur.reached[stage]} ({_pct(cur.conversion[stage])})",
                      f"{new.reached.get(stage, 0)} ({_pct(new.conversion.get(stage))})")  # fmt: skip
    for grade in sorted({*cur.grades, *new.grades}):
        table.add_row(f"grade {grade}", str(cur.grades.get(grade, 0)), str(new.grades.get(grade, 0)))
    for temp in ("hot", "warm", "cold"):
        table.add_row(temp, str(cur.temperatures.get(temp, 0)), str(new.temperatures.get(temp, 0)))
    weeks = max(len(cur.weekly_load), len(new.weekly_load), 1)
    table.add_row(
        "busiest week", str(max(cur.weekly_load.values(), default=0)), str(max(new.weekly_load.values(), default=0))
    )
    table.add_row("mean per active week", f"{cur.mqls / weeks:.1f}", f"{new.mqls / weeks:.1f}")
    return table


def _load_table(report: PlanReport) -> Table:
    table = Table(title="SLA load on sales: would-be MQLs per week (Monday, playbook time zone)")
    for name in ("week", "current", "proposed"):
        table.add_column(name, justify="right")
    for week in sorted({*report.current.weekly_load, *report.proposed.weekly_load}):
        table.add_row(week, str(report.current.weekly_load.get(week, 0)), str(report.proposed.weekly_load.get(week, 0)))
    return table


def plan(
    new: Annotated[Path, typer.Argument(help="The proposed playbook YAML.")],
    since: Annotated[str | None, typer.Option(help="Count would-be MQLs entering from this date (ISO).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replay history under a proposed playbook, side by side with the current one."""
    from funnelbridge.planning import plan_playbook
    from funnelbridge.playbook.loader import load_playbook

    proposed, rt = load_playbook(new), _runtime()
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("replaying history", total=None)
        report = plan_playbook(
            rt, proposed, _since(since), lambda done, total: bar.update(task, completed=done, total=total)
        )
    if as_json:
        typer.echo(json.dumps(_plan_json(report), indent=2, allow_nan=False))
        return
    period = f"since {report.since.date()}" if report.since else "all history"
    stage = report.decision_stage.upper()
    recorded = f"recorded {stage} entries in the period: {report.actual_mqls}"
    console.print(f"as of {report.as_of:%Y-%m-%d %H:%M} UTC, {period}; {recorded}")
    console.print(_plan_table(report))
    console.print(f"would enter {stage}: {len(report.entering)} leads; would leave: {len(report.leaving)} leads")
    if report.entering[:10] or report.leaving[:10]:
        console.print(
            f"  entering e.g. {list(report.entering[:10])}; leaving e.g. {list(report.leaving[:10])}", highlight=False
        )
    console.print(_load_table(report))


def _suggest_table(result: Suggestion) -> Table:
    table = Table(
        title=f"Suggested points ({result.points_per_doubling:g} per doubling of the odds of reaching {result.target})"
    )
    for name in ("rule", "kind", "current", "suggested", "fired", "log-odds/unit", "note"):
        table.add_column(name, justify="left" if name in ("rule", "kind", "note") else "right")
    for r in result.rules:
        suggested = "—" if r.suggested_points is None else f"{r.suggested_points:g}"
        coef = "—" if r.coefficient is None else f"{r.coefficient:+.3f}"
        table.add_row(escape(r.rule), r.kind, f"{r.current_points:g}", suggested, str(r.fired), coef, escape(r.note))
    return table


def _quality_table(result: Suggestion) -> Table:
    table = Table(
        title=f"Expected effect on {result.n_validation} later leads (decided from {result.validation_from[:10]})"
    )
    for name in ("", "current points", "suggested points"):
        table.add_column(name, justify="right" if name else "left")
    for key in ("roc_auc", "pr_auc", "top_decile_lift"):
        a, b = getattr(result.current, key), getattr(result.suggested, key)
        table.add_row(key, "—" if a is None else f"{a:.3f}", "—" if b is None else f"{b:.3f}")
    return table


def suggest(
    target: Annotated[str, typer.Option(help="The outcome stage the points should predict.")] = "customer",
    maturity_days: Annotated[
        float | None,
        typer.Option(help="Outcome horizon in days (default: from the observed decision-to-target times, ≥ 30)."),
    ] = None,
    points_per_doubling: Annotated[float, typer.Option(help="Points for each doubling of the odds.")] = 10.0,
    as_json: JsonFlag = False,
) -> None:
    """Propose point values for the scoring rules from the outcomes, with the expected lift, for review."""
    from funnelbridge.planning.suggest import suggest_points

    with err_console.status("learning from the outcomes…"):
        result = suggest_points(_runtime(), target, maturity_days, points_per_doubling)
    if as_json:
        typer.echo(json.dumps(asdict(result), indent=2, allow_nan=False))
        return
    console.print(f"fitted on {result.n_fit} leads, compared on the {result.n_validation} decided last")
    console.print(_suggest_table(result))
    console.print(_quality_table(result))
    console.print("Review these, put them in a copy of the playbook and check it with `funnelbridge playbook plan`.")


def apply(
    new: Annotated[Path, typer.Argument(help="The playbook YAML to activate.")],
    as_json: JsonFlag = False,
) -> None:
    """Activate a playbook: copy it to the active playbook path, record the version and rescore every lead."""
    from funnelbridge.planning.apply import apply_playbook

    settings, rt = state().settings, _runtime()
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("rescoring", total=None)
        result = apply_playbook(
            rt, new, Path(settings.playbook), lambda done, total: bar.update(task, completed=done, total=total)
        )
    if as_json:
        typer.echo(json.dumps(json.loads(json.dumps(asdict(result), default=str)), indent=2))
        return
    what = "activated" if result.changed else "already active; rescored"
    console.print(
        escape(f"playbook {result.version} {what} (previous {result.previous_version}); written to {result.written_to}")
    )
    console.print(
        f"rescored {result.rescore.leads} leads: grades {result.rescore.grades}, "
        f"temperatures {result.rescore.temperatures}",
        highlight=False,
    )
    if result.model_scored is not None:
        console.print(f"model probabilities stored again for {result.model_scored} leads")


def register(app: typer.Typer) -> None:
    """Add plan, suggest and apply to the ``playbook`` sub-app (registered by :mod:`funnelbridge.cli.playbook`)."""
    del app
    playbook_app.command("plan")(plan)
    playbook_app.command("suggest")(suggest)
    playbook_app.command("apply")(apply)
