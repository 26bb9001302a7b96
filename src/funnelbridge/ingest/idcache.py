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

**Numbered identifiers.** Even a hit cost the writer about 1.2 CPU-µs (10M events: 12 of its ~120 s): the
chunk's identifier texts are new objects (hashed afresh), and a dictionary of a million of them misses the CPU
caches on every probe. The parsing process has a CPU to spare, so it numbers each distinct identifier of the import
at first sight (:class:`IdNumbers`: its own dictionary, its own memory) and sends each plain chunk's group numbers
with the plan (:attr:`~funnelbridge.ingest.bulkplain.PlainPlan.gids`). The writer keeps number -> contact id in
one int64 array (:attr:`IdCache.by_number`, -1: unknown; 8 bytes an identifier), so a chunk's hits are one numpy
gather. The number is a function of the identifier within the import, so the array holds exactly what ``known``
would, and the same check clears both. A plan made in the writer (a subset of a chunk, rows held back) has no
numbers and goes through ``known``.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, func, select

from funnelbridge.store.tables import contacts

__all__ = ["KINDS", "MAX_IDS", "IdCache", "IdNumbers"]

KINDS = ("email", "external", "anon")
MAX_IDS = 3_000_000
"""Identifiers held at most (about 435 MB at 145 bytes each); beyond, the next chunk starts from empty."""

_MAX_CONTACT_ID = select(func.max(contacts.c.id))
_Mark = tuple[int, int, int]
Ids = npt.NDArray[np.int64]


class IdNumbers:
    """The parsing process's side of numbered identifiers: each distinct ``(kind, value)`` of one import gets the
    next number when first seen (an email is its own key: no tuple, which no text equals)."""

    __slots__ = ("_numbers",)

    def __init__(self) -> None:
        self._numbers: dict[Any, int] = {}

    def __len__(self) -> int:
        return len(self._numbers)

    def of(self, groups: Sequence[tuple[str, str]]) -> array[int]:
        """The numbers of a plan's groups, in their order."""
        numbers = self._numbers
        number = numbers.setdefault
        keys = [value if kind == "email" else (kind, value) for kind, value in groups]
        return array("q", [number(key, len(numbers)) for key in keys])


class IdCache:
    """``known[kind]``: identifier -> contact id, valid while nothing but this import's plain chunks (each
    :meth:`check`-ed before its look-ups and :meth:`seal`-ed after its writes) changed the store."""

    __slots__ = ("_conn", "_limit", "_mark", "_numbered", "by_number", "clears", "hits", "known")

    def __init__(self, limit: int | None = None) -> None:
        self.known: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        self.by_number: Ids = np.full(0, -1, np.int64)  # identifier number -> contact id (-1: not known)
        self._numbered = 0  # how many numbers are known (counted against the limit with ``known``)
        self.hits = 0  # identifiers found here, not looked up
        self.clears = 0  # how many times a check found the cache stale or full (and not empty)
        self._limit = MAX_IDS if limit is None else limit  # 0: nothing kept from one chunk to the next
        self._conn: Any = None  # the DBAPI connection of the last seal
        self._mark: _Mark | None = None

    def __len__(self) -> int:
        return sum(map(len, self.known.values())) + self._numbered

    def clear(self) -> None:
        if len(self):
            self.clears += 1
        for ids in self.known.values():
            ids.clear()
        self.by_number.fill(-1)
        self._numbered = 0
        self._mark = None

    def numbered(self, numbers: Ids) -> Ids:
        """The contact ids of identifier ``numbers`` (-1: not known)."""
        top = int(numbers.max()) + 1 if len(numbers) else 0
        if top > len(self.by_number):
            grown = np.full(max(top, 2 * len(self.by_number), 1024), -1, np.int64)
            grown[: len(self.by_number)] = self.by_number
            self.by_number = grown
        return self.by_number[numbers]

    def learn(self, numbers: Ids, contact_ids: Ids) -> None:
        """Identifier ``numbers`` (not known before: see :meth:`numbered`) are contacts ``contact_ids``."""
        self.by_number[numbers] = contact_ids
        self._numbered += len(numbers)

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
