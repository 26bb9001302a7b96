"""CLI commands: playbook check / show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from funnelbridge.cli.app import console
from funnelbridge.playbook.schema import Playbook

__all__ = ["register"]

playbook_app = typer.Typer(help="Validate, inspect and plan playbooks.", no_args_is_help=True)


def _stage_table(pb: Playbook) -> Table:
    table = Table(title=f"{pb.name} — stages")
    for col in ("pipeline", "#", "stage", "owner", "moved by", "enters when", "SLA", "stalls after"):
        table.add_column(col)
    for name, pipe in pb.pipelines.items():
        for i, stage in enumerate(pipe.stages, 1):
            sla = stage.sla
            sla_text = (sla.decide_within or sla.first_touch_within or "") if sla else ""
            if sla and sla.business_hours:
                sla_text += " (business hours)"
            handoff = " ⇢ handoff" if stage.id == pipe.handoff else ""
            criteria = (
                "yes" if stage.enter_when else ("requires " + ", ".join(stage.requires) if stage.requires else "")
            )
            table.add_row(
                name,
                str(i),
                stage.title + handoff,
                stage.owner,
                stage.by,
                criteria,
                sla_text,
                pipe.stall_after.get(stage.id, ""),
            )
        table.add_row(name, "", "detours: " + ", ".join(pipe.detours), "", "", "", "", "")
    return table


def _scoring_table(pb: Playbook) -> Table:
    sc = pb.scoring
    table = Table(title="scoring")
    table.add_column("part")
    table.add_column("rules", justify="right")
    table.add_column("detail")
    fit_max = sum(r.points for r in sc.fit if r.points > 0)
    grades = ", ".join(f"{k} ≥ {v:g}" for k, v in sc.grades.items())
    table.add_row("fit", str(len(sc.fit)), f"up to {fit_max:g} points; grades {grades}, D below")
    decays = sum(1 for r in sc.engagement if r.half_life or r.expires_after)
    table.add_row("engagement", str(len(sc.engagement)), f"{decays} with decay or expiry")
    table.add_row("negative", str(len(sc.negative)), ", ".join(r.name or r.event or "rule" for r in sc.negative))
    table.add_row("temperature", "", f"hot ≥ {sc.temperature.hot:g}, warm ≥ {sc.temperature.warm:g}, else cold")
    mql = f"grade in {', '.join(sc.mql.grades)} and engagement ≥ {sc.mql.engagement:g}"
    table.add_row("MQL threshold", "", mql + (f" and total ≥ {sc.mql.total:g}" if sc.mql.total is not None else ""))
    if sc.groups:
        table.add_row("score groups", str(len(sc.groups)), ", ".join(sc.groups))
    return table


@playbook_app.command("check")
def check(file: Annotated[Path, typer.Argument(help="The playbook YAML to validate.")]) -> None:
    """Validate a playbook and print its stages and scoring summary."""
    from funnelbridge.playbook.loader import load_playbook

    pb = load_playbook(file)
    console.print(f"[green]✓[/] {file} is valid — [bold]{pb.name}[/] (version {pb.version}, time zone {pb.timezone})")
    console.print(_stage_table(pb))
    console.print(_scoring_table(pb))
    console.print(
        f"handoff: {len(pb.handoff.reject_reasons)} reject reasons, {len(pb.handoff.loss_reasons)} loss reasons; "
        f"routing: {len(pb.routing)} rules; automation: {len(pb.automation)} rules; nurture tracks: "
        f"{', '.join(pb.nurture) or 'none'}"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(playbook_app, name="playbook")
