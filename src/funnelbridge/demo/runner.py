"""The main job: simulate a company day by day through the real engine.

Per simulated day, with a :class:`~funnelbridge.domain.clock.FrozenClock` set to the simulated time: in the
morning the sales floor works its follow-ups and the queue (business days) through the lifecycle commands; at
midnight the whole day's activity goes through batch intake with deferred processing (``ingest_events(...,
defer=True)``: events stored, touched contacts queued once however often they were active) and one drain of the
activity queue (:func:`funnelbridge.activity.drain`) scores and advances every touched lead in large batches; then
stalled and lost leads recycle, due timers fire and the campaigns' costs for the day are recorded. Nothing is
written to the store except through those service functions; the hidden truth goes to a CSV file beside it.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from funnelbridge.bootstrap import open_runtime
from funnelbridge.demo.behaviour import Crowd, day_start, new_crowd, simulate_day
from funnelbridge.demo.books import record_campaigns, record_costs
from funnelbridge.demo.database import prepare_store, truth_path_for
from funnelbridge.demo.floor import Rep, SalesFloor, work_day
from funnelbridge.demo.marketing import campaign_rows, day_costs
from funnelbridge.demo.sales import rep_names
from funnelbridge.demo.timing import PartTimes
from funnelbridge.demo.truth import write_truth
from funnelbridge.demo.world import Market, World, WorldShape, build_world
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.lifecycle.model import Actor
from funnelbridge.playbook.examples import example_path
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings

__all__ = ["DEFAULT_START", "DemoResult", "Progress", "run_demo"]

DEFAULT_START = date(2026, 1, 5)
"""A Monday; the simulation never looks at the wall clock, so the same seed gives the same dates."""

Progress = Callable[[float, int], None]
"""Called with (days done, days in total) after each simulated day, and within a day after each chunk of its
events and each drained batch (days done then has a fraction: 41.25 = a quarter of day 42's work is done)."""

_SALES_HOUR = 9  # UTC hour at which the sales floor works (on what the engine concluded by last midnight)
_CHUNK = 5000  # payloads per intake call (one transaction each)
_DRAIN = 2000  # queued contacts scored and advanced per drain transaction
_TIMERS = 2000  # due timers fired per transaction (as one batch of automation)
_WAL_PAGES = "PRAGMA wal_autocheckpoint=32768"  # SQLite: WAL pages before a checkpoint (128 MiB; default 1000)


@dataclass(frozen=True)
class DemoResult:
    """What a demo run did: where the data is, how big the market was, and what the engine and the reps did."""

    database_url: str
    truth_path: Path
    playbook_version: str
    people: int
    days: int
    seed: int
    start: date
    events: int
    identified: int
    reps: int
    marketing_spend: float
    actions: dict[str, int]
    engine: dict[str, int]
    seconds: float
    report: Any = field(default=None, compare=False)
    cpu_seconds: dict[str, float] = field(default_factory=dict, compare=False)
    """CPU seconds of this process per part of the simulated days (floor, simulate, intake, drain, housekeeping,
    costs), for benchmarks; not part of what a seed determines."""
    timing: dict[str, Any] = field(default_factory=dict, compare=False)
    """Per part, like :attr:`cpu_seconds`: ``wall`` seconds, ``runqueue`` (waiting for a CPU, where Linux says),
    ``blocked`` (the rest: disk, locks, sleeps) and ``written_mb`` — see :mod:`funnelbridge.demo.timing`."""


def _settings(target: Settings | str, playbook: Path | None) -> Settings:
    """Settings for the run: a bare URL gets the shipped b2b playbook; ``playbook`` overrides either."""
    base = Settings(database_url=target, playbook=str(example_path("b2b"))) if isinstance(target, str) else target
    return replace(base, playbook=str(playbook)) if playbook is not None else base


def _staff(rt: Runtime, leads: int) -> tuple[list[Rep], Actor]:
    from funnelbridge.users import add_user

    managers: dict[str, str] = {}
    for team in ("default", "dach", "enterprise"):  # managers sit outside the routed teams: leads go to reps
        managers[team] = f"{team}-manager@funnelbridge-demo.example"
        add_user(rt, managers[team], f"{team.title()} Sales Manager", "sales", team="management")
    add_user(rt, "admin@funnelbridge-demo.example", "Demo Admin", "admin")
    marketer = "marketing@funnelbridge-demo.example"
    add_user(rt, marketer, "Demo Marketer", "marketing")
    reps = []
    for i, (email, name, team) in enumerate(rep_names(max(4, min(100, leads // 2000)))):
        capacity = 15
        uid = add_user(rt, email, name, "sales", team, managers[team], capacity)
        reps.append(Rep(uid, email, team, capacity, diligence=0.55 + 0.1 * (i % 5)))
    return reps, Actor(marketer, "marketing")


def _fewer_checkpoints(rt: Runtime) -> None:
    """On SQLite, let the write-ahead log grow to 32,768 pages (``_WAL_PAGES``) before a checkpoint copies it into the
    database file. With SQLite's default (1,000) every intake and drain commit — thousands of b-tree pages each at
    a million people — is followed by a checkpoint that writes its pages again; a page changed by several commits
    (index leaves, the contacts a day keeps touching) is then written back once per checkpoint instead of once
    per commit. Applies to the connections the run opens from here (the pooled ones are closed)."""
    if rt.db.is_sqlite:
        event.listen(rt.db.engine, "connect", _wal_pages)
        rt.db.engine.dispose()


def _wal_pages(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute(_WAL_PAGES)
    cursor.close()


def _campaigns(rt: Runtime, start: date, workdir: Path) -> None:
    record_campaigns(rt, campaign_rows(start), workdir)


@dataclass
class _Run:
    rt: Runtime
    clock: FrozenClock
    world: World
    crowd: Crowd
    floor: SalesFloor
    start: date
    workdir: Path
    progress: Progress | None = None
    events: int = 0
    spend: float = 0.0
    engine: Counter[str] = field(default_factory=Counter)
    times: PartTimes = field(default_factory=PartTimes)

    def timed(self, part: str, work: Callable[[], Any]) -> Any:
        return self.times.timed(part, work)


def _report(run: _Run, day: int, part: float) -> None:
    """Progress within ``day``: intake is the first half of a day's work, the drain the second."""
    if run.progress is not None:
        run.progress(day + min(1.0, part), run.world.shape.days)


def _ingest(run: _Run, payloads: list[dict[str, Any]], day: int) -> None:
    """Store the day's payloads through batch intake, in chunks, queueing the touched contacts for the drain."""
    from funnelbridge.ingest import ingest_events

    with _collector_paused():
        for lo in range(0, len(payloads), _CHUNK):
            summary = ingest_events(run.rt, payloads[lo : lo + _CHUNK], batch_size=_CHUNK, defer=True)
            run.events += summary.accepted
            run.engine["events_rejected"] += summary.rejected
            _report(run, day, 0.5 * min(len(payloads), lo + _CHUNK) / max(1, len(payloads)))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a day's payloads go in (the demo is one thread; it is switched
    back on, if it was on, when they are stored). Intake allocates a few container objects per event — payloads,
    activities, rows — and every few hundred thousand allocations set off a full collection, which walks every
    object the process holds. Timed with ``gc.callbacks`` in a replay of the demo's intake at 100,000 people over
    30 days (``bench/intake_replay.py``'s workload): collections took 3.3 of 21.2 intake CPU-s, 2.4 of them in 37
    full collections. What intake frees is freed by reference counting; the few cycles it leaves (SQLAlchemy
    statement internals, about 150 objects a chunk) wait for the collector's next run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _drain(run: _Run, day: int) -> None:
    """Score and advance every contact queued today, ``_DRAIN`` per transaction."""
    from funnelbridge.activity import drain, pending

    with run.rt.db.read() as conn:
        queued = pending(conn)
    done = 0
    while True:
        result = drain(run.rt, batch=_DRAIN, max_batches=1)
        if not result.contacts:
            break
        done += result.contacts
        run.engine["contacts_scored"] += result.contacts
        run.engine["scoring_failed"] += len(result.failed)
        _report(run, day, 0.5 + 0.5 * done / max(1, queued))


def _costs(run: _Run, day: int, arrivals: dict[str, int]) -> None:
    scale = run.world.n_people / (17.0 * run.world.shape.days)
    rows = day_costs(arrivals, day, run.start, scale=max(0.2, scale), seed=run.world.shape.seed)
    run.spend += sum(r.amount for r in rows)
    record_costs(run.rt, rows, run.workdir)


def _housekeeping(run: _Run) -> None:
    from funnelbridge.automation.timers import fire_due_timers
    from funnelbridge.lifecycle.deals import recycle_due
    from funnelbridge.lifecycle.stalls import recycle_stalled

    run.engine["recycled_stalled"] += recycle_stalled(run.rt)
    run.engine["recycled_lost"] += recycle_due(run.rt)
    run.engine["timers_fired"] += fire_due_timers(run.rt, limit=_TIMERS)


def _simulate(run: _Run, day: int) -> None:
    midnight = day_start(run.start, day)
    run.clock.set(midnight + timedelta(hours=_SALES_HOUR))
    run.timed("floor", lambda: work_day(run.rt, run.floor, day))
    activity = run.timed("simulate", lambda: simulate_day(run.world, run.crowd, day, run.start))
    run.clock.set(midnight + timedelta(days=1))
    run.timed("intake", lambda: _ingest(run, activity.payloads, day))
    del activity.payloads[:]  # the day's payloads are stored: let them go before the drain
    run.timed("drain", lambda: _drain(run, day))
    run.timed("housekeeping", lambda: _housekeeping(run))
    run.timed("costs", lambda: _costs(run, day, activity.arrivals_by_campaign))


def run_demo(
    settings_or_url: Settings | str,
    leads: int,
    days: int,
    seed: int,
    progress: Progress | None = None,
    *,
    playbook: Path | None = None,
    ground_truth: Path | None = None,
    reset: bool = False,
    start: date = DEFAULT_START,
    market: Market | None = None,
    report: Callable[[Runtime], Any] | None = None,
) -> DemoResult:
    """Simulate ``leads`` people over ``days`` days from ``seed`` into the store, write the ground truth and return
    what happened. ``market`` tunes how many accounts are buying; ``report``, when given, is called on the finished
    runtime and its result kept in :attr:`DemoResult.report`."""
    began = time.perf_counter()
    settings = _settings(settings_or_url, playbook)
    prepare_store(settings.database_url, reset=reset)
    world = build_world(WorldShape(people=leads, days=days, seed=seed, market=market or Market()))
    truth = write_truth(world, ground_truth or truth_path_for(settings.database_url))
    clock = FrozenClock(day_start(start, 0))
    rt = open_runtime(settings, clock=clock, migrate=True)
    _fewer_checkpoints(rt)
    try:
        reps, marketer = _staff(rt, leads)
        with tempfile.TemporaryDirectory(prefix="funnelbridge-demo-") as tmp:
            _campaigns(rt, start, Path(tmp))
            floor = SalesFloor(world, reps, marketer, start)
            run = _Run(rt, clock, world, new_crowd(leads), floor, start, Path(tmp), progress)
            for day in range(days):
                _simulate(run, day)
                if progress is not None:
                    progress(day + 1, days)
        kept = report(rt) if report is not None else None
    finally:
        rt.db.dispose()
    return DemoResult(
        database_url=settings.database_url,
        truth_path=truth.path,
        playbook_version=rt.playbook.version,
        people=leads,
        days=days,
        seed=seed,
        start=start,
        events=run.events,
        identified=int(run.crowd.identified.sum()),
        reps=len(reps),
        marketing_spend=round(run.spend, 2),
        actions=dict(sorted(run.floor.counts.items())),
        engine=dict(sorted(run.engine.items())),
        seconds=round(time.perf_counter() - began, 2),
        report=kept,
        cpu_seconds={part: round(cpu, 3) for part, cpu in sorted(run.times.cpu.items())},
        timing=run.times.summary(),
    )
