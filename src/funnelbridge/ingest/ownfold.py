"""The plain lane's owed attribution folded in memory (issue 6): what :func:`funnelbridge.ingest.owed.settle`'s
``GROUP BY contact_id`` scan would compute, kept per contact as the writer inserts the events — no sort of the
stretch's events at the end.

For each contact the plain chunks of one import gave events, :class:`OwnFold` keeps (numpy arrays indexed by
contact id, grown as needed) the earliest event time, the earliest identifying one (no anonymous id), and the least
and greatest touch key — time, then source, medium and campaign, ``None`` as ``""`` (the distinct triples are
ranked in that order, which is the order of the settle's one text with ``char(1)`` between the parts as long as no
part holds a ``char(1)``: the scan cannot split such a key back, the fold keeps the row-wise lane's tuple order).
Times are the SQLite texts the events were stored with, read as int64 microseconds and written back in the same
text.

The fold only stands in for the scan when it can prove it saw exactly the owed events
(:meth:`OwnFold.covers`): one owed stretch, beginning at the fold's first event; every event id from there on
stored by this fold's chunks (no event from another writer; checked chunk by chunk and at the end); no merge made
or undone since the stretch began (a merge moves events between contacts); every row of each chunk stored; every
time in the canonical ``YYYY-MM-DD HH:MM:SS.ffffff`` form; sources, mediums and campaigns texts without
``char(0)`` (it sorts below the scan's separator, so the tuple order would not be the text's); at most
:data:`MAX_TRIPLES` distinct touch triples. Anything else and the settle scans as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import repeat
from operator import is_
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, func, select

from funnelbridge.store.tables import events, merges

__all__ = ["MAX_TRIPLES", "OwnFold", "Touches", "parse_times"]

MAX_TRIPLES = 100_000
"""Distinct (source, medium, campaign) triples a fold ranks; beyond that the settle scans (ranking is re-done per
chunk that brings new ones)."""

_NONE_AT = np.iinfo(np.int64).max
_NO_TAIL = np.iinfo(np.int64).min
_SEPARATORS = ((4, ord("-")), (7, ord("-")), (10, ord(" ")), (13, ord(":")), (16, ord(":")), (19, ord(".")))

Ints = npt.NDArray[np.int64]
Touches = tuple[Any, Sequence[tuple[Any, Any, Any]]]
"""A chunk's touch triples coded (:attr:`~funnelbridge.ingest.bulkplain.PlainPlan.touches`): an int32 buffer of
a code a row, and the distinct ``(source, medium, campaign)`` in code order."""


def parse_times(stamps: Sequence[str]) -> Ints | None:
    """SQLite time texts ``YYYY-MM-DD HH:MM:SS.ffffff`` as int64 microseconds; None unless every text has exactly
    that form (then the texts' order is the numbers' and :func:`_texts` gives the same texts back)."""
    count = len(stamps)
    try:
        joined = "".join(stamps).encode("ascii")
    except (TypeError, UnicodeEncodeError):
        return None
    if count and set(map(len, stamps)) != {26}:
        return None
    chars = np.frombuffer(joined, dtype=np.uint8).reshape(count, 26)
    if not all(bool((chars[:, at] == code).all()) for at, code in _SEPARATORS):
        return None
    digits = np.delete(chars, [at for at, _ in _SEPARATORS], axis=1)
    if not bool(((digits >= ord("0")) & (digits <= ord("9"))).all()):
        return None
    try:
        return np.frombuffer(joined, dtype="S26").astype("datetime64[us]").view(np.int64)
    except ValueError:  # a month 13, a 30th of February ...
        return None


def _texts(values: Ints) -> list[str]:
    """The SQLite texts of int64 microseconds (the inverse of :func:`parse_times`)."""
    out = np.datetime_as_string(values.view("datetime64[us]"), unit="us").astype("U26")
    out.view(np.uint32).reshape(-1, 26)[:, 10] = ord(" ")  # "T" -> " "
    return out.tolist()  # type: ignore[no-any-return]


class _Codes(dict[tuple[Any, Any, Any], int]):
    """A code per distinct (source, medium, campaign) as given; new ones numbered on first sight."""

    def __init__(self, fold: OwnFold) -> None:
        super().__init__()
        self.fold = fold

    def __missing__(self, key: tuple[Any, Any, Any]) -> int:
        code = self[key] = len(self)
        self.fold._new_triple(key)
        return code


class OwnFold:
    """What one import's plain chunks owe, folded per contact as they store it (see the module's doc)."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.start: int | None = None  # first event id of the fold's stretch
        self.end = 0  # the id the next stored event of the stretch must get
        self.valid = True
        self.applied = 0  # stretches this fold settled (the scan's did the others)
        self._merges: tuple[Any, ...] = ()
        self._size = 0
        self._created = self._ident = self._head_at = self._tail_at = np.empty(0, np.int64)
        self._head = self._tail = np.empty(0, np.int64)
        self._codes = _Codes(self)
        self._triples: list[tuple[str | None, str | None, str | None]] = []
        self._keys: list[tuple[str, str, str]] = []
        self._touch = np.empty(0, bool)
        self._rank = np.empty(0, np.int64)
        self._fresh = False

    def reset(self) -> None:
        """Forget the stretch (settled, one way or the other)."""
        applied = self.applied
        self._clear()
        self.applied = applied

    def add(self, conn: Connection, start: int, stored: int, columns: Sequence[Sequence[Any]],
            contact_ids: Sequence[int] | Ints, touches: Touches | None = None) -> None:  # fmt: skip
        """Fold a plain chunk whose ``stored`` events got ids from ``start`` on: ``columns`` (the plain lane's:
        anon 4, source 8, medium 9, campaign 10, time text 12) row by row with ``contact_ids``; ``touches``, when
        the parsing process gave them (:attr:`~funnelbridge.ingest.bulkplain.PlainPlan.touches`), the rows'
        (source, medium, campaign) as a code each and the chunk's distinct triples in code order."""
        if not self.valid:
            return
        if self.start is None:
            self.start, self.end, self._merges = start, start, _merge_state(conn)
        if start != self.end or stored != len(contact_ids):  # another writer's events, or rows not stored
            self.valid = False
            return
        self.end = start + stored
        at = parse_times(columns[12])  # type: ignore[arg-type]
        if at is None:
            self.valid = False
            return
        ids = np.asarray(contact_ids, dtype=np.int64)
        self._grow(int(ids.max()) + 1 if len(ids) else 0)
        np.minimum.at(self._created, ids, at)
        anon = columns[4]
        if anon.count(None) == len(anon):  # type: ignore[attr-defined]
            np.minimum.at(self._ident, ids, at)
        else:
            named = np.fromiter(map(is_, anon, repeat(None)), dtype=bool, count=len(anon))
            np.minimum.at(self._ident, ids[named], at[named])
        if touches is None:
            triples = zip(columns[8], columns[9], columns[10], strict=True)
            codes = np.fromiter(map(self._codes.__getitem__, triples), np.int64, len(ids))
        else:  # the chunk's few distinct triples coded here, the rows by a gather
            local = np.fromiter(map(self._codes.__getitem__, touches[1]), np.int64, len(touches[1]))
            codes = local[np.frombuffer(touches[0], dtype=np.int32)]
        self._fold_touches(ids, at, codes)

    def _fold_touches(self, ids: Ints, at: Ints, codes: Ints) -> None:
        if not self.valid:  # a triple the fold cannot rank
            return
        if self._fresh:
            self._rerank()
        touch = self._touch[codes]
        if not touch.any():
            return
        ids, at, codes = ids[touch], at[touch], codes[touch]
        rank = self._rank[codes]
        order = np.lexsort((rank, at, ids))  # by contact, then (time, triple): a contact's least first
        ids, at, codes, rank = ids[order], at[order], codes[order], rank[order]
        heads = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        tails = np.r_[heads[1:] - 1, len(ids) - 1]
        who = ids[heads]
        h_at, h_rank, t_at, t_rank = at[heads], rank[heads], at[tails], rank[tails]
        was_at, was_rank = self._head_at[who], self._rank[self._head[who]]
        better = (h_at < was_at) | ((h_at == was_at) & (h_rank < was_rank))
        self._head_at[who[better]], self._head[who[better]] = h_at[better], codes[heads][better]
        was_at, was_rank = self._tail_at[who], self._rank[self._tail[who]]
        later = (t_at > was_at) | ((t_at == was_at) & (t_rank > was_rank))
        self._tail_at[who[later]], self._tail[who[later]] = t_at[later], codes[tails][later]

    def _new_triple(self, key: tuple[Any, Any, Any]) -> None:
        parts = tuple(part or None for part in key)  # the lanes store no empty text; the settle's key reads "" too
        texts = all(part is None or (isinstance(part, str) and "\x00" not in part) for part in parts)
        if len(self._triples) >= MAX_TRIPLES or not texts:  # char(0) sorts below the scan's separator
            self.valid = False
            parts = (None, None, None)
        self._triples.append(parts)  # type: ignore[arg-type]
        source, medium, campaign = (part or "" for part in parts)
        self._keys.append((source, medium, campaign))
        self._fresh = True

    def _rerank(self) -> None:
        """Ranks of the triples in the order of the touch key's parts (equal parts, equal ranks)."""
        keys = self._keys
        order = sorted(range(len(keys)), key=keys.__getitem__)
        rank = np.empty(len(order), np.int64)
        dense, last = -1, None
        for code in order:  # per distinct triple, not per row
            if keys[code] != last:
                dense, last = dense + 1, keys[code]
            rank[code] = dense
        self._rank = rank
        self._touch = np.fromiter((any(t) for t in self._triples), bool, len(self._triples))
        self._fresh = False

    def _grow(self, size: int) -> None:
        if size <= self._size:
            return
        size = max(size, 2 * self._size, 1024)
        old = self._size

        def grown(values: Ints, fill: int) -> Ints:
            out = np.full(size, fill, np.int64)
            out[:old] = values
            return out

        self._created, self._ident = grown(self._created, _NONE_AT), grown(self._ident, _NONE_AT)
        self._head_at, self._tail_at = grown(self._head_at, _NONE_AT), grown(self._tail_at, _NO_TAIL)
        self._head, self._tail = grown(self._head, 0), grown(self._tail, 0)
        self._size = size

    def covers(self, conn: Connection, stretches: Sequence[tuple[int, datetime | None]]) -> bool:
        """Whether the fold holds exactly what the owed ``stretches`` would scan (in the settling transaction)."""
        if not self.valid or self.start is None or len(stretches) != 1 or stretches[0][0] != self.start:
            return False
        stored_end = int(conn.execute(select(func.max(events.c.id))).scalar() or 0) + 1
        return stored_end == self.end and _merge_state(conn) == self._merges

    def marks(self, batch: int) -> Any:
        """The settle's attribution parameters (``Mark`` columns after the contact id), ``batch`` contacts at a
        time in contact-id order: ``(ids, columns)``."""
        seen = np.flatnonzero(self._created != _NONE_AT)
        sources, mediums, campaigns = (np.array([None, *(t[i] for t in self._triples)], dtype=object)
                                       for i in range(3))  # fmt: skip
        for begin in range(0, len(seen), batch):
            who = seen[begin : begin + batch]
            head_at = self._head_at[who]
            has = head_at != _NONE_AT
            created, ident, head_text, tail_text = _texts_of(
                (self._created[who], self._ident[who], head_at, self._tail_at[who])
            )
            head = np.where(has, self._head[who] + 1, 0)  # 0: the None row of the part arrays
            tail = np.where(has, self._tail[who] + 1, 0)
            columns = [created, ident, head_text, sources[head].tolist(), mediums[head].tolist(),
                       campaigns[head].tolist(), tail_text, sources[tail].tolist(), mediums[tail].tolist(),
                       campaigns[tail].tolist()]  # fmt: skip
            yield who.tolist(), columns

    def contacts(self) -> list[int]:
        """The contacts the stretch gave events, in id order."""
        return np.flatnonzero(self._created != _NONE_AT).tolist()  # type: ignore[no-any-return]


def _texts_of(arrays: Sequence[Ints]) -> list[list[str | None]]:
    """:func:`_texts` of each array (the fold's "none" values as None), each distinct time formatted once: a
    contact's earliest event is often its earliest identifying one and its first or last touch (1M contacts: 2.0
    CPU s of texts before)."""
    values, where = np.unique(np.concatenate(arrays), return_inverse=True)
    none = (values == _NONE_AT) | (values == _NO_TAIL)
    texts = np.array(_texts(np.where(none, 0, values)), dtype=object)
    texts[none] = None
    return [part.tolist() for part in np.split(texts[where], len(arrays))]


def _merge_state(conn: Connection) -> tuple[Any, ...]:
    """What changes when a merge is made or undone (merges move events between contacts)."""
    m = merges.c
    row = conn.execute(select(func.count(), func.max(m.id), func.count(m.reverted_at))).one()
    return tuple(row)
