"""Automatic moves: enter a new contact, move it forward when a later stage's entry criteria hold (recording the
stages it skips), let a recycled lead re-enter on renewed engagement (a new journey), and move a customer to the
advocacy stage when that stage has criteria and they hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from funnelbridge.domain.clock import as_utc
from funnelbridge.domain.durations import parse_duration
from funnelbridge.lifecycle.criteria import LeadCriteria
from funnelbridge.lifecycle.engine import MoveRequest, apply_move, pipeline_name, table_of
from funnelbridge.lifecycle.model import SYSTEM, Transition
from funnelbridge.lifecycle.table import Move, Rule, TransitionTable
from funnelbridge.rules.facts import LeadFacts
from funnelbridge.runtime import Runtime
from funnelbridge.store.pipeline import PipelineState, get_state
from funnelbridge.store.tables import events
from funnelbridge.store.transitions import last_transition

__all__ = ["Planned", "advance", "plan_move"]


@dataclass(frozen=True)
class Planned:
    """An automatic move decided but not made yet: ``rule`` from ``state`` (None: entering the pipeline)."""

    contact_id: int
    pipeline: str
    state: PipelineState | None
    rule: Rule
    move: MoveRequest

    def apply(self, rt: Runtime, conn: Connection) -> Transition:
        return apply_move(
            rt,
            conn,
            self.state,
            self.rule,
            self.move,
            contact_id=self.contact_id,
            pipeline=self.pipeline,
        )


def advance(
    rt: Runtime,
    conn: Connection,
    contact_id: int,
    pipeline: str | None = None,
    *,
    facts: LeadFacts | None = None,
    states: Mapping[tuple[int, str], PipelineState] | None = None,
) -> list[Transition]:
    """Make the automatic moves the criteria allow now, in ``pipeline`` or in every pipeline of the playbook.

    Runs on the caller's connection (the caller owns the transaction). Returns the transitions made. ``facts``
    (the lead's facts now) and ``states`` (pipeline states read beforehand, by contact and pipeline; a missing key
    means no state) spare the reads; after a move, the states of the lead's further pipelines are read afresh.
    """
    names = [pipeline_name(rt, pipeline)] if pipeline else list(rt.playbook.pipelines)
    made: list[Transition] = []
    for name in names:
        known = states if not made else None
        state = known.get((contact_id, name)) if known is not None else get_state(conn, contact_id, name)
        planned = plan_move(rt, conn, contact_id, name, state, facts)
        if planned is not None:
            made.append(planned.apply(rt, conn))
    return made


def plan_move(
    rt: Runtime, conn: Connection, contact_id: int, name: str, state: PipelineState | None, facts: LeadFacts | None
) -> Planned | None:
    """The automatic move the criteria allow now in pipeline ``name`` (reads the store only: for a recycled lead,
    its newest event and last transition; for the criteria, its facts unless given)."""
    table = table_of(rt, name)
    now = rt.clock.now()
    criteria = LeadCriteria(conn, rt.playbook.pipelines[name], contact_id, now, facts)
    if state is not None and state.stage == table.roles.recycled:
        return _reenter(rt, conn, table, state, now, criteria)
    current = state.stage if state else None
    auto = table.roles.auto
    if state is not None and current == table.roles.customer and current not in auto:
        return _advocacy(rt, conn, table, state, now, criteria)
    if current is not None and current not in auto:
        return None
    later = auto[auto.index(current) + 1 :] if current else auto[1:]
    gate = table.roles.gate
    if gate in later and not criteria.holds(gate):
        later = later[: later.index(gate)]  # not identified yet: no skipping past identification
    target = criteria.first(list(reversed(later)))
    if target is None:
        if state is not None:
            return None
        target = auto[0]
    rule = table.find(Move.ENTER if state is None else Move.ADVANCE, current, target)
    return Planned(contact_id, name, state, rule, MoveRequest(SYSTEM, _at(now, state)))


def _advocacy(
    rt: Runtime, conn: Connection, table: TransitionTable, state: PipelineState, now: datetime, criteria: LeadCriteria
) -> Planned | None:
    """A customer becomes an evangelist on its own when the advocacy stage has criteria and they hold (e.g. a
    referral or review event); otherwise only the ``advocate`` command moves it."""
    target = table.roles.advocacy
    if target is None or not criteria.holds(target):
        return None
    rule = table.find(Move.ADVOCATE, state.stage, target)
    move = MoveRequest(SYSTEM, _at(now, state), reason="advocacy")
    return Planned(state.contact_id, state.pipeline, state, rule, move)


def _reenter(
    rt: Runtime, conn: Connection, table: TransitionTable, state: PipelineState, now: datetime, criteria: LeadCriteria
) -> Planned | None:
    """A recycled lead comes back when it shows activity after it was recycled, its hold is over and the
    re-entry stage's criteria hold."""
    target = table.roles.reentry
    if target is None or now < state.entered_at + _hold(rt, conn, table, state):
        return None
    newest = conn.execute(select(func.max(events.c.occurred_at)).where(events.c.contact_id == state.contact_id))
    latest = newest.scalar_one_or_none()
    if latest is None or as_utc(latest) <= state.entered_at:
        return None
    if not criteria.holds(target):
        return None
    rule = table.find(Move.REENTER, state.stage, target)
    move = MoveRequest(SYSTEM, _at(now, state), reason="renewed_engagement")
    return Planned(state.contact_id, state.pipeline, state, rule, move)


def _hold(rt: Runtime, conn: Connection, table: TransitionTable, state: PipelineState) -> timedelta:
    """How long a recycled lead sits out: ``handoff.recycle_after.rejected`` after a rejection,
    ``.stalled`` after a stall (a loss already waited its cool-down before it was recycled)."""
    last = last_transition(conn, state.contact_id, state.pipeline)
    if last is None:
        return timedelta(0)
    if last.reason == "stalled":
        kind = "stalled"
    elif last.from_stage == table.roles.queue and last.reason in rt.playbook.handoff.reject_reasons:
        kind = "rejected"
    else:
        return timedelta(0)
    return parse_duration(rt.playbook.handoff.recycle_after.get(kind, "0d"))


def _at(now: datetime, state: PipelineState | None) -> datetime:
    """Automatic moves never go back in time: a command may have been stamped with a later ``at`` than the clock."""
    return now if state is None else max(now, state.entered_at)
