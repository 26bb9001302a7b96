"""The funnel report: every stage-analytics part for one period, assembled into one named result.

``funnel_report`` is the entry point the CLI, the demo, the REST API and the dashboard call. It takes a
:class:`~funnelbridge.runtime.Runtime`, a :class:`~funnelbridge.store.db.Database` or an already open
:class:`~funnelbridge.analytics.engines.Engine`, resolves the engine, runs the parts and closes what it opened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from funnelbridge.analytics.economics import Economics, economics
from funnelbridge.analytics.engines import Engine, EngineKind, open_engine
from funnelbridge.analytics.handoff import HandoffScorecard, handoff_scorecard
from funnelbridge.analytics.leaks import LeakReport, leaks
from funnelbridge.analytics.periods import Grain, Period, parse_period
from funnelbridge.analytics.stages import Order, StageFunnel, stage_funnel_views
from funnelbridge.analytics.tables import Context, Dimension, journeys
from funnelbridge.analytics.velocity import Velocity, velocity
from funnelbridge.domain.clock import as_utc, utcnow
from funnelbridge.errors import ConfigError, InputError
from funnelbridge.playbook.schema import Playbook, Team
from funnelbridge.runtime import Runtime
from funnelbridge.store.db import Database

__all__ = [
    "PARTS",
    "FunnelReport",
    "ReportOptions",
    "build_report",
    "economics_report",
    "funnel_report",
    "handoff_report",
    "leak_report",
    "open_context",
    "report_to_json",
    "velocity_report",
]

Source = Runtime | Database | Engine
T = TypeVar("T")


@dataclass(frozen=True)
class ReportOptions:
    """What to run: the period text, the split dimension, cohort grain, strict order, engine and Parquet dir."""

    period: str | None = None
    by: Dimension | None = None
    cohort: Grain | None = Grain.MONTH
    order: Order = Order.ANY
    engine: EngineKind = EngineKind.STORE
    parquet_dir: Path | None = None
    pipeline: str | None = None
    as_of: datetime | None = None


@dataclass(frozen=True)
class FunnelReport:
    """Everything the terminal, HTML and JSON reports show."""

    playbook: str
    pipeline: str
    engine: str
    as_of: datetime
    timezone: str
    period: Period
    handoff_stage: str | None
    marketing_stages: tuple[str, ...]
    sales_stages: tuple[str, ...]
    stage_titles: dict[str, str]
    stage_owners: dict[str, str]
    funnel: StageFunnel
    cohorts: StageFunnel | None
    split: StageFunnel | None
    velocity: Velocity
    leaks: LeakReport
    economics: Economics
    handoff: HandoffScorecard

    def to_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "pipeline": self.pipeline,
            "engine": self.engine,
            "as_of": self.as_of.isoformat(),
            "timezone": self.timezone,
            "period": self.period.to_dict(),
            "handoff_stage": self.handoff_stage,
            "marketing_stages": list(self.marketing_stages),
            "sales_stages": list(self.sales_stages),
            "stage_titles": dict(self.stage_titles),
            "stage_owners": dict(self.stage_owners),
            "funnel": self.funnel.to_dict(),
            "cohorts": None if self.cohorts is None else self.cohorts.to_dict(),
            "split": None if self.split is None else self.split.to_dict(),
            "velocity": self.velocity.to_dict(),
            "leaks": self.leaks.to_dict(),
            "economics": self.economics.to_dict(),
            "handoff": self.handoff.to_dict(),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def report_to_json(report: FunnelReport | Any, *, indent: int | None = 2) -> str:
    """The report (or any analytics result with ``to_dict``) as JSON text."""
    data = report.to_dict() if hasattr(report, "to_dict") else report
    return json.dumps(data, indent=indent, default=_plain, ensure_ascii=False)


def _split_stages(pb: Playbook, pipeline: str) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    pipe = pb.pipelines[pipeline]
    handoff = pipe.handoff
    if handoff is None:
        marketing = tuple(s.id for s in pipe.stages if s.owner == Team.MARKETING)
        return None, marketing, tuple(s for s in pipe.stage_ids if s not in marketing)
    cut = pipe.index(handoff)
    return handoff, pipe.stage_ids[:cut], pipe.stage_ids[cut:]


@contextmanager
def open_context(source: Source, playbook: Playbook | None, options: ReportOptions) -> Iterator[Context]:
    """A :class:`Context` over ``source``; closes the engine afterwards when it opened one."""
    if isinstance(source, Runtime):
        playbook = playbook or source.playbook
        as_of = options.as_of or source.clock.now()
    else:
        as_of = options.as_of or utcnow()
    if playbook is None:
        raise ConfigError("a report needs the playbook (pass it, or pass a Runtime)")
    pipeline = options.pipeline or playbook.main_name
    if pipeline not in playbook.pipelines:
        raise InputError(f"no pipeline {pipeline!r} (have: {', '.join(playbook.pipelines)})", field="pipeline")
    if isinstance(source, Engine):
        yield Context(source, playbook, pipeline, as_utc(as_of))
        return
    db = source.db if isinstance(source, Runtime) else source
    engine = open_engine(db, options.engine, parquet_dir=options.parquet_dir)
    try:
        yield Context(engine, playbook, pipeline, as_utc(as_of))
    finally:
        engine.close()


def _options(period: str | None, by: Dimension | str | None, engine: EngineKind | str, **kw: Any) -> ReportOptions:
    return ReportOptions(period=period, by=Dimension.parse(by), engine=EngineKind(engine), **kw)


def _part(source: Source, playbook: Playbook | None, options: ReportOptions, run: Callable[[Context, Period], T]) -> T:
    with open_context(source, playbook, options) as ctx:
        return run(ctx, parse_period(options.period, ctx.tz, ctx.as_of))


def funnel_report(
    source: Source,
    playbook: Playbook | None = None,
    *,
    period: str | None = None,
    by: Dimension | str | None = None,
    engine: EngineKind | str = EngineKind.STORE,
    cohort: Grain | str | None = Grain.MONTH,
    order: Order | str = Order.ANY,
    parquet_dir: Path | str | None = None,
    pipeline: str | None = None,
    as_of: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> FunnelReport:
    """The whole stage-funnel report for ``period`` (``None`` = all time) on ``engine``; ``progress(part)`` is called
    before each of the :data:`PARTS`."""
    options = _options(
        period, by, engine, cohort=None if cohort is None else Grain(cohort), order=Order(order),
        parquet_dir=None if parquet_dir is None else Path(parquet_dir), pipeline=pipeline, as_of=as_of,
    )  # fmt: skip
    with open_context(source, playbook, options) as ctx:
        return build_report(ctx, options, progress)


PARTS = ("stage funnel", "cohorts", "split", "velocity", "leaks", "economics", "handoff")


def build_report(ctx: Context, options: ReportOptions, progress: Callable[[str], None] | None = None) -> FunnelReport:
    """Run every part on an open context."""
    tick = progress or (lambda _part: None)
    period = parse_period(options.period, ctx.tz, ctx.as_of)
    tick(PARTS[0])
    journeys(ctx)  # materialised once up front: the funnel, velocity, leaks and economics all read it
    funnel, cohorts, split = stage_funnel_views(ctx, period, order=options.order, cohort=options.cohort, by=options.by)
    tick(PARTS[1])
    tick(PARTS[2])
    tick(PARTS[3])
    speed = velocity(ctx, period)
    tick(PARTS[4])
    leak = leaks(ctx, period, by=options.by)
    tick(PARTS[5])
    money = economics(ctx, period)
    tick(PARTS[6])
    card = handoff_scorecard(ctx, period)
    handoff, marketing, sales = _split_stages(ctx.playbook, ctx.pipeline_name)
    titles = {s.id: s.title for s in ctx.pipeline.stages}
    owners = {s.id: s.owner.value for s in ctx.pipeline.stages}
    return FunnelReport(
        ctx.playbook.name, ctx.pipeline_name, ctx.engine.name, ctx.as_of, ctx.playbook.timezone, period,
        handoff, marketing, sales, titles, owners, funnel, cohorts, split, speed, leak, money, card,
    )  # fmt: skip


def velocity_report(
    source: Source, playbook: Playbook | None = None, *, period: str | None = None, engine: str = "store"
) -> Velocity:
    return _part(source, playbook, _options(period, None, engine), velocity)


def leak_report(
    source: Source,
    playbook: Playbook | None = None,
    *,
    period: str | None = None,
    by: Dimension | str | None = None,
    engine: str = "store",
) -> LeakReport:
    options = _options(period, by, engine)
    return _part(source, playbook, options, lambda ctx, p: leaks(ctx, p, by=options.by))


def economics_report(
    source: Source, playbook: Playbook | None = None, *, period: str | None = None, engine: str = "store"
) -> Economics:
    return _part(source, playbook, _options(period, None, engine), economics)


def handoff_report(
    source: Source, playbook: Playbook | None = None, *, period: str | None = None, engine: str = "store"
) -> HandoffScorecard:
    return _part(source, playbook, _options(period, None, engine), handoff_scorecard)
