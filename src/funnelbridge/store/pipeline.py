"""Repository of ``pipeline_states``: the current stage of a contact in each pipeline (a projection of the
transition trail), guarded by an optimistic ``version``. Functions take a Connection and never commit."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, String, and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from funnelbridge.domain.clock import as_utc
from funnelbridge.errors import ConflictError
from funnelbridge.store import raw_rows
from funnelbridge.store.bulk import execute_many
from funnelbridge.store.tables import events, pipeline_states

__all__ = [
    "PipelineState",
    "StallCandidate",
    "all_states",
    "delete_state",
    "get_state",
    "insert_state",
    "insert_states",
    "move_states",
    "quiet_candidates",
    "stall_candidates",
    "states_in_stage",
    "states_of",
    "update_state",
]


@dataclass(frozen=True)
class PipelineState:
    contact_id: int
    pipeline: str
    stage: str
    entered_at: datetime
    journey: int
    owner_id: int | None = None
    last_activity_at: datetime | None = None
    version: int = 1


@dataclass(frozen=True)
class StallCandidate:
    contact_id: int
    stage: str
    quiet_since: datetime


def _state(row: object) -> PipelineState:
    m = row._mapping  # type: ignore[attr-defined]
    last = m["last_activity_at"]
    return PipelineState(
        contact_id=m["contact_id"],
        pipeline=m["pipeline"],
        stage=m["stage"],
        entered_at=as_utc(m["entered_at"]),
        journey=m["journey"],
        owner_id=m["owner_id"],
        last_activity_at=as_utc(last) if last is not None else None,
        version=m["version"],
    )


def get_state(conn: Connection, contact_id: int, pipeline: str) -> PipelineState | None:
    t = pipeline_states
    row = conn.execute(select(t).where(t.c.contact_id == contact_id, t.c.pipeline == pipeline)).first()
    return _state(row) if row is not None else None


_STATES_OF = select(pipeline_states).where(pipeline_states.c.contact_id.in_(bindparam("ids", expanding=True)))
# SQLite: the ids as one JSON array, the columns in PipelineState's order, read by raw_rows (no per-row processing).
_STATES_OF_JSON = select(*(pipeline_states.c[name] for name in PipelineState.__dataclass_fields__)).where(
    pipeline_states.c.contact_id.in_(
        select(func.json_each(bindparam("ids", type_=String)).table_valued("value").c.value)
    )
)


def states_of(conn: Connection, contact_ids: Sequence[int], chunk: int = 500) -> dict[tuple[int, str], PipelineState]:
    """``{(contact_id, pipeline): state}`` of many contacts, ``chunk`` ids per query."""
    ids, out = list(contact_ids), {}
    sqlite = conn.dialect.name == "sqlite"
    for i in range(0, len(ids), chunk):
        if sqlite:  # times come aware UTC already (raw_rows reads them as UTCDateTime does)
            for values in raw_rows.rows(conn, _STATES_OF_JSON, {"ids": json.dumps(ids[i : i + chunk])}):
                state = PipelineState(*values)
                out[(state.contact_id, state.pipeline)] = state
            continue
        for row in conn.execute(_STATES_OF, {"ids": ids[i : i + chunk]}):
            state = _state(row)
            out[(state.contact_id, state.pipeline)] = state
    return out


def all_states(conn: Connection, contact_id: int | None = None) -> list[PipelineState]:
    t = pipeline_states
    query = select(t).order_by(t.c.contact_id, t.c.pipeline)
    if contact_id is not None:
        query = query.where(t.c.contact_id == contact_id)
    return [_state(r) for r in conn.execute(query)]


def states_in_stage(conn: Connection, pipeline: str, stage: str) -> list[PipelineState]:
    t = pipeline_states
    query = select(t).where(t.c.pipeline == pipeline, t.c.stage == stage).order_by(t.c.entered_at, t.c.contact_id)
    return [_state(r) for r in conn.execute(query)]


def insert_state(conn: Connection, state: PipelineState) -> None:
    """Create the state row; a concurrent creation of the same row raises :class:`ConflictError` (on PostgreSQL
    the transaction is then unusable: wrap the call in ``conn.begin_nested()`` to carry on after it)."""
    values = {k: getattr(state, k) for k in PipelineState.__dataclass_fields__}
    try:
        conn.execute(insert(pipeline_states).values(values))
    except IntegrityError:
        raise ConflictError(
            f"contact {state.contact_id} entered pipeline {state.pipeline!r} concurrently; retry"
        ) from None


_INSERT_STATES = insert(pipeline_states)


def insert_states(conn: Connection, states: Sequence[PipelineState]) -> None:
    """Create many state rows in one executemany; any row that exists already raises :class:`ConflictError`
    (on PostgreSQL the transaction is then unusable)."""
    if not states:
        return
    rows = [{k: getattr(s, k) for k in PipelineState.__dataclass_fields__} for s in states]
    try:
        execute_many(conn, _INSERT_STATES, rows)
    except IntegrityError:
        raise ConflictError(f"one of {len(rows)} contacts entered its pipeline concurrently; retry") from None


_t = pipeline_states.c
_MOVE_STATE = (
    update(pipeline_states)
    .where(_t.contact_id == bindparam("k_contact"), _t.pipeline == bindparam("k_pipeline"))
    .where(_t.version == bindparam("k_version"))
    .values(stage=bindparam("v_stage"), entered_at=bindparam("v_entered_at"), journey=bindparam("v_journey"))
    .values(version=bindparam("v_version"))
)


def move_states(conn: Connection, moves: Sequence[tuple[PipelineState, str, datetime, int]]) -> None:
    """Set (stage, entered_at, journey) of many states in one executemany, each only if its row still has the
    state's version (as :func:`update_state` does one at a time); else raise :class:`ConflictError`."""
    if not moves:
        return
    rows = [
        {"k_contact": s.contact_id, "k_pipeline": s.pipeline, "k_version": s.version, "v_stage": stage,
         "v_entered_at": at, "v_journey": journey, "v_version": s.version + 1}
        for s, stage, at, journey in moves
    ]  # fmt: skip
    if not conn.dialect.supports_sane_multi_rowcount:  # cannot count an executemany's rows: one at a time
        for s, stage, at, journey in moves:
            update_state(conn, s, stage=stage, entered_at=at, journey=journey)
        return
    missed = len(rows) - conn.execute(_MOVE_STATE, rows).rowcount
    if missed:
        raise ConflictError(f"{missed} of {len(rows)} stages changed concurrently; reload and retry")


def update_state(conn: Connection, state: PipelineState, **values: object) -> PipelineState:
    """Set ``values`` if the row still has ``state.version``; else raise :class:`ConflictError`."""
    t = pipeline_states
    if values.keys() == {"stage", "entered_at", "journey"}:  # a stage move: the statement built once
        params = {f"v_{k}": v for k, v in values.items()}
        keys = {"k_contact": state.contact_id, "k_pipeline": state.pipeline, "k_version": state.version}
        result = conn.execute(_MOVE_STATE, {**keys, **params, "v_version": state.version + 1})
    else:
        where = and_(t.c.contact_id == state.contact_id, t.c.pipeline == state.pipeline, t.c.version == state.version)
        result = conn.execute(update(t).where(where).values(version=state.version + 1, **values))
    if result.rowcount != 1:
        raise ConflictError(
            f"contact {state.contact_id} in pipeline {state.pipeline!r} changed concurrently "
            f"(expected version {state.version}); reload and retry"
        )
    fields = {**{k: getattr(state, k) for k in PipelineState.__dataclass_fields__}, **values}
    fields["version"] = state.version + 1
    return PipelineState(**fields)  # type: ignore[arg-type]


def delete_state(conn: Connection, contact_id: int, pipeline: str) -> None:
    t = pipeline_states
    conn.execute(t.delete().where(t.c.contact_id == contact_id, t.c.pipeline == pipeline))


def stall_candidates(conn: Connection, pipeline: str, stages: Sequence[str]) -> list[StallCandidate]:
    """Contacts in ``stages`` with the time of their last sign of life: the latest of entering the stage,
    the recorded last activity and their newest event."""
    t, e = pipeline_states, events
    newest = (
        select(e.c.contact_id, func.max(e.c.occurred_at).label("newest"))
        .where(e.c.contact_id.in_(select(t.c.contact_id).where(t.c.pipeline == pipeline, t.c.stage.in_(stages))))
        .group_by(e.c.contact_id)
        .subquery()
    )
    query = (
        select(t.c.contact_id, t.c.stage, t.c.entered_at, t.c.last_activity_at, newest.c.newest)
        .outerjoin(newest, newest.c.contact_id == t.c.contact_id)
        .where(t.c.pipeline == pipeline, t.c.stage.in_(stages))
        .order_by(t.c.contact_id)
    )
    out = []
    for row in conn.execute(query):
        times = [as_utc(v) for v in (row.entered_at, row.last_activity_at, row.newest) if v is not None]
        out.append(StallCandidate(row.contact_id, row.stage, max(times)))
    return out


_NEWEST_EVENT = (
    select(func.max(events.c.occurred_at)).where(events.c.contact_id == pipeline_states.c.contact_id).scalar_subquery()
)
_QUIET = (
    select(_t.contact_id, _t.stage, _t.entered_at, _t.last_activity_at, _NEWEST_EVENT.label("newest"))
    .where(_t.pipeline == bindparam("pipeline"), _t.stage == bindparam("stage"))
    .where(_t.entered_at <= bindparam("cutoff"))
    .where(_t.last_activity_at.is_(None) | (_t.last_activity_at <= bindparam("cutoff")))
)


def quiet_candidates(conn: Connection, pipeline: str, cutoffs: Mapping[str, datetime]) -> list[StallCandidate]:
    """:func:`stall_candidates` of the leads that may be quiet since ``cutoffs[stage]`` or longer: only those that
    entered their stage and were last active (``last_activity_at``) by then, with their newest event looked up one
    index seek each — not every staged lead's events, every day. By contact id."""
    out = []
    for stage, cutoff in cutoffs.items():
        for row in conn.execute(_QUIET, {"pipeline": pipeline, "stage": stage, "cutoff": cutoff}):
            times = [as_utc(v) for v in (row.entered_at, row.last_activity_at, row.newest) if v is not None]
            out.append(StallCandidate(row.contact_id, row.stage, max(times)))
    return sorted(out, key=lambda c: c.contact_id)
