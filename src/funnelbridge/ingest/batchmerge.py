"""Many merges at once: what :func:`~funnelbridge.ingest.identity.merge_contacts` does for each pair of a list, in
order, with a few statements for the whole list instead of eight per merge.

A contacts import collects a chunk's merges (a row whose external id and email name two stored contacts) and
applies them here. Pairs are taken in *rounds* of pairs that share no contact — a pair naming a contact of the
current round starts the next round, which reads the rows as the earlier merges left them — so the result (the
contacts, the moved events, cookies and deals, the ``merges`` rows with their snapshots, in the same order, and the
errors) is the one merging the pairs one by one gives; tests compare both. Each round reads the contacts in one
query, what belongs to the merged contacts in one per table, writes the contacts with one ``executemany`` per set
of changed columns, moves events, cookies and deals with one ``executemany`` each and records the merges with one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select, update

from funnelbridge.errors import DomainError, NotFoundError
from funnelbridge.ingest.identity import _jsonable, _survivor_changes
from funnelbridge.store import contacts as contact_repo
from funnelbridge.store.bulk import batched, execute_many
from funnelbridge.store.tables import deals, events, identities, merges

__all__ = ["merge_pairs"]

Pair = tuple[int, int]
"""(survivor id, merged id)."""


def merge_pairs(conn: Connection, pairs: Sequence[Pair], reason: str, at: datetime) -> None:
    """Merge each pair's second contact into its first, in order (see the module docstring)."""
    for group in _rounds(pairs):
        _merge_round(conn, group, reason, at)


def _rounds(pairs: Sequence[Pair]) -> Iterator[list[Pair]]:
    """Consecutive runs of pairs that share no contact."""
    group: list[Pair] = []
    seen: set[int] = set()
    for survivor, merged in pairs:
        if survivor in seen or merged in seen:
            yield group
            group, seen = [], set()
        group.append((survivor, merged))
        seen.update((survivor, merged))
    if group:
        yield group


def _merge_round(conn: Connection, group: list[Pair], reason: str, at: datetime) -> None:
    rows = contact_repo.contact_rows(conn, {cid for pair in group for cid in pair})
    _check(group, rows)
    merged_ids = [m for _, m in group]
    owned = {name: _owned(conn, stmt, merged_ids) for name, stmt in _OWNED.items()}
    away: dict[int, dict[str, Any]] = {}
    changed: dict[int, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    for survivor_id, merged_id in group:
        survivor, merged = rows[survivor_id], rows[merged_id]
        changes = _survivor_changes(survivor, merged)
        moved = {name: found.get(merged_id, []) for name, found in owned.items()}
        snapshot = {
            "merged": _jsonable(merged),
            "survivor_before": _jsonable({k: survivor[k] for k in (*changes, "email", "external_id")}),
            **moved,
        }
        away[merged_id] = {"merged_into": survivor_id, "email": None}
        if "external_id" in changes:
            away[merged_id]["external_id"] = None
        changed[survivor_id] = changes
        records.append({"survivor_id": survivor_id, "merged_id": merged_id, "at": at, "reason": reason,
                        "snapshot": snapshot})  # fmt: skip
    contact_repo.update_contacts(conn, away, at)  # first: frees the external ids survivors take over
    contact_repo.update_contacts(conn, changed, at)
    _move(conn, group, owned)
    execute_many(conn, _RECORD, records)


def _check(group: list[Pair], rows: dict[int, dict[str, Any]]) -> None:
    """The errors merging the pairs one by one raises, for the first pair that has one."""
    for survivor_id, merged_id in group:
        if survivor_id == merged_id:
            raise DomainError(f"cannot merge contact {merged_id} into itself")
        for cid in (survivor_id, merged_id):
            if cid not in rows:
                raise NotFoundError(f"contact {cid} does not exist")
        if rows[merged_id]["merged_into"] is not None:
            raise DomainError(f"contact {merged_id} was already merged into {rows[merged_id]['merged_into']}")


def _owned(conn: Connection, stmt: Select[Any], contact_ids: list[int]) -> dict[int, list[Any]]:
    """``{contact id: [its events' ids | cookies | deals' ids]}``, each list in the order of the one-contact
    query (the same index, read contact by contact)."""
    found: dict[int, list[Any]] = {}
    for chunk in batched(sorted(contact_ids), 5000):
        for contact_id, value in conn.execute(stmt, {"k_ids": chunk}):
            found.setdefault(contact_id, []).append(value)
    return found


def _move(conn: Connection, group: list[Pair], owned: dict[str, dict[int, list[Any]]]) -> None:
    """Move what belonged to each merged contact (all of it, read in this transaction) to its survivor."""
    for name, stmt in _MOVES.items():
        params = [{"k_from": m, "v_to": s} for s, m in group if owned[name].get(m)]
        if params:
            conn.execute(stmt, params)


def _of(column: Any, value: Any) -> Select[Any]:
    return select(column, value).where(column.in_(bindparam("k_ids", expanding=True)))


# built once: statements used again skip their construction and cache-key computation
_OWNED: dict[str, Select[Any]] = {
    "event_ids": _of(events.c.contact_id, events.c.id),
    "anonymous_ids": _of(identities.c.contact_id, identities.c.anonymous_id),
    "deal_ids": _of(deals.c.contact_id, deals.c.id),
}
_MOVES = {
    name: update(table).where(table.c.contact_id == bindparam("k_from")).values(contact_id=bindparam("v_to"))
    for name, table in (("event_ids", events), ("anonymous_ids", identities), ("deal_ids", deals))
}
_RECORD = merges.insert()
