"""SLA timers and firing due timers.

A stage's ``sla`` starts clocks: ``decide_within`` when a lead enters the stage *before* it (the sales queue: the
decision to take the lead into the stage is due within the limit), ``first_touch_within`` when a lead enters the
stage itself. Each clock schedules a breach timer at start + limit and a reminder ``remind_before`` earlier; with
``business_hours: true`` both are counted in the playbook's working hours and time zone. Leaving the stage the
clock runs in cancels it; :func:`record_first_touch` cancels the first-touch ones, and a first-touch timer that
comes due after a touch (an event in :data:`TOUCH_EVENTS` or a task marked done since the stage was entered) stays
silent. :func:`fire_due_timers` fires what is due (``sla_warning`` / ``sla_breached`` rules, nurture steps), each
timer exactly once, in the same transaction as the actions it causes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select

from funnelbridge.automation import nurture
from funnelbridge.automation.batch import Writes, cancel_timers, schedule_timer
from funnelbridge.automation.engine import Engine
from funnelbridge.automation.triggers import Occurrence
from funnelbridge.domain.business_hours import ALWAYS, BusinessCalendar
from funnelbridge.domain.durations import parse_duration
from funnelbridge.domain.events import StageEntered, StageLeft
from funnelbridge.playbook.schema import Pipeline, Playbook, Sla, Trigger
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import events, pipeline_states, tasks
from funnelbridge.store.timers import (
    TimerRow,
    any_due,
    cancel_by_prefix,
    claim_due_timers,
    select_timers_with_prefix,
)

__all__ = [
    "TOUCH_EVENTS",
    "SlaClock",
    "cancel_sla",
    "fire_due_timers",
    "record_first_touch",
    "schedule_sla",
    "sla_clocks",
    "sla_due",
]


def _calendar(playbook: Playbook, sla: Sla) -> BusinessCalendar:
    return BusinessCalendar.from_hours(playbook.business_hours, playbook.timezone) if sla.business_hours else ALWAYS


def sla_due(playbook: Playbook, sla: Sla, start: datetime, within: timedelta) -> datetime:
    """When an SLA of ``within`` that started at ``start`` is breached (working time when ``business_hours``)."""
    return _calendar(playbook, sla).add(start, within)


def _prefix(pipeline: str, contact_id: int, stage: str) -> str:
    return f"sla:{pipeline}:{contact_id}:{stage}:"


@dataclass(frozen=True)
class SlaClock:
    """One SLA clock that starts when a lead enters ``runs_in``: ``which`` SLA of stage ``stage``."""

    stage: str
    runs_in: str
    which: str  # "decide" | "first_touch"
    within: timedelta
    sla: Sla


def sla_clocks(pipeline: Pipeline, entered: str) -> list[SlaClock]:
    """The SLA clocks that start when a lead enters ``entered``.

    ``decide_within`` of a stage is the time sales has to take a lead into it (accept or reject), so its clock runs
    while the lead waits in the stage *before* it (the sales queue: SAL's SLA runs in MQL, as the sales queue
    shows it); ``first_touch_within`` runs in the stage itself, from entry to the first touch."""
    ids = pipeline.stage_ids
    if entered not in ids:
        return []
    clocks = []
    here = pipeline.stage(entered).sla
    if here is not None and here.first_touch_within:
        clocks.append(SlaClock(entered, entered, "first_touch", parse_duration(here.first_touch_within), here))
    position = ids.index(entered)
    owner = pipeline.stages[position + 1] if position + 1 < len(ids) else None
    if owner is not None and owner.sla is not None and owner.sla.decide_within:
        clocks.append(SlaClock(owner.id, entered, "decide", parse_duration(owner.sla.decide_within), owner.sla))
    if position == 0 and here is not None and here.decide_within:  # no stage before it: the clock runs in it
        clocks.append(SlaClock(entered, entered, "decide", parse_duration(here.decide_within), here))
    return clocks


def schedule_sla(conn: Connection, playbook: Playbook, event: StageEntered, writes: Writes | None = None) -> int:
    """Schedule the reminder and breach timers of every SLA clock the entered stage starts; returns how many
    (``writes``: into a batch's buffer)."""
    pipeline = playbook.pipelines.get(event.pipeline)
    if pipeline is None:
        return 0
    return sum(_schedule_clock(conn, playbook, event, clock, writes) for clock in sla_clocks(pipeline, event.stage))


def _schedule_clock(
    conn: Connection, playbook: Playbook, event: StageEntered, clock: SlaClock, writes: Writes | None
) -> int:
    prefix = _prefix(event.pipeline, event.contact_id, clock.runs_in)
    base = f"{prefix}{event.journey}:{event.at.isoformat()}:{clock.stage}:{clock.which}"
    breach_at = sla_due(playbook, clock.sla, event.at, clock.within)
    payload = {
        "pipeline": event.pipeline,
        "stage": clock.stage,
        "waiting_in": clock.runs_in,
        "sla": clock.which,
        "journey": event.journey,
        "entered_at": event.at.isoformat(),
        "breach_at": breach_at.isoformat(),
    }
    made = 0
    made += schedule_timer(
        conn,
        writes,
        key=f"{base}:breach",
        kind="sla_breach",
        due_at=breach_at,
        contact_id=event.contact_id,
        payload=payload,
    )
    remind = parse_duration(clock.sla.remind_before) if clock.sla.remind_before else None
    if remind is not None and remind < clock.within:
        due = sla_due(playbook, clock.sla, event.at, clock.within - remind)
        key = f"{base}:reminder"
        made += schedule_timer(
            conn, writes, key=key, kind="sla_reminder", due_at=due, contact_id=event.contact_id, payload=payload
        )
    return made


def cancel_sla(conn: Connection, playbook: Playbook, event: StageLeft, writes: Writes | None = None) -> int:
    """Cancel the pending SLA timers of the stage the lead left (no query for stages that start no clock);
    ``writes``: with a batch's buffer (then 0 is returned)."""
    pipeline = playbook.pipelines.get(event.pipeline)
    if pipeline is not None and not sla_clocks(pipeline, event.stage):
        return 0
    return cancel_timers(conn, writes, _prefix(event.pipeline, event.contact_id, event.stage), event.at)


def record_first_touch(rt: Runtime, contact_id: int, at: datetime | None = None) -> int:
    """A rep touched the lead (call, email, meeting): stop its first-touch SLA timers. Returns timers cancelled."""
    at = at or rt.clock.now()
    with rt.db.transaction() as conn:
        query = select(pipeline_states.c.pipeline, pipeline_states.c.stage).where(
            pipeline_states.c.contact_id == contact_id
        )
        cancelled = 0
        for pipeline, stage in conn.execute(query).all():
            prefix = _prefix(pipeline, contact_id, stage)
            for row in select_timers_with_prefix(conn, prefix):
                if row.payload.get("sla") == "first_touch":
                    cancelled += cancel_by_prefix(conn, row.key, at)
        return cancelled


TOUCH_EVENTS = ("call", "meeting", "sales_email", "email_sent", "email_reply", "first_touch")
"""Event types that count as a rep's touch for a first-touch SLA (besides a completed task)."""


# Statements built once with bind parameters (they run per fired timer).
_p = pipeline_states.c
_WAITING = select(_p.contact_id, _p.pipeline, _p.stage, _p.journey).where(
    _p.contact_id.in_(bindparam("ids", expanding=True))
)
_TOUCH_EVENT = (
    select(events.c.id)
    .where(events.c.contact_id == bindparam("cid"), events.c.type.in_(TOUCH_EVENTS))
    .where(events.c.occurred_at >= bindparam("since"))
    .limit(1)
)
_TASK_DONE = (
    select(tasks.c.id).where(tasks.c.contact_id == bindparam("cid"), tasks.c.done_at >= bindparam("since")).limit(1)
)


Waiting = dict[tuple[int, str], tuple[str, int]]


def _waiting(conn: Connection, due: list[TimerRow]) -> Waiting:
    """``{(contact, pipeline): (stage, journey)}`` of the leads of the due SLA timers, read in one query per 500
    (the actions timers fire change no stage: move requests go to the outbox)."""
    ids = sorted({int(t.contact_id) for t in due if t.kind != "nurture_step" and t.contact_id is not None})
    out: Waiting = {}
    for i in range(0, len(ids), 500):
        for row in conn.execute(_WAITING, {"ids": ids[i : i + 500]}):
            out[(int(row.contact_id), str(row.pipeline))] = (str(row.stage), int(row.journey))
    return out


def _still_waiting(waiting: Waiting, contact_id: int, payload: Mapping[str, Any]) -> bool:
    """Whether the lead is still in the stage (and journey) the clock runs in — a guard for timers whose
    cancellation was missed (e.g. the playbook changed while the clock ran)."""
    row = waiting.get((contact_id, str(payload.get("pipeline"))))
    waiting_in = payload.get("waiting_in", payload.get("stage"))
    return row is not None and row[0] == waiting_in and row[1] == payload.get("journey", row[1])


def _touched(conn: Connection, contact_id: int, payload: Mapping[str, Any]) -> bool:
    """Whether the lead was touched since it entered the stage: a touch event or a task marked done."""
    params = {"cid": contact_id, "since": datetime.fromisoformat(str(payload["entered_at"]))}
    return any(conn.execute(q, params).first() is not None for q in (_TOUCH_EVENT, _TASK_DONE))


def _fire(engine: Engine, conn: Connection, timer: TimerRow, now: datetime, waiting: Waiting) -> None:
    if timer.kind == "nurture_step":
        nurture.fire_step(conn, engine.rt.playbook, timer, now, engine.writes)
        return
    if timer.kind not in ("sla_reminder", "sla_breach") or timer.contact_id is None:
        return
    if not _still_waiting(waiting, int(timer.contact_id), timer.payload):
        return
    if timer.payload.get("sla") == "first_touch" and _touched(conn, int(timer.contact_id), timer.payload):
        return
    trigger = Trigger.SLA_WARNING if timer.kind == "sla_reminder" else Trigger.SLA_BREACHED
    occ = Occurrence(
        trigger,
        int(timer.contact_id),
        timer.due_at,
        f"timer:{timer.key}",
        pipeline=timer.payload.get("pipeline"),
        stage=timer.payload.get("stage"),
        data=dict(timer.payload),
    )
    engine.run(conn, occ)


def fire_due_timers(rt: Runtime, *, limit: int = 200, engine: Engine | None = None) -> int:
    """Fire every timer due by now (in batches of ``limit``, one transaction each); returns how many fired.

    The timers of a batch fire in due order as a batch of automation (:meth:`Engine.batched`): their outbox
    rows and next timers are stored with one executemany each, users read once."""
    engine = engine or Engine(rt)
    fired = 0
    with rt.db.read() as conn:
        if not any_due(conn, rt.clock.now()):
            return 0
    while True:
        with rt.db.transaction() as conn, engine.batched(conn):
            now = rt.clock.now()
            due = claim_due_timers(conn, now, limit)
            waiting = _waiting(conn, due)
            for timer in due:
                _fire(engine, conn, timer, now, waiting)
        fired += len(due)
        if len(due) < limit:
            return fired
