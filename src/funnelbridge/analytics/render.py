"""The funnel report in the terminal: Rich tables and a funnel chart — the marketing funnel and the sales funnel
joined at the handoff, each drawn with centred bars on its own scale."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from funnelbridge.analytics.leaks import StepLoss
from funnelbridge.analytics.quantiles import Summary
from funnelbridge.analytics.report import FunnelReport
from funnelbridge.analytics.stages import FunnelGroup, StageFunnel

__all__ = ["funnel_chart", "render_report"]

_BAR = 44
_MARKETING, _SALES = "magenta", "cyan"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _bars(stages: Sequence[str], group: FunnelGroup, report: FunnelReport, color: str) -> list[Text]:
    counts = {c.stage: c for c in group.counts}
    top = max((counts[s].reached for s in stages), default=0) or 1
    lines = []
    for stage in stages:
        count = counts[stage]
        width = max(1, round(_BAR * count.reached / top)) if count.reached else 0
        pad = (_BAR - width) // 2
        line = Text(f"{report.stage_titles.get(stage, stage):>14} ")
        line.append(" " * pad + "█" * width + " " * (_BAR - width - pad), style=color)
        line.append(f" {count.reached:>9,}  {_pct(count.step_conversion):>6}")
        lines.append(line)
    return lines


def funnel_chart(report: FunnelReport) -> RenderableType:
    """Marketing funnel, the handoff line, then the sales funnel (each on its own scale)."""
    total = report.funnel.total
    parts: list[RenderableType] = [Text(f"{'':>14} {'':^{_BAR}} {'reached':>9}  {'step':>6}", style="dim")]
    parts += _bars(report.marketing_stages, total, report, _MARKETING)
    if report.sales_stages:
        counts = {c.stage: c for c in total.counts}
        first = report.sales_stages[0]
        rate = _pct(counts[first].step_conversion)
        label = f" handoff → {report.stage_titles.get(first, first)}: {rate} accepted into sales "
        parts.append(Text(f"{'':>14} " + label.center(_BAR, "═"), style="bold yellow"))
        parts += _bars(report.sales_stages, total, report, _SALES)
    return Panel(Group(*parts), title="Funnel (marketing ▸ handoff ▸ sales)", expand=False)


def _funnel_table(title: str, funnel: StageFunnel, report: FunnelReport) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("stage")
    table.add_column("owner")
    table.add_column("reached", justify="right")
    table.add_column("step conv.", justify="right")
    table.add_column("cumulative", justify="right")
    for count in funnel.total.counts:
        owner = report.stage_owners.get(count.stage, "")
        table.add_row(
            report.stage_titles.get(count.stage, count.stage), owner, f"{count.reached:,}",
            _pct(count.step_conversion), _pct(count.cumulative_conversion),
        )  # fmt: skip
    return table


def _groups_table(title: str, funnel: StageFunnel, report: FunnelReport, key: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(key)
    if key == "cohort":
        table.add_column("age (d)", justify="right")
    for stage in funnel.stages:
        table.add_column(report.stage_titles.get(stage, stage), justify="right")
    table.add_column(f"{funnel.stages[0]}→{funnel.stages[-2] if len(funnel.stages) > 2 else funnel.stages[-1]}")
    last = funnel.stages[-2] if len(funnel.stages) > 2 else funnel.stages[-1]
    for group in funnel.groups:
        name = group.cohort if key == "cohort" else group.segment
        cells = [f"{c.reached:,}" for c in group.counts]
        age = [_num(group.maturity_days, 0)] if key == "cohort" else []
        table.add_row(name, *age, *cells, _pct(group.conversion(funnel.stages[0], last)))
    return table


def _summary_cells(s: Summary) -> list[str]:
    return [f"{s.n:,}", _num(s.p25), _num(s.median), _num(s.p75), _num(s.p90)]


def _velocity(report: FunnelReport) -> Iterable[Table]:
    v = report.velocity
    gaps = Table(title="Velocity: days between stages", title_justify="left")
    for col in ("from → to", "n", "p25", "median", "p75", "p90"):
        gaps.add_column(col, justify="left" if col == "from → to" else "right")
    for gap in v.gaps:
        gaps.add_row(f"{gap.from_stage} → {gap.to_stage}", *_summary_cells(gap.days))
    gaps.add_row("deal opened → won", *_summary_cells(v.deal_cycle_days), style="bold")
    gaps.add_row("entered → customer", *_summary_cells(v.lead_to_customer_days), style="bold")
    yield gaps
    dwell = Table(title="Time in current stage and stalled leads", title_justify="left")
    for col in ("stage", "now in stage", "median days", "p90 days", "stall limit (d)", "stalled"):
        dwell.add_column(col, justify="left" if col == "stage" else "right")
    for d in v.dwell:
        if d.current or d.stall_limit_days is not None:
            style = "red" if d.stalled else None
            dwell.add_row(
                d.stage, f"{d.current:,}", _num(d.days.median), _num(d.days.p90), _num(d.stall_limit_days, 0),
                f"{d.stalled:,}", style=style,
            )  # fmt: skip
    yield dwell


def _leaks(report: FunnelReport) -> Iterable[RenderableType]:
    lk = report.leaks
    table = Table(title=f"Leaks (split by {lk.dimension}; {lk.method}; q<{lk.alpha}, n≥{lk.min_sample})",
                  title_justify="left")  # fmt: skip
    for col in ("step", "reached", "converted", "lost", "conv.", "baseline", "vs baseline", "top reasons"):
        table.add_column(col, justify="right" if col in ("reached", "converted", "lost", "conv.") else "left")
    for step in lk.steps:
        base = step.baseline
        verdict = "–" if base is None else base.direction + (" ⚠" if base.significant else "")
        reasons = ", ".join(f"{r.reason} ({r.count})" for r in step.reasons[:3]) or "–"
        style = "bold" if f"{step.from_stage}→{step.to_stage}" in lk.biggest else None
        table.add_row(
            f"{step.from_stage} → {step.to_stage}", f"{step.reached_from:,}", f"{step.reached_to:,}",
            f"{step.lost:,}", _pct(step.conversion), _pct(None if base is None else base.reference_conversion),
            verdict, reasons, style=style,
        )  # fmt: skip
    yield table
    flagged = lk.flagged
    if flagged:
        flags = Table(title="Significant differences", title_justify="left")
        for col in ("step", "group", "n", "conv.", "reference", "q"):
            flags.add_column(col)
        for name, c in flagged:
            q = "–" if c.q_value is None else f"{c.q_value:.3g}"
            color = "red" if c.direction == "worse" else "green"
            cells = (name, c.group, f"{c.n:,}", _pct(c.conversion), _pct(c.reference_conversion), q)
            flags.add_row(*cells, style=color)
        yield flags
    else:
        yield Text("No statistically significant change or segment difference.", style="dim")
    for step in lk.steps:
        if step.drivers:
            yield _drivers_table(step)


def _drivers_table(step: StepLoss) -> Table:
    title = f"Drivers of {step.from_stage} → {step.to_stage} (odds ratio of converting)"
    table = Table(title=title, title_justify="left")
    for col in ("attribute / event", "converted with", "dropped with", "odds ratio", "more among"):
        table.add_column(col, justify="left" if col in ("attribute / event", "more among") else "right")
    for d in step.drivers:
        table.add_row(
            d.name, f"{d.converted_with}/{d.converted_total}", f"{d.dropped_with}/{d.dropped_total}",
            f"{d.odds_ratio:.2f}", d.over_represented_in, style="green" if d.odds_ratio >= 1 else "red",
        )  # fmt: skip
    return table


def _economics(report: FunnelReport) -> Iterable[RenderableType]:
    eco = report.economics
    for title, rows in (("Economics by channel", eco.channels), ("Economics by campaign (first touch)", eco.campaigns)):
        table = Table(title=title, title_justify="left")
        cols = ("key", "cost", "leads", "CPL", "MQLs", "per MQL", "SQLs", "per SQL", "customers", "CAC",
                "revenue 1st", "ROI 1st", "revenue last", "ROI last")  # fmt: skip
        for col in cols:
            table.add_column(col, justify="left" if col == "key" else "right")
        for r in (*rows, eco.total):
            table.add_row(
                r.key, _money(r.cost), f"{r.leads:,}", _money(r.cost_per_lead), f"{r.mqls:,}", _money(r.cost_per_mql),
                f"{r.sqls:,}", _money(r.cost_per_sql), f"{r.customers:,}", _money(r.cac),
                _money(r.revenue_first_touch), _pct(r.roi_first_touch), _money(r.revenue_last_touch),
                _pct(r.roi_last_touch), style="bold" if r.key == "total" else None,
            )  # fmt: skip
        yield table
    f = eco.forecast
    yield Text.assemble(
        ("CLV ", "bold"), _money(eco.clv), f" ({eco.customers_to_date:,} customers)   ",
        ("CLV:CAC ", "bold"), _num(eco.clv_to_cac), "   ",
        ("pipeline ", "bold"), f"{_money(eco.pipeline_value)} in {eco.open_deals:,} open deals, weighted ",
        _money(eco.weighted_pipeline), "\n",
        (f"forecast {f.quarter} ", "bold"), f"{_money(f.forecast)} (won {_money(f.won_to_date)} + weighted open ",
        f"{_money(f.weighted_open)}; best case {_money(f.best_case)})",
    )  # fmt: skip


def _handoff(report: FunnelReport) -> Iterable[RenderableType]:
    h = report.handoff
    if h.queue_stage is None:
        yield Text("No handoff stage in this pipeline.", style="dim")
        return
    yield Text.assemble(
        ("Handoff ", "bold"), f"{h.queue_stage} → {h.handoff_stage}: {h.handed_over:,} handed over, ",
        f"{h.accepted:,} accepted, {h.rejected:,} rejected, {h.pending:,} pending — acceptance ",
        (_pct(h.acceptance_rate), "bold"), f"; time to accept median {_num(h.hours_to_accept.median)} h ",
        f"(p90 {_num(h.hours_to_accept.p90)} h); first touch after {h.touch_stage} median ",
        f"{_num(h.hours_to_first_touch.median)} h; SLA breaches {h.sla_breaches:,}",
    )  # fmt: skip
    reps = Table(title="Handoff per rep", title_justify="left")
    for col in (
        "rep",
        "handed over",
        "accepted",
        "rejected",
        "acceptance",
        "h to accept",
        "h to 1st touch",
        "SLA breaches",
    ):
        reps.add_column(col, justify="left" if col == "rep" else "right")
    for r in h.reps:
        reps.add_row(
            r.rep, f"{r.handed_over:,}", f"{r.accepted:,}", f"{r.rejected:,}", _pct(r.acceptance_rate),
            _num(r.median_hours_to_accept), _num(r.median_hours_to_first_touch), f"{r.sla_breaches:,}",
        )  # fmt: skip
    yield reps
    small = Table(title="Rejection reasons · SLA breaches per week", title_justify="left")
    small.add_column("reason")
    small.add_column("count", justify="right")
    small.add_column("week")
    small.add_column("breaches", justify="right")
    rows = max(len(h.rejection_reasons), len(h.breaches_by_week))
    for i in range(rows):
        reason = h.rejection_reasons[i] if i < len(h.rejection_reasons) else None
        week = h.breaches_by_week[i] if i < len(h.breaches_by_week) else None
        small.add_row(
            reason.reason if reason else "", f"{reason.count:,} ({reason.share:.0%})" if reason else "",
            week.week if week else "", f"{week.breaches:,}" if week else "",
        )  # fmt: skip
    if rows:
        yield small


def render_report(console: Console, report: FunnelReport) -> None:
    """Print the whole report: header, funnel chart, then the tables of every part."""
    console.rule(f"[bold]{report.playbook}[/] · pipeline {report.pipeline}")
    console.print(
        f"period [bold]{report.period.label}[/] ({report.funnel.spec.basis.value} basis, "
        f"{report.funnel.spec.order.value} order) · as of {report.as_of:%Y-%m-%d %H:%M} UTC · "
        f"zone {report.timezone} · engine {report.engine} · {report.funnel.total.journeys:,} journeys"
    )
    console.print(funnel_chart(report))
    console.print(_funnel_table("Stage funnel", report.funnel, report))
    if report.cohorts is not None and report.cohorts.groups:
        console.print(
            _groups_table("Cohorts (by month entered; conversions counted to date)", report.cohorts, report, "cohort")
        )
    if report.split is not None:
        console.print(_groups_table(f"Split by {report.split.spec.by}", report.split, report, "segment"))
    for part in (*_velocity(report), *_leaks(report), *_economics(report), *_handoff(report)):
        console.print(part)
