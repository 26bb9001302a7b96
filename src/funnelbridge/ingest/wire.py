"""What crosses the pipe from the parsing process (:mod:`funnelbridge.ingest.parser`) to the importing process: each
:class:`~funnelbridge.ingest.pipeline.ParsedChunk` pickled with its event times as epoch microseconds (int64) and
without the pickle memo.

The writer stores the SQLite time texts the chunk already carries; it needs ``datetime`` values only for the
first event of each contact it creates (and for rows that go through event intake). Pickling a ``datetime`` cost
the parsing process about 1.5 µs and loading it the writer about 0.3 µs, a third of a chunk's load: the times go
instead as one buffer of int64 microseconds (read from the SQLite texts by numpy, about 0.07 µs an event) and come
back as :class:`Times`, a sequence that makes a time a ``datetime`` only when it is asked for (its ``micros`` are
there for column-wise work). Without datetimes nothing in a chunk is shared or recursive, so the pickler's memo
(a dictionary entry per object) is off — so the columns whose texts repeat go as codes and their distinct values
(:data:`_CODED`), and a plain plan in its compact form (:meth:`~funnelbridge.ingest.bulkplain.PlainPlan.__reduce__`).
:func:`dump_item` writes anything else as plain pickle does.
"""

from __future__ import annotations

import pickle
from array import array
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import IO, Any, overload

from funnelbridge.ingest.bulkevents import EventChunk
from funnelbridge.ingest.bulkplain import AT, CAMPAIGN, KIND, MEDIUM, PATH, SOURCE, STAMP, TYPE
from funnelbridge.ingest.deadletter import Problem
from funnelbridge.ingest.pipeline import ParsedChunk
from funnelbridge.ingest.staging import StagedColumns

__all__ = ["Times", "dump_item", "epoch_micros"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Times(Sequence[datetime]):
    """A chunk's event times (UTC) held as epoch microseconds (``micros``, an ``array('q')``); each is made a
    ``datetime`` when indexed or iterated (the last one indexed is kept: the writer asks a new contact's first time
    three times in a row). Equal to any sequence of the same datetimes."""

    __slots__ = ("_last", "micros")

    def __init__(self, micros: array[int]) -> None:
        self.micros = micros
        self._last: tuple[Any, datetime | list[datetime]] = (None, [])

    def __len__(self) -> int:
        return len(self.micros)

    @overload
    def __getitem__(self, index: int) -> datetime: ...

    @overload
    def __getitem__(self, index: slice) -> list[datetime]: ...

    def __getitem__(self, index: int | slice) -> datetime | list[datetime]:
        last = self._last
        if last[0] == index:
            return last[1]
        micros: Any = self.micros[index]
        try:
            value: datetime | list[datetime] = _EPOCH + timedelta(0, 0, micros)
        except TypeError:  # a slice: an array of them
            return list(map(_time, micros))
        self._last = (index, value)
        return value

    def __iter__(self) -> Iterator[datetime]:
        return map(_time, self.micros)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Times):
            return self.micros == other.micros
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Times({list(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return Times, (self.micros,)


def _time(micros: int) -> datetime:
    return _EPOCH + timedelta(0, 0, micros)


def epoch_micros(stamps: Sequence[str]) -> array[int]:
    """Epoch microseconds of SQLite time texts (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), parsed by numpy."""
    import numpy as np

    out = array("q")
    out.frombytes(np.array(stamps, dtype="datetime64[us]").astype(np.int64).tobytes())
    return out


class _Wire:
    """A :class:`ParsedChunk` as sent: loaded as the chunk itself (:func:`_chunk`), its columns
    :class:`~funnelbridge.ingest.staging.StagedColumns` of ``stage`` when its rows were staged there."""

    __slots__ = ("item", "stage")

    def __init__(self, item: ParsedChunk, stage: str | None = None) -> None:
        self.item, self.stage = item, stage

    def __reduce__(self) -> tuple[Any, ...]:
        item, chunk = self.item, self.item.prepared
        columns: list[Any] = list(chunk.columns)
        times = columns[AT]
        micros = times.micros if isinstance(times, Times) else epoch_micros(columns[STAMP])
        columns[AT] = None
        coded = {}
        for at in _CODED:
            codes = _codes(columns[at])
            if codes is not None:
                coded[at], columns[at] = codes, None
        return _chunk, (item.read, item.rejected, columns, micros.tobytes(), chunk.repeats, chunk.refused,
                        chunk.special, chunk.plan, self.stage, coded)  # fmt: skip


_CODED = (KIND, TYPE, PATH, SOURCE, MEDIUM, CAMPAIGN)
"""Columns of texts that repeat (an event's kind and type, and mostly its path and UTM parameters): sent as a code
each and the distinct values (:func:`_codes`). Without the pickle memo every cell is an object of its own, loaded
and freed by the writer (~3 ms a column of 50,000); from codes the writer's list refers to the few distinct ones."""


def _codes(column: Sequence[Any]) -> tuple[str, bytes, list[Any]] | None:
    """A column of texts and None as ``(array type code, codes, distinct values)``, or None when it holds anything
    else or too many distinct values to pay."""
    where: dict[Any, int] = {}
    number = where.setdefault
    try:
        codes = [number(value, len(where)) for value in column]
    except TypeError:  # unhashable: not texts
        return None
    if len(where) > 4_096 or len(where) * 4 > len(column) or not set(map(type, where)) <= _TEXTS:
        return None
    typecode = "B" if len(where) <= 256 else "H"
    return typecode, array(typecode, codes).tobytes(), list(where)


_TEXTS = {str, type(None)}


def _decoded(typecode: str, codes: bytes, values: list[Any]) -> list[Any]:
    """The column again: a numpy gather over an object array (0.4 ms for 50,000, a ``map`` 1.0)."""
    import numpy as np

    table = np.empty(len(values), dtype=object)
    table[:] = values
    return table[np.frombuffer(codes, dtype=np.uint8 if typecode == "B" else np.uint16)].tolist()  # type: ignore[no-any-return]


def _chunk(
    read: int,
    rejected: list[tuple[int, Sequence[Any], tuple[Problem, ...]]],
    columns: list[Any],
    micros: bytes,
    repeats: int,
    refused: list[tuple[int, Sequence[Any], Problem]],
    special: bool,
    plan: Any,
    stage: str | None = None,
    coded: dict[int, tuple[str, bytes, list[Any]]] | None = None,
) -> ParsedChunk:
    times = array("q")
    times.frombytes(micros)
    columns[AT] = Times(times)
    for at, codes in (coded or {}).items():
        columns[at] = _decoded(*codes)
    if stage is not None:
        columns = StagedColumns(columns, stage, len(times))
    return ParsedChunk(read, rejected, EventChunk(None, repeats, refused, special, columns=columns, plan=plan))


def dump_item(item: Any, out: IO[bytes], stage: str | None = None) -> None:
    """Pickle one item of the parsing process's stream to ``out``: a :class:`ParsedChunk` in the compact form
    (loaded back by plain :func:`pickle.load` as an equal chunk whose times are :class:`Times`; its columns
    :class:`~funnelbridge.ingest.staging.StagedColumns` when its rows were staged in the file ``stage``), anything
    else as it is."""
    if not isinstance(item, ParsedChunk):
        pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
        return
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True  # no memo: nothing in a chunk is recursive, and sharing saved less than the memo cost
    pickler.dump(_Wire(item, stage))
