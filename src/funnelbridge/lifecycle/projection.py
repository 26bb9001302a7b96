"""The current stage as a projection of the trail: replay transitions into states, rebuild ``pipeline_states``
from them, and count the stages each journey reached (skipped stages count as passed).

:func:`replay` and :func:`reached` are pure; :func:`rebuild_projection` repairs the store.

A state's ``last_activity_at`` is written once, when the contact first enters the pipeline: a live move stores
that move's time; an imported history (:mod:`funnelbridge.ingest.history`) stores the import's time, so stall rules
count from the import and not from the historical stage dates. The trail holds both (an imported transition's
``imported_at``), so a rebuilt state gets back what was stored. A move imported before the trail recorded the
import's time (``imported_at`` NULL) gets the rebuild's time (never earlier than the import, so a rebuild does not
make imported leads look stalled since their historical dates).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from funnelbridge.lifecycle.model import Transition
from funnelbridge.runtime import Runtime
from funnelbridge.store.pipeline import PipelineState, all_states, delete_state, insert_state, update_state
from funnelbridge.store.transitions import trail

__all__ = ["Projected", "RebuildSummary", "reached", "rebuild_projection", "replay", "stage_counts"]

Key = tuple[int, str]
IMPORTED = "import"
"""The actor of imported transitions (``funnelbridge.ingest.history.IMPORT_ACTOR``)."""


@dataclass(frozen=True)
class Projected:
    """What the trail says about one contact in one pipeline."""

    stage: str
    entered_at: datetime
    journey: int
    last_activity_at: datetime | None = None
    """What the state got when the contact first entered the pipeline: the first move's time (live), or the
    import's time (imported: the transition's ``imported_at``); None when an imported move does not record it."""


@dataclass(frozen=True)
class RebuildSummary:
    checked: int
    created: int
    changed: int
    removed: int


def _ordered(transitions: Iterable[Transition]) -> list[Transition]:
    return sorted(transitions, key=lambda t: (t.contact_id, t.pipeline, t.at, t.id or 0))


def replay(transitions: Iterable[Transition]) -> dict[Key, Projected]:
    """Fold the trail (in time order) into the current stage of each (contact, pipeline)."""
    states: dict[Key, Projected] = {}
    for t in _ordered(transitions):
        key = (t.contact_id, t.pipeline)
        first = states.get(key)
        active = first.last_activity_at if first is not None else (t.imported_at if t.actor == IMPORTED else t.at)
        states[key] = Projected(t.to_stage, t.at, t.journey, active)
    return states


def reached(transitions: Iterable[Transition], stages: Sequence[str]) -> dict[tuple[int, str, int], set[str]]:
    """For each (contact, pipeline, journey): the funnel stages it reached — stages entered plus stages skipped
    (detours such as recycled are not funnel stages and are left out)."""
    funnel = set(stages)
    out: dict[tuple[int, str, int], set[str]] = defaultdict(set)
    for t in _ordered(transitions):
        seen = out[(t.contact_id, t.pipeline, t.journey)]
        seen.update(s for s in (t.to_stage, *t.skipped) if s in funnel)
    return dict(out)


def stage_counts(transitions: Iterable[Transition], stages: Sequence[str], pipeline: str) -> dict[str, int]:
    """Journeys that reached each stage of ``pipeline`` (the "any stage" funnel of DESIGN.md's counting rules)."""
    counts = dict.fromkeys(stages, 0)
    for (_, name, _), hit in reached(transitions, stages).items():
        if name == pipeline:
            for stage in hit:
                counts[stage] += 1
    return counts


def _current(conn: Connection, contact_ids: Sequence[int] | None) -> dict[Key, PipelineState]:
    states = all_states(conn) if contact_ids is None else [s for c in contact_ids for s in all_states(conn, c)]
    return {(s.contact_id, s.pipeline): s for s in states}


def _repairs(state: PipelineState, proj: Projected, now: datetime) -> dict[str, object]:
    """The columns of a stored state to set so that it agrees with the trail (none: it does)."""
    want: dict[str, object] = {"stage": proj.stage, "entered_at": proj.entered_at, "journey": proj.journey}
    values = want if any(getattr(state, k) != v for k, v in want.items()) else {}
    if state.last_activity_at is None:  # lost by an earlier rebuild: recomputed as a new state's
        values = {**values, "last_activity_at": proj.last_activity_at or now}
    return values


def rebuild_projection(rt: Runtime, contact_ids: Sequence[int] | None = None) -> RebuildSummary:
    """Make ``pipeline_states`` equal to the replayed trail (stage, entered_at, journey); owner and last activity
    are kept, and a missing state gets the last activity a new state gets (see the module docstring). Returns what
    had to change — all zeros when the projection was already right."""
    created = changed = removed = 0
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        want = replay(trail(conn, contact_ids))
        have = _current(conn, contact_ids)
        for key, proj in want.items():
            state = have.get(key)
            if state is None:
                active = proj.last_activity_at or now
                insert_state(conn, PipelineState(*key, proj.stage, proj.entered_at, proj.journey, None, active))
                created += 1
            elif values := _repairs(state, proj, now):
                update_state(conn, state, **values)
                changed += 1
        for key in have.keys() - want.keys():
            delete_state(conn, *key)
            removed += 1
    return RebuildSummary(len(want.keys() | have.keys()), created, changed, removed)
