"""The funnel report as one self-contained HTML page: inline CSS and SVG charts, no scripts, no CDN."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

from funnelbridge.analytics.report import FunnelReport
from funnelbridge.analytics.stages import StageFunnel

__all__ = ["funnel_svg", "report_to_html", "write_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6rem 0;font-size:13px}th,td{padding:.25rem .6rem;border-bottom:1px solid #eee}
th{text-align:left;background:#f6f6f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#666}.bad{color:#b3261e;font-weight:600}.good{color:#1b6e20;font-weight:600}.note{color:#666;font-size:12px}
"""
_MARKETING, _SALES, _HANDOFF = "#9c27b0", "#0288d1", "#f9a825"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _table(head: Sequence[str], rows: Iterable[Sequence[object]], numeric_from: int = 1) -> str:
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        cells = [
            f'<td class="n">{escape(str(c))}</td>' if i >= numeric_from else f"<td>{escape(str(c))}</td>"
            for i, c in enumerate(row)
        ]
        out += ["<tr>", *cells, "</tr>"]
    out.append("</tbody></table>")
    return "".join(out)


def funnel_svg(report: FunnelReport, width: int = 760) -> str:
    """The funnel chart as inline SVG: marketing stages, the handoff band, then sales stages (own scales)."""
    counts = {c.stage: c for c in report.funnel.total.counts}
    row, bar_w, left = 30, width - 320, 150
    parts: list[str] = []
    y = 10

    def bars(stages: Sequence[str], color: str) -> None:
        nonlocal y
        top = max((counts[s].reached for s in stages), default=0) or 1
        for stage in stages:
            c = counts[stage]
            w = bar_w * c.reached / top
            x = left + (bar_w - w) / 2
            title = escape(report.stage_titles.get(stage, stage))
            parts.append(f'<text x="{left - 8}" y="{y + 18}" text-anchor="end">{title}</text>')
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" rx="3" fill="{color}"/>')
            label = f"{c.reached:,} · {_pct(c.step_conversion)}"
            parts.append(f'<text x="{left + bar_w + 10}" y="{y + 18}">{escape(label)}</text>')
            y += row

    bars(report.marketing_stages, _MARKETING)
    if report.sales_stages:
        first = report.sales_stages[0]
        text = f"handoff → {report.stage_titles.get(first, first)}: {_pct(counts[first].step_conversion)} accepted"
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{bar_w}" height="18" fill="{_HANDOFF}" opacity=".35"/>')
        parts.append(f'<text x="{left + bar_w / 2}" y="{y + 15}" text-anchor="middle">{escape(text)}</text>')
        y += 26
        bars(report.sales_stages, _SALES)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y + 10}" font-size="13" '
        f'role="img" aria-label="funnel chart">{"".join(parts)}</svg>'
    )


def _hbar_svg(items: Sequence[tuple[str, float | None]], unit: str, width: int = 760) -> str:
    values = [v for _, v in items if v is not None]
    top = max(values, default=0) or 1
    row, left, bar_w = 24, 220, width - 320
    parts = []
    for i, (label, value) in enumerate(items):
        y = 6 + i * row
        w = 0 if value is None else bar_w * value / top
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{_SALES}"/>')
        parts.append(f'<text x="{left + w + 6}" y="{y + 15}">{escape(_num(value))} {escape(unit)}</text>')
    height = 12 + len(items) * row
    head = f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="12">'
    return head + "".join(parts) + "</svg>"


def _funnel_rows(funnel: StageFunnel, key: str) -> str:
    head = [key, "journeys", *funnel.stages]
    rows = [
        [g.cohort if key == "cohort" else g.segment, g.journeys, *(c.reached for c in g.counts)] for g in funnel.groups
    ]
    return _table(head, rows)


def _sections(r: FunnelReport) -> Iterable[str]:
    yield "<h2>Funnel</h2>" + funnel_svg(r)
    yield _table(
        ["stage", "reached", "step conversion", "cumulative"],
        [(r.stage_titles.get(c.stage, c.stage), f"{c.reached:,}", _pct(c.step_conversion),
          _pct(c.cumulative_conversion)) for c in r.funnel.total.counts],
    )  # fmt: skip
    if r.cohorts is not None and r.cohorts.groups:
        yield "<h2>Cohorts</h2>" + _funnel_rows(r.cohorts, "cohort")
    if r.split is not None:
        yield f"<h2>Split by {escape(str(r.split.spec.by))}</h2>" + _funnel_rows(r.split, "segment")
    v = r.velocity
    yield "<h2>Velocity (median days between stages)</h2>" + _hbar_svg(
        [(f"{g.from_stage} → {g.to_stage}", g.days.median) for g in v.gaps], "d"
    )
    yield _table(
        ["stage", "now in stage", "median days", "stall limit", "stalled"],
        [(d.stage, d.current, _num(d.days.median), _num(d.stall_limit_days, 0), d.stalled)
         for d in v.dwell if d.current],
    )  # fmt: skip
    yield from _leak_sections(r)
    yield from _money_sections(r)
    yield from _handoff_sections(r)


def _leak_sections(r: FunnelReport) -> Iterable[str]:
    lk = r.leaks
    yield f'<h2>Leaks</h2><p class="note">{escape(lk.method)}; q &lt; {lk.alpha}, n ≥ {lk.min_sample}.</p>'
    rows = []
    for s in lk.steps:
        base = s.baseline
        verdict = "–" if base is None else base.direction + (" (significant)" if base.significant else "")
        reasons = ", ".join(f"{x.reason} ({x.count})" for x in s.reasons[:3]) or "–"
        rows.append((f"{s.from_stage} → {s.to_stage}", s.reached_from, s.reached_to, s.lost, _pct(s.conversion),
                     verdict, reasons))  # fmt: skip
    yield _table(["step", "reached", "converted", "lost", "conversion", "vs baseline", "reasons"], rows)
    flagged = [(name, c) for name, c in lk.flagged]
    if flagged:
        yield _table(["step", "group", "n", "conversion", "reference", "q"],
                     [(n, c.group, c.n, _pct(c.conversion), _pct(c.reference_conversion),
                       f"{c.q_value:.3g}" if c.q_value is not None else "–") for n, c in flagged])  # fmt: skip
    for s in lk.steps:
        if s.drivers:
            yield f"<h3>Drivers of {escape(s.from_stage)} → {escape(s.to_stage)}</h3>" + _table(
                ["attribute / event", "converted with", "dropped with", "odds ratio", "more among"],
                [(d.name, f"{d.converted_with}/{d.converted_total}", f"{d.dropped_with}/{d.dropped_total}",
                  f"{d.odds_ratio:.2f}", d.over_represented_in) for d in s.drivers],
            )  # fmt: skip


def _money_sections(r: FunnelReport) -> Iterable[str]:
    eco = r.economics
    head = ["key", "cost", "leads", "CPL", "MQLs", "SQLs", "customers", "CAC", "revenue (1st)", "ROI (1st)",
            "revenue (last)", "ROI (last)"]  # fmt: skip
    for title, rows in (("channel", eco.channels), ("campaign", eco.campaigns)):
        yield f"<h2>Economics by {title}</h2>" + _table(
            head,
            [(x.key, _num(x.cost, 0), x.leads, _num(x.cost_per_lead, 0), x.mqls, x.sqls, x.customers, _num(x.cac, 0),
              _num(x.revenue_first_touch, 0), _pct(x.roi_first_touch), _num(x.revenue_last_touch, 0),
              _pct(x.roi_last_touch)) for x in (*rows, eco.total)],
        )  # fmt: skip
    yield "<h3>CAC by channel</h3>" + _hbar_svg([(x.key, x.cac) for x in eco.channels], "")
    f = eco.forecast
    yield (
        f"<p>CLV {_num(eco.clv, 0)} ({eco.customers_to_date:,} customers), CLV:CAC {_num(eco.clv_to_cac)}; "
        f"pipeline {_num(eco.pipeline_value, 0)} in {eco.open_deals:,} open deals, weighted "
        f"{_num(eco.weighted_pipeline, 0)}; forecast {escape(f.quarter)}: {_num(f.forecast, 0)} "
        f"(won {_num(f.won_to_date, 0)}, best case {_num(f.best_case, 0)}).</p>"
    )


def _handoff_sections(r: FunnelReport) -> Iterable[str]:
    h = r.handoff
    if h.queue_stage is None:
        return
    yield (
        f"<h2>Handoff scorecard</h2><p>{h.handed_over:,} handed over ({escape(h.queue_stage)} → "
        f"{escape(str(h.handoff_stage))}), {h.accepted:,} accepted, {h.rejected:,} rejected, {h.pending:,} pending: "
        f"acceptance <b>{_pct(h.acceptance_rate)}</b>; median {_num(h.hours_to_accept.median)} h to accept, "
        f"{_num(h.hours_to_first_touch.median)} h to first touch; {h.sla_breaches:,} SLA breaches.</p>"
    )
    yield _table(
        ["rep", "handed over", "accepted", "rejected", "acceptance", "h to accept", "h to first touch", "breaches"],
        [(x.rep, x.handed_over, x.accepted, x.rejected, _pct(x.acceptance_rate), _num(x.median_hours_to_accept),
          _num(x.median_hours_to_first_touch), x.sla_breaches) for x in h.reps],
    )  # fmt: skip
    yield _table(
        ["rejection reason", "count", "share"], [(x.reason, x.count, _pct(x.share)) for x in h.rejection_reasons]
    )
    yield _table(["week", "SLA breaches"], [(w.week, w.breaches) for w in h.breaches_by_week])


def report_to_html(report: FunnelReport) -> str:
    """The whole report as a self-contained HTML document."""
    title = f"{report.playbook} — funnel report"
    meta = (
        f"period {report.period.label} · as of {report.as_of:%Y-%m-%d %H:%M} UTC · zone {report.timezone} · "
        f"engine {report.engine} · {report.funnel.total.journeys:,} journeys"
    )
    body = "".join(_sections(report))
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<style>{_CSS}</style></head><body><h1>{escape(title)}</h1><p class="meta">{escape(meta)}</p>{body}'
        "</body></html>"
    )


def write_html(report: FunnelReport, path: Path | str) -> Path:
    """Write :func:`report_to_html` to ``path``."""
    out = Path(path)
    out.write_text(report_to_html(report), encoding="utf-8")
    return out
