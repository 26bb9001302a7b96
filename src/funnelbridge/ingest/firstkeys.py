"""A first bulk events load without the key's unique index: its rows kept unique by the import itself.

Into an EMPTY events table, a bulk load (:mod:`funnelbridge.ingest.csvimport`) drops the unique index on
``events.idempotency_key`` with the secondary ones (:func:`~funnelbridge.store.bulkload.defer_unique`) and builds
it once at the end — a sort, instead of a random b-tree insert per event into an index larger than the page cache.
Meanwhile nothing in the store stops a repeated key, so :class:`FirstKeys` does: every plain chunk's keys are
hashed (64 bits) and checked against the hashes of every key stored before (:class:`SeenHashes`); a row whose hash
was seen — the same key again, or (very rarely) another key with the same hash — is *held back* and stored after
the index is built, through the looked-up path (:func:`~funnelbridge.ingest.bulkevents.write_event_columns` without
a guess): a repeated key is then skipped and counted a duplicate, a colliding one inserted — what a row-wise import
stores, the first row of a key in the file winning. The index can thus always be built.

A chunk that is not plain (identifications, unsubscribes: event intake reads events by key) ends the deferral:
the unique index is built in its transaction before anything reads or writes. Other writers cannot insert a
duplicate meanwhile: their ``ON CONFLICT (idempotency_key)`` names an index that does not exist and fails, and
opening the store (:func:`~funnelbridge.store.migrate.restore_missing_indexes`) builds it first. A killed load
leaves the index missing; the next open or import builds it before any insert (it cannot fail: the load inserted
no key twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection

from funnelbridge.ingest.bulkevents import _ORDER, EventChunk, _Row
from funnelbridge.ingest.bulkplain import KEY, plan_plain, subset
from funnelbridge.store.bulkload import defer_unique, restore_unique, unique_deferred
from funnelbridge.store.tables import events

__all__ = ["HASHER", "FirstKeys", "SeenHashes"]

HASHER: Callable[[str], int] = hash
"""The keys' 64-bit hash of a :class:`FirstKeys` made without one (Python's: salted per process, which is all the
set needs: it lives in one process)."""

_Hashes = np.ndarray[Any, np.dtype[np.int64]]


class SeenHashes:
    """The 64-bit hashes (Python's ``hash`` of the key: one process, one seed) of the keys admitted so far, as
    sorted runs of halving sizes merged LSM-style: a look-up is a binary search per run, an insert amortised
    O(log n) (each hash is merged into larger runs O(log n) times), 8 bytes a key. A chunk's hashes are searched in
    sorted order, so each run is walked forwards: against a run of 5M hashes 0.27 µs a key, 1.14 in row order
    (cache misses); 10M keys in chunks of 50,000 took 17.9 CPU s in row order."""

    __slots__ = ("_hash", "_runs")

    def __init__(self, hasher: Callable[[str], int] = hash) -> None:
        self._hash = hasher  # a test's few-valued one forces collisions
        self._runs: list[_Hashes] = []

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    def admit(self, keys: Sequence[str]) -> list[int]:
        """The positions of the keys whose hash was not seen before nor earlier in ``keys``; those hashes are
        seen from now on."""
        hashes = np.fromiter(map(self._hash, keys), dtype=np.int64, count=len(keys))
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        fresh = np.ones(len(ordered), dtype=bool)  # in sorted order: the searches walk each run forwards
        for run in self._runs:
            at = np.minimum(np.searchsorted(run, ordered), len(run) - 1)
            fresh &= run[at] != ordered
        fresh[1:] &= ordered[1:] != ordered[:-1]  # a hash's later positions (stable: the first stays)
        new = np.zeros(len(hashes), dtype=bool)
        new[order[fresh]] = True
        if fresh.any():
            self._add(ordered[fresh])
        return np.flatnonzero(new).tolist()  # type: ignore[no-any-return]

    def _add(self, run: _Hashes) -> None:
        runs = self._runs
        runs.append(run)
        while len(runs) > 1 and len(runs[-2]) <= 2 * len(runs[-1]):
            last = runs.pop()
            merged = np.concatenate((runs.pop(), last))
            merged.sort(kind="stable")  # two sorted runs: a merge
            runs.append(merged)


class FirstKeys:
    """The key's unique index of an import's bulk load: deferred when the load starts on an empty table
    (:meth:`start`), each plain chunk's repeated keys held back (:meth:`admit`), the index built and the rows held
    back handed out at the end (:meth:`held_back`)."""

    def __init__(self, hasher: Callable[[str], int] | None = None) -> None:
        self.active = False
        self._seen = SeenHashes(hasher or HASHER)
        self._held: list[list[list[Any]]] = []
        self._closing = False
        self._foreseen: bool | None = None  # whether the chunks' plans bring the check (the parsing process's)

    def start(self, conn: Connection) -> None:
        """In the load's first transaction: defer the unique index if the table is empty (SQLite); else make
        sure it exists (a killed first load may have left it missing)."""
        if conn.dialect.name == "sqlite" and defer_unique(conn, events):
            self.active = True
        else:
            restore_unique(conn, events)

    def admit(self, conn: Connection, chunk: EventChunk) -> EventChunk:
        """The chunk to store in ``conn``'s transaction: as it is when nothing is deferred; without the rows
        whose keys' hashes were seen (held back) while the index is; the index built first for a chunk that is not
        plain, or once :meth:`held_back` was asked. The check is the plan's own when the parsing process made it
        (:attr:`~funnelbridge.ingest.bulkplain.PlainPlan.repeated`: it saw every chunk before this one); a load
        whose chunks do not all bring it, or none, builds the index at the first that differs."""
        if not self.active:
            return chunk
        if chunk.plan is None or self._closing:
            self.stop(conn)
            return chunk
        foreseen = chunk.plan.repeated
        if self._foreseen is not None and self._foreseen != (foreseen is not None):
            self.stop(conn)  # the parsing process's set of hashes is not this one's: build the index now
            return chunk
        self._foreseen = foreseen is not None
        unique_deferred(conn, on=True)
        columns = chunk.columns
        count = len(columns[KEY])
        if foreseen is None:
            keep = self._seen.admit(columns[KEY])
            held = [] if len(keep) == count else sorted(set(range(count)).difference(keep))
        else:
            held = list(foreseen)
            keep = sorted(set(range(count)).difference(held)) if held else []
        if not held:
            return chunk
        self._held.append(subset(columns, held))
        rows = subset(columns, keep)
        return EventChunk(None, chunk.repeats, chunk.refused, False, columns=rows, plan=plan_plain(rows))

    def stop(self, conn: Connection) -> None:
        """Build the unique index now (in ``conn``'s transaction) and defer no more."""
        restore_unique(conn, events)
        self.active = False

    def held_back(self, size: int) -> Iterator[EventChunk]:
        """The rows held back, as plain chunks of at most ``size`` rows in occurrence order, each key once (the
        first held wins; later ones count as repeats). The first chunk admitted after this builds the index; with
        nothing held back the end of the load does."""
        self._closing = True
        rows: dict[str, _Row] = {}
        total = 0
        for columns in self._held:
            for row in map(_Row, *columns):
                rows.setdefault(row.key, row)
                total += 1
        self._held = []
        ordered = sorted(rows.values(), key=_ORDER)
        repeats = total - len(ordered)
        for start in range(0, len(ordered), size):
            part = EventChunk(ordered[start : start + size], repeats if start == 0 else 0, [], False)
            part.plan = plan_plain(part.columns)
            yield part
