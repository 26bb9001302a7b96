"""CLI commands: ``lead show|accept|reject|qualify|disqualify|advocate|recycle|sweep``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from funnelbridge.cli.app import console, state

if TYPE_CHECKING:
    from funnelbridge.lifecycle.model import Actor, Transition
    from funnelbridge.lifecycle.view import LeadView
    from funnelbridge.runtime import Runtime

__all__ = ["actor_of", "format_span", "register", "runtime"]

lead_app = typer.Typer(help="Show a lead and make sales decisions on it.", no_args_is_help=True)

T = TypeVar("T")
ContactArg = Annotated[int, typer.Argument(help="Contact id.")]
AsOpt = Annotated[str, typer.Option("--as", help="Who acts: a user's email (recorded on the transition).")]
RoleOpt = Annotated[str, typer.Option("--role", help="Role of the actor: marketing, sales or admin.")]
PipelineOpt = Annotated[str | None, typer.Option(help="Pipeline (default: the playbook's first).")]
KeyOpt = Annotated[str | None, typer.Option("--key", help="Idempotency key: a replay with it changes nothing.")]
NoteOpt = Annotated[str | None, typer.Option(help="Free-text note kept on the transition.")]


@contextmanager
def runtime() -> Iterator[Runtime]:
    """Open the runtime from the CLI settings, and close the store afterwards."""
    from funnelbridge.bootstrap import open_runtime

    rt = open_runtime(state().settings)
    try:
        yield rt
    finally:
        rt.db.dispose()


def actor_of(name: str, role: str) -> Actor:
    from funnelbridge.lifecycle.model import Actor

    return Actor(name, role)  # type: ignore[arg-type]  # validated by Actor


def _call(fn: Callable[[Runtime], T]) -> T:
    with runtime() as rt:
        return fn(rt)


def format_span(span: timedelta | None) -> str:
    """``2d 3h``, ``45m``, ``-1h 30m`` (negative: overdue)."""
    if span is None:
        return "–"
    sign, seconds = ("-" if span < timedelta(0) else ""), abs(int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes and not days else []
    return sign + (" ".join(parts) or "0m")


def _moved(t: Transition) -> None:
    skipped = f", skipped {', '.join(t.skipped)}" if t.skipped else ""
    reason = f" ({escape(t.reason)})" if t.reason else ""
    console.print(
        f"contact {t.contact_id} \\[{escape(t.pipeline)}]: {t.from_stage or '(new)'} → [bold]{t.to_stage}[/]"
        f"{reason}, journey {t.journey}{skipped}"
    )


@lead_app.command("show")
def show(contact_id: ContactArg) -> None:
    """Stage per pipeline, scores with their explanation, and the timeline of events and transitions."""
    from funnelbridge.lifecycle.view import lead_view

    view = _call(lambda rt: lead_view(rt, contact_id))
    _render_view(view)


def _render_view(view: LeadView) -> None:
    c = view.contact
    name = " ".join(p for p in (c.get("first_name"), c.get("last_name")) if p) or "(no name)"
    company = f" — {escape(str(view.account.get('name') or view.account.get('domain')))}" if view.account else ""
    console.print(f"[bold]{escape(name)}[/] <{escape(str(c.get('email') or 'anonymous'))}>{company}  id {c['id']}")
    for s in view.states:
        console.print(
            f"  \\[{escape(s.pipeline)}] stage [bold]{s.stage}[/] since {s.entered_at:%Y-%m-%d %H:%M} UTC, "
            f"journey {s.journey}"
        )
    bant = {k: c.get(f"bant_{k}") for k in ("budget", "authority", "need", "timeline")}
    if any(bant.values()):
        console.print("  BANT: " + ", ".join(f"{k}={escape(str(v))}" for k, v in bant.items() if v))
    for score in view.scores:
        console.print(_score_table(score))
    console.print(_timeline_table(view))
    if view.deals:
        console.print(_deals_table(view))


def _score_table(score: dict[str, Any]) -> Table:
    title = (
        f"score \\[{escape(str(score['score_group']))}]: total {score['total']:g} (fit {score['fit']:g}, engagement "
        f"{score['engagement']:g}, negative {score['negative']:g}) grade {score['grade']}, {score['temperature']}"
    )
    table = Table(title=title, title_justify="left")
    for col in ("kind", "rule", "points", "detail"):
        table.add_column(col, justify="right" if col == "points" else "left")
    for entry in _explanation_lines(score.get("explanation")):
        points = entry.get("points")
        detail = [f"{entry['events']} events"] if entry.get("events") is not None else []
        detail += [f"halves at {entry['halves_at'][:16]}"] if entry.get("halves_at") else []
        detail += [f"expires at {entry['expires_at'][:16]}"] if entry.get("expires_at") else []
        table.add_row(
            escape(str(entry.get("kind", ""))),
            escape(str(entry.get("rule") or entry.get("name") or entry.get("event") or "")),
            f"{points:g}" if isinstance(points, float | int) else "",
            escape(", ".join(detail)),
        )
    return table


def _explanation_lines(explanation: Any) -> list[dict[str, Any]]:
    """The stored explanation as rule lines: a list of ``{rule, kind, points, ...}`` (scoring's format), or a
    mapping of kind → lines."""
    if isinstance(explanation, str):
        import json

        explanation = json.loads(explanation)
    if isinstance(explanation, dict):
        return [{"kind": kind, **line} for kind, lines in explanation.items() for line in lines or []]
    return [line for line in explanation or [] if isinstance(line, dict)]


def _timeline_table(view: LeadView) -> Table:
    table = Table(title="timeline", title_justify="left")
    for col in ("at (UTC)", "kind", "what", "detail"):
        table.add_column(col)
    for entry in view.timeline:
        style = "bold" if entry.kind == "transition" else ""
        table.add_row(
            f"{entry.at:%Y-%m-%d %H:%M}", entry.kind, escape(entry.title), escape(entry.detail or ""), style=style
        )
    return table


def _deals_table(view: LeadView) -> Table:
    table = Table(title="deals", title_justify="left")
    for col in ("id", "name", "stage", "status", "amount", "probability", "expected close"):
        table.add_column(col)
    for d in view.deals:
        table.add_row(
            str(d.id),
            escape(d.name),
            d.stage,
            d.status,
            f"{d.amount:,.2f} {d.currency}",
            f"{d.probability:.0%}",
            str(d.expected_close or "–"),
        )
    return table


@lead_app.command("accept")
def accept_cmd(
    contact_id: ContactArg,
    actor: AsOpt,
    role: RoleOpt = "sales",
    pipeline: PipelineOpt = None,
    key: KeyOpt = None,
    note: NoteOpt = None,
) -> None:
    """Accept an MQL from the sales queue (MQL → SAL)."""
    from funnelbridge.lifecycle import accept

    who = actor_of(actor, role)
    _moved(_call(lambda rt: accept(rt, contact_id, who, pipeline=pipeline, note=note, idempotency_key=key)))


@lead_app.command("reject")
def reject_cmd(
    contact_id: ContactArg,
    actor: AsOpt,
    reason: Annotated[str, typer.Option(help="One of the playbook's handoff.reject_reasons.")],
    role: RoleOpt = "sales",
    pipeline: PipelineOpt = None,
    key: KeyOpt = None,
    note: NoteOpt = None,
) -> None:
    """Reject an MQL back to nurture (→ recycled) with a reason."""
    from funnelbridge.lifecycle import reject

    who = actor_of(actor, role)
    _moved(_call(lambda rt: reject(rt, contact_id, who, reason, pipeline=pipeline, note=note, idempotency_key=key)))


@lead_app.command("qualify")
def qualify_cmd(
    contact_id: ContactArg,
    actor: AsOpt,
    budget: Annotated[str | None, typer.Option(help="BANT: budget.")] = None,
    authority: Annotated[str | None, typer.Option(help="BANT: authority (who decides).")] = None,
    need: Annotated[str | None, typer.Option(help="BANT: need.")] = None,
    timeline: Annotated[str | None, typer.Option(help="BANT: timeline.")] = None,
    role: RoleOpt = "sales",
    pipeline: PipelineOpt = None,
    key: KeyOpt = None,
    note: NoteOpt = None,
) -> None:
    """Record BANT and qualify the lead (SAL → SQL); every field the stage requires must be known."""
    from funnelbridge.lifecycle import qualify

    given = {"budget": budget, "authority": authority, "need": need, "timeline": timeline}
    bant = {k: v for k, v in given.items() if v is not None}
    who = actor_of(actor, role)
    _moved(_call(lambda rt: qualify(rt, contact_id, who, bant, pipeline=pipeline, note=note, idempotency_key=key)))


@lead_app.command("disqualify")
def disqualify_cmd(
    contact_id: ContactArg,
    actor: AsOpt,
    reason: Annotated[str, typer.Option(help="One of the playbook's handoff.disqualify_reasons.")],
    role: RoleOpt = "sales",
    pipeline: Annotated[str | None, typer.Option(help="Pipeline (default: every pipeline).")] = None,
    key: KeyOpt = None,
    note: NoteOpt = None,
) -> None:
    """Disqualify a lead from any stage with a reason."""
    from funnelbridge.lifecycle import disqualify

    who = actor_of(actor, role)
    made = _call(lambda rt: disqualify(rt, contact_id, who, reason, pipeline=pipeline, note=note, idempotency_key=key))
    for t in made:
        _moved(t)


@lead_app.command("advocate")
def advocate_cmd(
    contact_id: ContactArg,
    actor: AsOpt,
    role: RoleOpt = "marketing",
    pipeline: PipelineOpt = None,
    key: KeyOpt = None,
    note: NoteOpt = None,
) -> None:
    """Mark a customer as an advocate (customer → evangelist)."""
    from funnelbridge.lifecycle import advocate

    who = actor_of(actor, role)
    _moved(_call(lambda rt: advocate(rt, contact_id, who, pipeline=pipeline, note=note, idempotency_key=key)))


@lead_app.command("recycle")
def recycle_cmd(
    contact_id: ContactArg,
    actor: AsOpt,
    reason: Annotated[str, typer.Option(help="One of the playbook's handoff.reject_reasons, or stalled.")],
    role: RoleOpt = "marketing",
    pipeline: PipelineOpt = None,
    key: KeyOpt = None,
    note: NoteOpt = None,
) -> None:
    """Send a lead back to long-term nurture (→ recycled) with a reason."""
    from funnelbridge.lifecycle import recycle

    who = actor_of(actor, role)
    _moved(_call(lambda rt: recycle(rt, contact_id, who, reason, pipeline=pipeline, note=note, idempotency_key=key)))


@lead_app.command("sweep")
def sweep_cmd() -> None:
    """Recycle stalled leads and leads whose lost deal's cool-down is over (run it periodically)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from funnelbridge.lifecycle.stalls import recycle

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        progress.add_task("recycling stalled and lost leads", total=None)
        summary = _call(recycle)
    console.print(f"recycled {summary.stalled} stalled and {summary.lost} lost leads")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(lead_app, name="lead")
