"""CLI command: ``funnelbridge score`` — rescore every lead, or explain one lead's score."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from funnelbridge.cli.app import console, state
from funnelbridge.errors import InputError

if TYPE_CHECKING:
    from funnelbridge.scoring.rescore import RescoreSummary
    from funnelbridge.scoring.results import GroupScore
    from funnelbridge.scoring.service import ScoreResult

__all__ = ["parse_as_of", "register"]

GRADES = ("A", "B", "C", "D")
TEMPERATURES = ("hot", "warm", "cold")


def parse_as_of(text: str | None, timezone: str) -> datetime | None:
    """``2025-06-01`` → the end of that day in the playbook's time zone; a full ISO time is taken as given (UTC
    when it has no zone)."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            end = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(timezone)) - timedelta(microseconds=1)
            return end.astimezone(ZoneInfo("UTC"))
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError("expected a date (2025-06-01) or an ISO time", field="--as-of") from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))


def _not_future(as_of: datetime | None, now: datetime) -> datetime | None:
    """A stored rescore may not look ahead (it would store decayed future scores as current and fire automation on
    crossings that have not happened): a later time is refused; today's date (end of today) means now."""
    if as_of is None or as_of <= now:
        return as_of
    if as_of - now < timedelta(days=1) and as_of.microsecond == 999999:
        return None
    raise InputError(
        f"{as_of.isoformat()} is in the future; a rescore stores its scores: use today or earlier", field="--as-of"
    )


def _distribution_table(summary: RescoreSummary) -> Table:
    table = Table(title=f"{summary.leads} leads by fit grade (rules engine: {summary.engine})")
    table.add_column("grade")
    table.add_column("leads", justify="right")
    table.add_column("share", justify="right")
    for grade in GRADES:
        n = summary.grades.get(grade, 0)
        table.add_row(grade, str(n), f"{n / summary.leads:.1%}" if summary.leads else "—")
    return table


def _temperature_table(summary: RescoreSummary) -> Table:
    table = Table(title="by temperature (engagement bands)")
    table.add_column("temperature")
    table.add_column("leads", justify="right")
    for band in TEMPERATURES:
        table.add_row(band, str(summary.temperatures.get(band, 0)))
    return table


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _decay_note(item: dict[str, object]) -> str:
    if "halves_at" in item:
        return f"half-life {item['half_life_days']:g}d, halves by {str(item['halves_at'])[:10]}"
    if "expires_at" in item:
        return f"next expiry {str(item['expires_at'])[:16].replace('T', ' ')}"
    return ""


def _group_table(score: GroupScore) -> Table:
    title = (
        f"[bold]{score.group}[/]: total {score.total:,.2f} = fit {score.fit:,.2f} (grade {score.grade}) + "
        f"engagement {score.engagement:,.2f} ({score.temperature}) + negative {score.negative:,.2f}; "
        f"{score.quadrant.replace('_', ' ')}; MQL eligible: {'yes' if score.mql_eligible else 'no'}"
    )
    table = Table(title=title, title_justify="left")
    for col, justify in (("rule", "left"), ("kind", "left"), ("points", "right"), ("raw", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    table.add_column("events", justify="right")
    table.add_column("decay")
    for item in score.explanation_json():
        events = item.get("events")
        table.add_row(
            str(item["rule"]), str(item["kind"]), _fmt(item["points"]), _fmt(item.get("raw_points")),
            "" if events is None else str(events), _decay_note(item),
        )  # fmt: skip
    if not score.explanation:
        table.add_row("(no rule applies)", "", "", "", "", "")
    return table


def _render_explain(result: ScoreResult) -> None:
    console.print(f"contact [bold]{result.contact_id}[/] scored as of {result.as_of.isoformat()}")
    for score in (result.main, *result.groups.values()):
        console.print(_group_table(score))


def _explain_json(result: ScoreResult) -> str:
    groups = [result.main, *result.groups.values()]
    data = {
        "contact_id": result.contact_id,
        "as_of": result.as_of.isoformat(),
        "groups": {
            g.group: {k: getattr(g, k) for k in ("fit", "engagement", "negative", "total", "grade", "temperature",
                                                  "quadrant", "mql_eligible")} | {"explanation": g.explanation_json()}
            for g in groups
        },
    }  # fmt: skip
    return json.dumps(data, indent=2)


def _rescore(as_of_text: str | None, as_json: bool) -> None:
    from funnelbridge.bootstrap import open_runtime
    from funnelbridge.scoring.service import rescore_all

    rt = open_runtime(state().settings)
    as_of = _not_future(parse_as_of(as_of_text, rt.playbook.timezone), rt.clock.now())
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True, disable=as_json) as bar:
        task = bar.add_task("scoring leads (load → score → store)", total=None)
        summary = rescore_all(rt, as_of, progress=lambda done, total: bar.update(task, completed=done, total=total))
    rt.db.dispose()
    if as_json:
        data = {k: v for k, v in summary.__dict__.items() if k != "as_of"} | {"as_of": summary.as_of.isoformat()}
        console.print_json(json.dumps(data))
        return
    console.print(_distribution_table(summary))
    console.print(_temperature_table(summary))
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in summary.seconds.items())
    console.print(
        f"stored {summary.rows} score rows as of {summary.as_of.isoformat()} with playbook {summary.playbook_version}"
        f" ({phases}); {summary.crossings} threshold crossings published"
    )


def score(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Score as of this date (end of day, playbook time zone) or ISO time.")
    ] = None,
    explain: Annotated[
        str | None, typer.Option("--explain", help="Explain one lead's score (contact id or e-mail); stores nothing.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Rescore every lead (progress bar, grade/temperature distribution), or explain one lead's score."""
    if explain is None:
        _rescore(as_of, as_json)
        return
    from funnelbridge.bootstrap import open_runtime
    from funnelbridge.scoring.service import explain_contact

    rt = open_runtime(state().settings)
    result = explain_contact(rt, explain, parse_as_of(as_of, rt.playbook.timezone))
    rt.db.dispose()
    if as_json:
        console.print_json(_explain_json(result))
    else:
        _render_explain(result)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("score")(score)
