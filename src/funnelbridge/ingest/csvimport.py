"""CSV and Parquet import of accounts, contacts, events, deals, campaigns and campaign costs.

:func:`import_file` detects the column mapping (HubSpot and Salesforce exports are recognized; a mapping file
overrides), converts every row with per-field coercion, writes rows in chunks — one transaction per chunk — and
sends every rejected row (row number, field, reason, original values) to a dead-letter CSV. Naive timestamps are
read in the playbook's time zone and stored in UTC.

Re-running is safe, and so is re-running after a crash: every kind is written by natural key (email or external
id, domain, campaign key, campaign + day, deal external id, event idempotency key — derived from the row when the
file has none), so rows already stored are found and left as they are; committed chunks are simply seen again as
*unchanged* or *duplicate*.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from funnelbridge.gcpause import collect_young, gc_paused
from funnelbridge.ingest.arrowcsv import here_chunks
from funnelbridge.ingest.bulkevents import EventChunk, Guess, write_event_columns
from funnelbridge.ingest.bulkstore import queue_contacts
from funnelbridge.ingest.columns import ColumnMapping, Kind, detect_mapping, load_mapping_file
from funnelbridge.ingest.context import ImportContext, Item, Writer
from funnelbridge.ingest.deadletter import DeadLetterWriter, default_rejects_path
from funnelbridge.ingest.firstkeys import FirstKeys
from funnelbridge.ingest.owed import Deferral
from funnelbridge.ingest.owed import settle as settle_owed
from funnelbridge.ingest.ownfold import OwnFold
from funnelbridge.ingest.pipeline import ParsedChunk, Source, parsed_chunks, use_pipeline
from funnelbridge.ingest.readers import Table, open_table
from funnelbridge.ingest.rows import RowConverter
from funnelbridge.ingest.summary import ImportSummary, Progress
from funnelbridge.runtime import Runtime
from funnelbridge.store.bulk import batched
from funnelbridge.store.bulkload import (
    bulk_lock,
    bulk_settings,
    drop_indexes,
    restore_indexes,
    sorting_in_files,
    unchecked_foreign_keys,
)
from funnelbridge.store.tables import events

__all__ = ["BULK_MIN_ROWS", "DEFAULT_CHUNK", "EVENT_CHUNK", "import_file", "preview_mapping"]

DEFAULT_CHUNK = 10_000
EVENT_CHUNK = 50_000
"""Rows per transaction: events are converted and stored set-wise (:mod:`funnelbridge.ingest.bulkevents`), so
larger chunks pay off; the other kinds are written row by row."""
BULK_MIN_ROWS = 100_000
"""An events file of at least this many rows (estimated), and at least half as many as the store holds, is a
*bulk load* on SQLite: see :func:`import_file`."""


def _writer(kind: Kind) -> Writer:
    if kind is Kind.CONTACTS:
        from funnelbridge.ingest.contacts import write_contacts

        return write_contacts
    if kind is Kind.EVENTS:
        from funnelbridge.ingest.activities import write_events

        return write_events
    if kind is Kind.ACCOUNTS:
        from funnelbridge.ingest.accounts import write_accounts

        return write_accounts
    if kind is Kind.DEALS:
        from funnelbridge.ingest.deals import write_deals

        return write_deals
    from funnelbridge.ingest.campaigns import write_campaigns, write_costs

    return write_campaigns if kind is Kind.CAMPAIGNS else write_costs


def _mapping(kind: str, table: Table, mapping: str | Path | Mapping[str, str | None] | None) -> ColumnMapping:
    override = load_mapping_file(mapping) if isinstance(mapping, str | Path) else mapping
    return detect_mapping(kind, table.headers, override)


def preview_mapping(
    kind: str, path: str | Path, mapping: str | Path | Mapping[str, str | None] | None = None
) -> ColumnMapping:
    """The column mapping an import of ``path`` would use (nothing is written)."""
    table = open_table(path)
    try:
        return _mapping(kind, table, mapping)
    finally:
        table.close()


def _items(ctx: ImportContext, converter: RowConverter, rows: Iterator[tuple[int, list[Any]]]) -> Iterator[Item]:
    for number, raw in rows:
        ctx.summary.read += 1
        converted = converter.convert(raw)
        if converted.record is None:
            ctx.reject(number, raw, converted.problems)
        else:
            yield Item(number, converted.record, raw)


def import_file(
    rt: Runtime,
    kind: str,
    path: str | Path,
    mapping: str | Path | Mapping[str, str | None] | None = None,
    progress: Progress | None = None,
    *,
    rejects: str | Path | None = None,
    chunk_size: int | None = None,
    after: bool = True,
    defer: bool = False,
    encoding: str = "utf-8",
    bulk: bool | None = None,
    workers: int | None = None,
) -> ImportSummary:
    """Import ``path`` (CSV, or Parquet by suffix) as ``kind``; see the module docstring.

    ``mapping`` is a mapping file or a ``{header: field | None}`` dict; ``rejects`` the dead-letter path (default
    ``<file>.rejected.csv``; written only when a row is rejected); ``progress`` is called with the number of rows
    done after each chunk; ``after`` re-scores and advances the contacts whose activity changed (contacts and
    events), in the chunk's transaction — turn it off for very large back-fills and run a batch re-score after.
    With ``defer`` those contacts are queued instead (:func:`funnelbridge.activity.enqueue`, in the chunk's
    transaction), which keeps a big import fast; :func:`funnelbridge.activity.drain` scores them afterwards.
    ``chunk_size`` defaults to :data:`EVENT_CHUNK` for events and :data:`DEFAULT_CHUNK` otherwise.

    ``bulk`` (events only) drops the events table's secondary indexes for the import and rebuilds them at its end
    (:mod:`funnelbridge.store.bulkload`; unique keys stay, so re-runs stay idempotent). ``None`` decides: on for a
    large file (:data:`BULK_MIN_ROWS`) on SQLite when contacts are not scored inside the import (``defer`` or not
    ``after``). The indexes come back early when a chunk needs them (identifications and merges read events by
    contact), and an import killed meanwhile is repaired by the next import of events, which first creates any
    missing index.

    ``workers`` (events only): 2 reads and converts the file in a second process while this one writes
    (:mod:`funnelbridge.ingest.pipeline`; same result), 1 does both here; ``None`` decides by the file's size.
    """
    path = Path(path)
    table = open_table(path, encoding=encoding)
    try:
        column_mapping = _mapping(kind, table, mapping)
        summary = ImportSummary(kind=column_mapping.kind.value, path=path, source_format=column_mapping.source_format)
        summary.mapping = column_mapping.describe()
        dead_path = Path(rejects) if rejects is not None else default_rejects_path(path)
        with DeadLetterWriter(dead_path, table.headers) as dead:
            plan = _Plan(progress, chunk_size or _chunk(column_mapping.kind), after, defer, bulk, workers)
            _run(rt, column_mapping, summary, dead, _Input(path, encoding, table), plan)
        summary.rejects_path = dead_path if dead.count else None
        return summary
    finally:
        table.close()


@dataclass(frozen=True)
class _Plan:
    progress: Progress | None
    chunk_size: int
    after: bool
    defer: bool
    bulk: bool | None = None
    workers: int | None = None


@dataclass(frozen=True)
class _Input:
    path: Path
    encoding: str
    table: Table


def _chunk(kind: Kind) -> int:
    return EVENT_CHUNK if kind is Kind.EVENTS else DEFAULT_CHUNK


def _follow_up(ctx: ImportContext, conn: Connection, plan: _Plan, touched: set[int]) -> None:
    """Score and advance (or queue) the contacts a chunk touched, in the chunk's transaction."""
    if not (plan.after and touched):
        return
    if plan.defer:
        queue_contacts(conn, touched, ctx.now)
        return
    from funnelbridge.flow import after_activity

    after_activity(ctx.rt, conn, sorted(touched))


def _run(
    rt: Runtime, mapping: ColumnMapping, summary: ImportSummary, dead: DeadLetterWriter, given: _Input, plan: _Plan
) -> None:
    zone = ZoneInfo(rt.playbook.timezone)
    ctx = ImportContext(rt, rt.clock.now(), zone, summary, dead, plan.after, stages=mapping.stages)
    if mapping.kind is Kind.EVENTS:
        _run_columns(ctx, Source(given.path, given.encoding, mapping, zone, plan.chunk_size), given.table, plan)
        return
    writer = _writer(mapping.kind)
    with gc_paused(_pauses_gc(plan)):
        _run_rows(ctx, writer, RowConverter(mapping, given.table.headers, zone), given.table, plan)


def _run_rows(ctx: ImportContext, writer: Writer, converter: RowConverter, table: Table, plan: _Plan) -> None:
    """The other kinds: rows converted one by one, written chunk by chunk."""
    done, summary = 0, ctx.summary
    for chunk in batched(_items(ctx, converter, table.rows), plan.chunk_size):
        with ctx.rt.db.transaction() as conn:
            _follow_up(ctx, conn, plan, writer(ctx, conn, chunk))
        if plan.progress:
            plan.progress(summary.read - done)
        done = summary.read
    if plan.progress and summary.read > done:
        plan.progress(summary.read - done)


def _run_columns(ctx: ImportContext, source: Source, table: Table, plan: _Plan) -> None:
    """Events: each chunk converted column-wise (here, or in a second process: :mod:`~funnelbridge.ingest.pipeline`)
    and stored set-wise (a bulk load when :func:`_bulk` says so); what the plain chunks owe is settled at the end
    (not when the import fails: the next one settles it, with its own)."""
    load = _BulkLoad(ctx.rt, _bulk(ctx.rt, table, plan), ctx.now, fold=ctx.fold)
    guess = Guess()
    pipelined = use_pipeline(plan.workers, table.size_hint)
    parsed = parsed_chunks(source, ctx.rt.db.engine) if pipelined else here_chunks(source, table)
    done = False
    engine = ctx.rt.db.engine
    with bulk_lock(engine, on=load.on), sorting_in_files(engine, on=load.on):  # sorting: for the index builds
        try:
            with gc_paused(_pauses_gc(plan)), unchecked_foreign_keys(ctx.rt.db.engine, on=load.on):
                for chunk in parsed:  # a bulk load's rows reference only contacts its transaction looked up or made
                    _columns_chunk(ctx, chunk, plan, load, guess)
                _held_back(ctx, plan, load, guess)
            done = True
        finally:
            parsed.close()
            load.finish(settle=done)


def _held_back(ctx: ImportContext, plan: _Plan, load: _BulkLoad, guess: Guess) -> None:
    """The rows a first load held back (:mod:`~funnelbridge.ingest.firstkeys`: repeated keys, mostly), stored once
    the unique key index is built, the looked-up way."""
    guess.all_new = False
    for held in load.keys.held_back(plan.chunk_size):
        _columns_chunk(ctx, ParsedChunk(0, [], held), plan, load, guess)


def _deferral(ctx: ImportContext, plan: _Plan) -> Deferral | None:
    """What plain chunks defer to the end of the import: their attribution, and queueing their contacts with
    ``defer``; nothing when contacts are scored in each chunk's transaction (that reads their attribution)."""
    if plan.after and not plan.defer:
        return None
    return Deferral(ctx.now if plan.after else None)


def _columns_chunk(ctx: ImportContext, chunk: ParsedChunk, plan: _Plan, load: _BulkLoad, guess: Guess) -> None:
    ctx.summary.read += chunk.read
    for number, raw, problems in chunk.rejected:
        ctx.reject(number, raw, problems)
    deferral = _deferral(ctx, plan)
    merged = ctx.summary.merged
    with ctx.rt.db.transaction() as conn:
        prepared = load.begin(conn, chunk.prepared)
        written = write_event_columns(ctx, conn, prepared, before_intake=load.end, guess=guess, deferral=deferral)
        if deferral is None or not (prepared.plan is not None and conn.dialect.name == "sqlite"):
            _follow_up(ctx, conn, plan, written)  # a deferred plain chunk's contacts are queued when settled
    if ctx.summary.merged != merged:
        collect_young()  # merges leave cyclic garbage, which the import's paused collector would keep to the end
    if plan.progress:
        plan.progress(chunk.read)


def _pauses_gc(plan: _Plan) -> bool:
    """Collection is paused for the import (:func:`~funnelbridge.gcpause.gc_paused`: a chunk's live row lists and
    tuples made every collection walk them all; the import makes next to no cyclic garbage) — not when contacts
    are scored inside the import (``after`` without ``defer``): that is slow anyway and makes garbage of its own."""
    return not (plan.after and not plan.defer)


def _bulk(rt: Runtime, table: Table, plan: _Plan) -> bool:
    if plan.bulk is not None:
        return plan.bulk
    if not rt.db.is_sqlite or (plan.after and not plan.defer) or (table.size_hint or 0) < BULK_MIN_ROWS:
        return False
    with rt.db.read() as conn:
        stored = conn.execute(select(func.max(events.c.id))).scalar() or 0
    return table.size_hint is not None and table.size_hint * 2 >= stored


@dataclass
class _BulkLoad:
    """The events table's secondary indexes during an import: dropped for a bulk load (in the first chunk's
    transaction; into an empty table the unique key index too: :mod:`~funnelbridge.ingest.firstkeys`), rebuilt
    when a chunk needs them or at the end; created if missing (a killed earlier run). At the
    end, in the same transaction, what the plain chunks owe is settled (:func:`~funnelbridge.ingest.owed.settle`,
    at ``now``: the import's time)."""

    rt: Runtime
    on: bool
    now: datetime | None = None
    started: bool = False
    keys: FirstKeys = field(default_factory=FirstKeys)
    fold: OwnFold | None = None  # the import's fold of what its plain chunks owe (settled from it when it covers)

    def begin(self, conn: Connection, chunk: EventChunk) -> EventChunk:
        """Start a chunk's transaction; returns the rows to store (:meth:`FirstKeys.admit`)."""
        if not self.started:
            self.started = True
            if self.on:
                drop_indexes(conn, events)
                self.keys.start(conn)  # an empty table: its unique key index too
            else:
                restore_indexes(conn, events)
        if self.on:
            bulk_settings(conn, on=True)
        return self.keys.admit(conn, chunk)

    def end(self, conn: Connection) -> None:
        """Rebuild the indexes now (a chunk about to read events by contact), for the rest of the import."""
        if self.on:
            self.on = False
            restore_indexes(conn, events)
            bulk_settings(conn, on=False)

    def finish(self, *, settle: bool = True) -> None:
        with self.rt.db.transaction() as conn:
            if settle:
                if self.on:
                    bulk_settings(conn, on=True)
                settle_owed(conn, self.now or self.rt.clock.now(), self.fold)
            if self.on or not self.started:
                self.started = True
                restore_indexes(conn, events)
                bulk_settings(conn, on=False)
            self.on = False
