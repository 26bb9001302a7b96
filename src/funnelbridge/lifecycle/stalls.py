"""Stalled leads: no stage move and no activity for the stage's ``stall_after`` → recycled (reason ``stalled``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from funnelbridge.errors import ConflictError
from funnelbridge.lifecycle.advance import Planned
from funnelbridge.lifecycle.batch import write_moves
from funnelbridge.lifecycle.deals import recycle_due
from funnelbridge.lifecycle.engine import MoveRequest, apply_move, table_of
from funnelbridge.lifecycle.model import SYSTEM
from funnelbridge.lifecycle.table import Move
from funnelbridge.runtime import Runtime
from funnelbridge.store.pipeline import get_state, quiet_candidates, states_of

__all__ = ["RecycleSummary", "recycle", "recycle_stalled"]


def recycle_stalled(rt: Runtime) -> int:
    """Recycle every lead that sat quiet in a stage longer than the playbook allows; returns how many.

    One transaction per pipeline; the stalled leads' states are read in one query and their moves written
    set-based (:func:`~funnelbridge.lifecycle.batch.write_moves`). When a lead changed concurrently, the pipeline's
    leads are moved one at a time instead, each in a savepoint, and the changed one is skipped (looked at again on
    the next run).
    """
    now = rt.clock.now()
    recycled = 0
    for name, pipe in rt.playbook.pipelines.items():
        limits = {s: lim for s in pipe.stage_ids if (lim := pipe.stall_limit(s)) is not None}
        if not limits:
            continue
        with rt.db.transaction() as conn:
            recycled += _recycle_all(rt, conn, _stalled(rt, conn, name, limits, now))
    return recycled


def _stalled(rt: Runtime, conn: Connection, name: str, limits: Mapping[str, timedelta], now: datetime) -> list[Planned]:
    """The recycle moves of the pipeline's leads quiet for longer than their stage's limit (still in that stage)."""
    table = table_of(rt, name)
    cutoffs = {stage: now - limit for stage, limit in limits.items()}
    due = [c for c in quiet_candidates(conn, name, cutoffs) if c.quiet_since + limits[c.stage] <= now]
    states = states_of(conn, [c.contact_id for c in due])
    planned = []
    for cand in due:
        state = states.get((cand.contact_id, name))
        if state is None or state.stage != cand.stage:
            continue
        request = MoveRequest(SYSTEM, now, "stalled", f"quiet since {cand.quiet_since.isoformat()}")
        planned.append(Planned(cand.contact_id, name, state, table.find(Move.RECYCLE_STALLED, state.stage), request))
    return planned


def _recycle_all(rt: Runtime, conn: Connection, planned: list[Planned]) -> int:
    try:
        with conn.begin_nested():
            return len(write_moves(rt, conn, planned))
    except ConflictError:  # raised before any event was published: move them one by one, skipping the changed
        pass
    recycled = 0
    for move in planned:
        state = get_state(conn, move.contact_id, move.pipeline)
        if state is None or move.state is None or state.stage != move.state.stage:
            continue
        try:
            with conn.begin_nested():
                apply_move(rt, conn, state, move.rule, move.move, contact_id=move.contact_id, pipeline=move.pipeline)
        except ConflictError:
            continue
        recycled += 1
    return recycled


@dataclass(frozen=True)
class RecycleSummary:
    stalled: int
    lost: int


def recycle(rt: Runtime) -> RecycleSummary:
    """The periodic lifecycle job: recycle stalled leads and fire due loss cool-downs."""
    return RecycleSummary(stalled=recycle_stalled(rt), lost=recycle_due(rt))
