"""An events import's reading side: the CSV (or Parquet) read, converted column-wise and checked chunk by chunk
(:class:`~funnelbridge.ingest.columnar.ColumnConverter`, :func:`~funnelbridge.ingest.bulkevents.prepare_event_columns`)
— in the importing process, or in a second process beside it.

SQLite has one writer and ``executemany`` holds the GIL for every row, so a thread cannot overlap the database
work with parsing; a *parsing process* can. It opens the file itself and sends each chunk, ready to store, through a
pipe (:class:`ParsedChunk`, pickled column by column): while the importing process writes chunk *k* the
other parses chunk *k + 1*. Both sides give exactly the same chunks — rows, row numbers, rejections and their
problems, in file order — so what is stored, the dead letters and the summary do not depend on the side; a killed
import leaves what a single-process one leaves (the parsing process writes nothing, and ends when its parent does).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine

from funnelbridge.errors import InputError
from funnelbridge.gcpause import gc_paused
from funnelbridge.ingest.bulkevents import EventChunk, prepare_event_columns
from funnelbridge.ingest.columnar import ColumnConverter
from funnelbridge.ingest.columns import ColumnMapping
from funnelbridge.ingest.deadletter import Problem
from funnelbridge.ingest.foresight import Foresight
from funnelbridge.ingest.readers import Table, open_table
from funnelbridge.ingest.staging import stage_area
from funnelbridge.store.bulk import batched

__all__ = ["PIPELINE_MIN_ROWS", "ParsedChunk", "Source", "local_chunks", "parsed_chunks", "produce", "use_pipeline"]

PIPELINE_MIN_ROWS = 100_000
"""An events file of at least this many rows (estimated) is parsed in a second process when ``workers`` is None
and a CPU is spare (:func:`use_pipeline`): below it, starting the process costs more than it saves."""


@dataclass(frozen=True, slots=True)
class ParsedChunk:
    """One chunk ready to store: how many input rows it read, the rows the converter rejected (row number, raw
    values, problems) and the checked, keyed rows (:class:`~funnelbridge.ingest.bulkevents.EventChunk`)."""

    read: int
    rejected: list[tuple[int, Sequence[Any], tuple[Problem, ...]]]
    prepared: EventChunk


@dataclass(frozen=True)
class Source:
    """What the parsing process needs to read the file again: its path and encoding, the column mapping, the time
    zone of naive timestamps and the chunk size; and the directory to stage plain chunks' rows in
    (:mod:`~funnelbridge.ingest.staging`), if any."""

    path: Path
    encoding: str
    mapping: ColumnMapping
    zone: tzinfo
    chunk_size: int
    stage: Path | None = None


def use_pipeline(workers: int | None, size_hint: int | None, load: float | None = None) -> bool:
    """Whether to parse in a second process: ``workers`` 2 or more says yes, 1 says no; None decides by the
    file's size (:data:`PIPELINE_MIN_ROWS`) and whether a CPU is spare — the CPUs there are less the 1-minute
    load average (``load``, read from the system when None). On a busy machine the second process only competes
    with the writer for the same CPUs and adds its own work (pickling, a second interpreter)."""
    if workers is not None:
        return workers > 1
    if (size_hint or 0) < PIPELINE_MIN_ROWS:
        return False
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average on this platform
            load = 0.0
    return (os.cpu_count() or 1) - load >= 1


def local_chunks(source: Source, table: Table) -> Generator[ParsedChunk, None, None]:
    """The chunks of ``table`` (opened from ``source``), parsed in this process."""
    converter = ColumnConverter(source.mapping, table.headers, source.zone)
    for chunk in batched(table.rows, source.chunk_size):
        columns = converter.convert(chunk)
        yield ParsedChunk(len(chunk), columns.rejected, prepare_event_columns(columns))


@dataclass(frozen=True, slots=True)
class _Failed:
    """The parsing process failed: the error's type and message (raised again as :class:`InputError`)."""

    error: str


def parsed_chunks(source: Source, engine: Engine | None = None) -> Generator[ParsedChunk, None, None]:
    """The chunks of ``source``, parsed in a second process (see the module docstring). Closing the generator (or
    leaving it early) stops that process.

    The process is ``python -m funnelbridge.ingest.parser`` (not :mod:`multiprocessing`, whose ``spawn`` runs the
    caller's main module again): it reads the pickled :class:`Source` on its standard input and writes pickled
    :class:`ParsedChunk` values, then None, on its standard output — whose pipe buffer keeps it a chunk ahead.

    Given the store's ``engine`` (SQLite), the process also stages each plain chunk's rows in a file of a directory
    made here and removed when the generator ends (:func:`~funnelbridge.ingest.staging.stage_area`), which this
    thread's connections attach while the chunk is stored."""
    with stage_area(engine) as area:
        if area is not None:
            source = replace(source, stage=area.directory)
        process = _start()
        try:
            assert process.stdin is not None and process.stdout is not None
            with process.stdin:
                pickle.dump(source, process.stdin)
            while (item := _next(process.stdout, process)) is not None:
                if isinstance(item, _Failed):
                    raise InputError(f"reading the file failed: {item.error}", record=str(source.path))
                if area is not None:
                    area.arrived(item.prepared.columns)
                yield item
        finally:
            _stop(process)


def _start() -> subprocess.Popen[bytes]:
    package = Path(__file__).resolve().parents[2]  # the directory holding funnelbridge, for the child's imports
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(package), os.environ.get("PYTHONPATH"))))}
    command = [sys.executable, "-m", "funnelbridge.ingest.parser"]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)


def _next(stream: IO[bytes], process: subprocess.Popen[bytes]) -> ParsedChunk | _Failed | None:
    try:
        return pickle.load(stream)  # type: ignore[no-any-return]
    except EOFError:
        return _Failed(f"the parsing process ended early (exit code {process.wait()})")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def produce(source: Source, out: IO[bytes]) -> None:
    """The parsing process's work: every chunk of ``source`` (plain plans annotated by
    :class:`~funnelbridge.ingest.foresight.Foresight`), then None (or a :class:`_Failed`), pickled to ``out``. It
    ends when its parent stops reading (a broken pipe)."""
    try:
        table = open_table(source.path, encoding=source.encoding)
    except Exception as exc:  # sent to the parent, which raises it
        pickle.dump(_Failed(f"{type(exc).__name__}: {exc}"), out)
        return
    foresight = Foresight()
    try:
        with gc_paused():
            for item in local_chunks(source, table):
                foresight.annotate(item.prepared)
                pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
                out.flush()
        pickle.dump(None, out)
    except BrokenPipeError:
        return
    except Exception as exc:
        pickle.dump(_Failed(f"{type(exc).__name__}: {exc}"), out)
    finally:
        table.close()
