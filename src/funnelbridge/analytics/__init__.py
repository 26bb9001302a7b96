"""Analytics: funnel specs and Ibis expressions that run on every engine (DuckDB, SQLite, PostgreSQL, Spark).

Stage analytics (docs/analytics.md): :func:`funnel_report` assembles the stage funnel, cohorts, velocity, leaks,
economics and the handoff scorecard into a :class:`FunnelReport`; :func:`render_report` prints it with Rich,
:func:`report_to_json` and :func:`report_to_html` serialise it. The ordered event funnels live in
``analytics.event_funnel*``.
"""

from funnelbridge.analytics.engines import UNSUPPORTED, Engine, EngineKind, engine_for, open_engine
from funnelbridge.analytics.export import export_parquet
from funnelbridge.analytics.html import report_to_html, write_html
from funnelbridge.analytics.periods import Grain, Period, parse_period
from funnelbridge.analytics.render import render_report
from funnelbridge.analytics.report import (
    FunnelReport,
    economics_report,
    funnel_report,
    handoff_report,
    leak_report,
    report_to_json,
    velocity_report,
)
from funnelbridge.analytics.stages import Basis, StageFunnelSpec
from funnelbridge.analytics.stages import Order as StageOrder
from funnelbridge.analytics.tables import Context, Dimension

__all__ = [
    "UNSUPPORTED",
    "Basis",
    "Context",
    "Dimension",
    "Engine",
    "EngineKind",
    "FunnelReport",
    "Grain",
    "Period",
    "StageFunnelSpec",
    "StageOrder",
    "economics_report",
    "engine_for",
    "export_parquet",
    "funnel_report",
    "handoff_report",
    "leak_report",
    "open_engine",
    "parse_period",
    "render_report",
    "report_to_html",
    "report_to_json",
    "velocity_report",
    "write_html",
]
