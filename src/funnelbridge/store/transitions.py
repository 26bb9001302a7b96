"""Repository of ``transitions``: the append-only trail of stage moves. Rows are inserted, never updated."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from funnelbridge.domain.clock import as_utc
from funnelbridge.errors import ConflictError
from funnelbridge.lifecycle.model import Transition
from funnelbridge.store.bulk import execute_many
from funnelbridge.store.tables import transitions

__all__ = ["by_key", "insert_transition", "insert_transitions", "last_transition", "trail"]

_COLUMNS = (
    "contact_id",
    "pipeline",
    "journey",
    "from_stage",
    "to_stage",
    "at",
    "actor",
    "actor_role",
    "reason",
    "note",
    "playbook_version",
    "idempotency_key",
    "imported_at",
)


def _transition(row: object) -> Transition:
    m = row._mapping  # type: ignore[attr-defined]
    values = {k: m[k] for k in _COLUMNS}
    values["at"] = as_utc(m["at"])
    if values["imported_at"] is not None:
        values["imported_at"] = as_utc(values["imported_at"])
    return Transition(**values, skipped=tuple(m["skipped"] or ()), id=m["id"])


_INSERT_ONE = insert(transitions)


def insert_transition(conn: Connection, t: Transition) -> Transition:
    """Append ``t``; a duplicate idempotency key (a concurrent replay) raises :class:`ConflictError` (on
    PostgreSQL the transaction is then unusable: wrap the call in ``conn.begin_nested()`` to carry on)."""
    values = {k: getattr(t, k) for k in _COLUMNS}
    values["skipped"] = list(t.skipped)
    try:
        result = conn.execute(_INSERT_ONE, values)
    except IntegrityError:
        raise ConflictError(f"idempotency key {t.idempotency_key!r} was used concurrently; retry") from None
    key = result.inserted_primary_key
    return Transition(**{**values, "skipped": t.skipped}, id=key[0] if key else None)


_INSERT_MANY = insert(transitions).returning(transitions.c.id, sort_by_parameter_order=True)
_INSERT_PLAIN = insert(transitions)
_t = transitions.c
_NEWEST_ID = select(func.max(_t.id))
_IDS_AFTER = select(_t.id).where(_t.id > bindparam("after")).order_by(_t.id)


def insert_transitions(conn: Connection, ts: Sequence[Transition]) -> list[Transition]:
    """Append many transitions in one executemany (ids assigned in the given order, as one insert after another
    would); a duplicate idempotency key raises :class:`ConflictError` (the transaction is then unusable on
    PostgreSQL)."""
    if not ts:
        return []
    rows = [{**{k: getattr(t, k) for k in _COLUMNS}, "skipped": list(t.skipped)} for t in ts]
    try:
        ids = _insert_sqlite(conn, rows) if conn.dialect.name == "sqlite" else _insert_returning(conn, rows)
    except IntegrityError:
        raise ConflictError(f"an idempotency key of {len(ts)} transitions was used concurrently; retry") from None
    return [Transition(**{**row, "skipped": t.skipped}, id=i) for row, t, i in zip(rows, ts, ids, strict=True)]


def _insert_returning(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    return [int(i) for i in conn.execute(_INSERT_MANY, rows).scalars()]


def _insert_sqlite(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """SQLite: a plain executemany without SQLAlchemy's per-row processing or RETURNING (most of the cost), then
    the new ids read back — one writer at a time holds the database, and a row's id is the largest id plus one
    (``INTEGER PRIMARY KEY``), so the ids above the largest before are this insert's, in its order."""
    before = conn.execute(_NEWEST_ID).scalar() or 0
    execute_many(conn, _INSERT_PLAIN, rows)
    ids = [int(i) for i in conn.execute(_IDS_AFTER, {"after": before}).scalars()]
    if len(ids) != len(rows):  # not expected: a concurrent writer would need the lock this transaction holds
        raise ConflictError(f"{len(ids)} transitions appeared for {len(rows)} inserted; retry")
    return ids


def by_key(conn: Connection, key: str) -> Transition | None:
    row = conn.execute(select(transitions).where(transitions.c.idempotency_key == key)).first()
    return _transition(row) if row is not None else None


def trail(conn: Connection, contact_ids: Iterable[int] | None = None, pipeline: str | None = None) -> list[Transition]:
    """Transitions in the order they happened (``at``, then insertion order)."""
    t = transitions
    query = select(t).order_by(t.c.contact_id, t.c.pipeline, t.c.at, t.c.id)
    if contact_ids is not None:
        query = query.where(t.c.contact_id.in_(list(contact_ids)))
    if pipeline is not None:
        query = query.where(t.c.pipeline == pipeline)
    return [_transition(r) for r in conn.execute(query)]


def last_transition(conn: Connection, contact_id: int, pipeline: str) -> Transition | None:
    t = transitions
    query = (
        select(t).where(t.c.contact_id == contact_id, t.c.pipeline == pipeline).order_by(t.c.at.desc(), t.c.id.desc())
    )
    row = conn.execute(query.limit(1)).first()
    return _transition(row) if row is not None else None
