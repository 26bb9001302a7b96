"""The transition table as Markdown (docs/lifecycle.md prints it for every shipped playbook)."""

from __future__ import annotations

from funnelbridge.lifecycle.table import Rule, TransitionTable, build_table
from funnelbridge.playbook.schema import Playbook

__all__ = ["playbook_tables_markdown", "table_markdown"]


def _cell(rule: Rule) -> tuple[str, ...]:
    needs = []
    if rule.criteria:
        needs.append(f"entry criteria of `{rule.to_stage}`")
    if rule.reasons is not None:
        needs.append("reason: " + ", ".join(f"`{r}`" for r in rule.reasons))
    if rule.requires:
        needs.append("fields: " + ", ".join(f"`{f}`" for f in rule.requires))
    if rule.new_journey:
        needs.append("new activity after the recycle, hold over; starts journey + 1")
    skipped = ", ".join(rule.skipped) or "–"
    return (rule.move.value, rule.from_stage or "(new)", rule.to_stage, rule.who(), "; ".join(needs) or "–", skipped)


def table_markdown(table: TransitionTable) -> str:
    """One pipeline's roles and rules as Markdown."""
    r = table.roles
    parts = [
        f"stages: {' → '.join(r.stages)}; queue `{r.queue}`, handoff `{r.handoff}`, qualify `{r.qualify}`, "
        f"opportunity `{r.opportunity}`, customer `{r.customer}`, advocacy `{r.advocacy}`, "
        f"identification gate `{r.gate}`, re-entry `{r.reentry}`; deals open from {', '.join(r.deal_from)}",
        "",
        "| move | from | to | who | requires | records as skipped |",
        "|---|---|---|---|---|---|",
    ]
    parts += ["| " + " | ".join(_cell(rule)) + " |" for rule in table.rules]
    return "\n".join(parts) + "\n"


def playbook_tables_markdown(pb: Playbook) -> str:
    """Every pipeline of ``pb``."""
    out = []
    for name, pipe in pb.pipelines.items():
        out.append(f"#### {pb.name} — pipeline `{name}`\n\n" + table_markdown(build_table(pipe, pb.handoff, name)))
    return "\n".join(out)
