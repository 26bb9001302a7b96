"""Stalled leads: no stage move and no activity for the stage's ``stall_after`` → recycled (reason ``stalled``)."""

from __future__ import annotations

from dataclasses import dataclass

from funnelbridge.errors import ConflictError
from funnelbridge.lifecycle.deals import recycle_due
from funnelbridge.lifecycle.engine import MoveRequest, apply_move, table_of
from funnelbridge.lifecycle.model import SYSTEM
from funnelbridge.lifecycle.table import Move
from funnelbridge.runtime import Runtime
from funnelbridge.store.pipeline import get_state, stall_candidates

__all__ = ["RecycleSummary", "recycle", "recycle_stalled"]


def recycle_stalled(rt: Runtime) -> int:
    """Recycle every lead that sat quiet in a stage longer than the playbook allows; returns how many.

    One transaction per pipeline; a lead changed concurrently is skipped (its savepoint rolls back) and will be
    looked at again on the next run.
    """
    now = rt.clock.now()
    recycled = 0
    for name, pipe in rt.playbook.pipelines.items():
        limits = {s: lim for s in pipe.stage_ids if (lim := pipe.stall_limit(s)) is not None}
        if not limits:
            continue
        table = table_of(rt, name)
        with rt.db.transaction() as conn:
            for cand in stall_candidates(conn, name, list(limits)):
                if cand.quiet_since + limits[cand.stage] > now:
                    continue
                state = get_state(conn, cand.contact_id, name)
                if state is None or state.stage != cand.stage:
                    continue
                rule = table.find(Move.RECYCLE_STALLED, state.stage)
                request = MoveRequest(SYSTEM, now, "stalled", f"quiet since {cand.quiet_since.isoformat()}")
                try:
                    with conn.begin_nested():
                        apply_move(rt, conn, state, rule, request, contact_id=cand.contact_id, pipeline=name)
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
