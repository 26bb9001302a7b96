"""The plain lane's identifier -> contact id look-ups, kept across an import's chunks (issue 6).

A 10M-event file of 1M people stores each person in ~10 of its 200 chunks, but a chunk's people are nearly all
distinct (~0.98 look-ups an event), so ~9M of the ~10M look-ups of :func:`~funnelbridge.ingest.bulkplain.store_plain`
repeat one an earlier chunk made (~3.9 CPU-us each against a 1M-row index, plus the result rows). :class:`IdCache`
keeps what the chunks looked up and the contacts they created, per identifier kind (``email``, ``external``,
``anon``), and only the identifiers it does not hold are queried.

It must never hand out an id the store no longer agrees with. Everything that can change an identifier's contact —
another process or connection (the API beside the import: a new contact, a merge, an unmerge, an email changed),
event intake on the import's own connection (identifications, merges in a chunk that is not plain), a chunk rolled
back after the cache learned from it — changes one of four things, read at the end of each plain chunk's writes
(:meth:`IdCache.seal`) and again at the start of the next one's (:meth:`IdCache.check`; any difference clears it):

- the DBAPI connection: another pooled connection knows nothing of what this one saw;
- ``PRAGMA main.data_version``: differs iff another connection committed to the store since this connection's
  last read (SQLite: "unchanged for commits made on the same database connection"; a write transaction begins
  with ``BEGIN IMMEDIATE`` here, so nothing else commits between its check and its seal). A ``TRUNCATE``
  checkpoint by another connection changes it too (a clear, not an error); a ``PASSIVE`` one does not;
- the connection's ``total_changes`` (rows written by it since it was opened, rolled-back ones included):
  anything else written on this connection between two plain chunks — intake, a thread of this process that had
  the connection from the pool meanwhile, a savepoint rolled back;
- ``max(contacts.id)``: a transaction rolled back after its seal (the contacts it created are gone, their ids
  free again) leaves the connection's counter as it was, but not the highest contact id.

A chunk whose writes fail before the seal leaves the cache unsealed, and the next check clears it. Only SQLite
(the plain lane's store): PostgreSQL has no cheap per-connection commit counter, so nothing is cached there.

Memory: the strings are the chunks' own (kept alive), plus a dict entry and an int each: 1,000,000 bench emails
(``p<n>@corp<n/10>.example``) took 145 MB by ``tracemalloc`` (82 the strings, 63 the dict and ints). Past
:data:`MAX_IDS` identifiers the cache is cleared at the next check and refills.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from funnelbridge.store.tables import contacts

__all__ = ["KINDS", "MAX_IDS", "IdCache"]

KINDS = ("email", "external", "anon")
MAX_IDS = 3_000_000
"""Identifiers held at most (about 435 MB at 145 bytes each); beyond, the next chunk starts from empty."""

_MAX_CONTACT_ID = select(func.max(contacts.c.id))
_Mark = tuple[int, int, int]


class IdCache:
    """``known[kind]``: identifier -> contact id, valid while nothing but this import's plain chunks (each
    :meth:`check`-ed before its look-ups and :meth:`seal`-ed after its writes) changed the store."""

    __slots__ = ("_conn", "_limit", "_mark", "clears", "hits", "known")

    def __init__(self, limit: int | None = None) -> None:
        self.known: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        self.hits = 0  # identifiers found here, not looked up
        self.clears = 0  # how many times a check found the cache stale or full (and not empty)
        self._limit = MAX_IDS if limit is None else limit  # 0: nothing kept from one chunk to the next
        self._conn: Any = None  # the DBAPI connection of the last seal
        self._mark: _Mark | None = None

    def __len__(self) -> int:
        return sum(map(len, self.known.values()))

    def clear(self) -> None:
        if len(self):
            self.clears += 1
        for ids in self.known.values():
            ids.clear()
        self._mark = None

    def check(self, conn: Connection) -> None:
        """Before a plain chunk's look-ups, in its transaction: clear unless the store is as the last seal left
        it, on the same connection, and the cache is not full. Unsealed until :meth:`seal`."""
        raw = _raw(conn)
        if raw is None or raw is not self._conn or self._mark != _mark(conn, raw) or len(self) > self._limit:
            self.clear()
        self._conn, self._mark = raw, None

    def seal(self, conn: Connection) -> None:
        """After a plain chunk's last write: what the next :meth:`check` must find unchanged."""
        raw = _raw(conn)
        if raw is not None and raw is self._conn:
            self._mark = _mark(conn, raw)


def _raw(conn: Connection) -> Any:
    """The SQLite DBAPI connection under ``conn`` (one with ``total_changes``), else None: no caching."""
    if conn.dialect.name != "sqlite":
        return None
    raw = conn.connection.dbapi_connection
    return raw if hasattr(raw, "total_changes") else None


def _mark(conn: Connection, raw: Any) -> _Mark:
    version = conn.exec_driver_sql("PRAGMA main.data_version").scalar_one()
    return int(version), int(raw.total_changes), int(conn.execute(_MAX_CONTACT_ID).scalar() or 0)
