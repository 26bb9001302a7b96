"""The parsing process of an events import (:func:`funnelbridge.ingest.pipeline.parsed_chunks` starts it):
``python -m funnelbridge.ingest.parser`` reads a pickled :class:`~funnelbridge.ingest.pipeline.Source` on its
standard input and writes the parsed chunks on its standard output. Nothing else imports this module.

A UTF-8 CSV is read by :func:`~funnelbridge.ingest.arrowcsv.arrow_chunks` (pyarrow's parser where it reads the file
as Python's ``csv`` does, the same chunks); any other file by :func:`~funnelbridge.ingest.pipeline.produce`."""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import IO, Any

from funnelbridge.gcpause import gc_paused
from funnelbridge.ingest.arrowcsv import arrow_chunks, fast_source
from funnelbridge.ingest.bulkplain import ANON, CAMPAIGN, KEY, MEDIUM, PATH, PROPS, SOURCE, STAMP, TYPE
from funnelbridge.ingest.foresight import Foresight
from funnelbridge.ingest.pipeline import ParsedChunk, Source, _Failed, produce
from funnelbridge.ingest.staging import Stager
from funnelbridge.ingest.wire import dump_item

__all__ = ["main", "produce_fast"]


def main() -> None:
    source = pickle.load(sys.stdin.buffer)
    if not isinstance(source, Source):
        raise SystemExit("expected a pickled funnelbridge.ingest.pipeline.Source on standard input")
    try:
        (produce_fast if fast_source(source) else produce)(source, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    except BrokenPipeError:  # the importing process stopped reading: nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def produce_fast(source: Source, out: IO[bytes]) -> None:
    """:func:`~funnelbridge.ingest.pipeline.produce` over :func:`~funnelbridge.ingest.arrowcsv.arrow_chunks`: every
    chunk (in :mod:`~funnelbridge.ingest.wire`'s form: times as int64, no pickle memo), then None (or the failure),
    pickled to ``out``. With ``source.stage`` each plain chunk's rows are written there first
    (:mod:`~funnelbridge.ingest.staging`); each plain plan carries what
    :class:`~funnelbridge.ingest.foresight.Foresight` works out for the writer.

    A chunk is staged on a thread of its own while the next one is parsed (:func:`_ahead`): ADBC's ingest into
    SQLite releases the GIL, ~1 of the process's ~5.7 CPU-µs an event, which the writer's CPU — idle for part of
    each chunk since the parsing became the slower side — can take. A chunk is sent once its file is written."""
    stager = None if source.stage is None else Stager(source.stage)
    foresight = Foresight()
    try:
        with gc_paused(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage") as staging:
            for item, staged in _ahead(arrow_chunks(source), foresight, stager, staging):
                dump_item(item, out, staged.result())
                out.flush()
        pickle.dump(None, out)
    except BrokenPipeError:
        return
    except Exception as exc:  # sent to the parent, which raises it
        pickle.dump(_Failed(f"{type(exc).__name__}: {exc}"), out)


def _ahead(
    items: Iterable[ParsedChunk], foresight: Foresight, stager: Stager | None, staging: Executor
) -> Iterator[tuple[ParsedChunk, Future[str | None]]]:
    """Each chunk, annotated, with its staging under way; a chunk is handed out once the next one is parsed (and
    its staging started), so that staging one overlaps parsing the next."""
    held: tuple[ParsedChunk, Future[str | None]] | None = None
    for item in items:
        foresight.annotate(item.prepared)
        staged = staging.submit(_stage, stager, item)
        if held is not None:
            yield held
        held = item, staged
    if held is not None:
        yield held


def _stage(stager: Stager | None, item: ParsedChunk) -> str | None:
    """The file ``item``'s rows were staged in: a plain chunk's, when there is a stager and it could."""
    chunk = item.prepared
    if stager is None or chunk.plan is None or not chunk.columns[KEY]:
        return None
    return stager.stage(staged_columns(chunk.columns))


def staged_columns(columns: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """A plain chunk's columns as staged (:data:`~funnelbridge.ingest.staging.STAGED`): the values the plain lane
    binds, properties as JSON text."""
    props = columns[PROPS]
    docs = [None if p is None else json.dumps(p) for p in props]
    return [columns[KEY], columns[ANON], columns[TYPE], columns[STAMP], columns[PATH], columns[CAMPAIGN],
            columns[SOURCE], columns[MEDIUM], docs]  # fmt: skip


if __name__ == "__main__":
    main()
