"""Rescoring every lead (after a playbook change, or on a schedule): the batch path end to end.

Read the lead and event tables from the store in bulk, score them in one vectorized pass on DuckDB
(:mod:`funnelbridge.scoring.batch`), replace the stored scores of every group in one transaction and publish
threshold crossings of the main score. Playbooks whose rules read free-form ``properties`` keys (which the Ibis
compiler does not handle) are rescored lead by lead with the incremental scorer instead — same results, slower.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, select

from funnelbridge.domain.clock import as_utc
from funnelbridge.playbook.schema import Playbook
from funnelbridge.rules.ast import leaves
from funnelbridge.rules.facts import load_lead_facts
from funnelbridge.rules.ibis import lead_fields, unsupported
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.batch import batch_conditions, score_batches
from funnelbridge.scoring.batch_load import load_events, load_leads
from funnelbridge.scoring.rules_engine import score_facts
from funnelbridge.scoring.ruleset import rule_sets
from funnelbridge.scoring.thresholds import ScoreSnapshot, crossings
from funnelbridge.store.scores import (
    drop_merged_scores,
    insert_rows_json_text,
    main_scores,
    predictions,
    replace_group_scores,
    score_row,
    upsert_scores,
)
from funnelbridge.store.tables import contacts

__all__ = ["Progress", "RescoreSummary", "batch_event_types", "rescore_all"]

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called as a long operation advances."""
WRITE_CHUNK = 20_000
MAIN_COLUMNS = ("contact_id", "engagement", "total", "temperature", "grade")


@dataclass(frozen=True)
class RescoreSummary:
    """What a full rescore did: how many leads, their grade/temperature distribution, and how long each phase took."""

    leads: int
    rows: int
    as_of: datetime
    playbook_version: str
    engine: str  # "duckdb" (vectorized) or "python" (lead by lead)
    grades: dict[str, int] = field(default_factory=dict)
    temperatures: dict[str, int] = field(default_factory=dict)
    crossings: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def batch_event_types(playbook: Playbook) -> set[str] | None:
    """Event types the scoring rules read; None when some rule counts events of any type."""
    types: set[str] = set()
    for rs in rule_sets(playbook.scoring):
        types.update(r.event for r in rs.event_rules)
    for cond in batch_conditions(playbook.scoring):
        for leaf in leaves(cond):
            if leaf.field.startswith("events."):
                if leaf.event is None:
                    return None
                types.add(leaf.event)
    return types


def _python_rows(rt: Runtime, conn: Connection, as_of: datetime, progress: Progress | None) -> list[dict[str, Any]]:
    ids = list(conn.execute(select(contacts.c.id).where(contacts.c.merged_into.is_(None)).order_by(contacts.c.id)))
    rows: list[dict[str, Any]] = []
    now = rt.clock.now()
    for i, (cid,) in enumerate(ids, 1):
        facts = load_lead_facts(conn, cid, as_of)
        rows += [score_row(s, now) for s in score_facts(rt.playbook, facts, contact_id=cid)]
        if progress and (i % 1000 == 0 or i == len(ids)):
            progress(i, len(ids))
    return rows


def _publish(rt: Runtime, conn: Connection, old: dict[int, tuple[float, float, str]], main: pa.Table) -> int:
    count, now = 0, rt.clock.now()
    cols = [main.column(n).to_pylist() for n in ("contact_id", "engagement", "total", "temperature")]
    for cid, engagement, total, temperature in zip(*cols, strict=True):
        before = old.get(cid)
        if before is not None and before == (engagement, total, temperature):
            continue
        snapshot = ScoreSnapshot(*before) if before is not None else None
        for event in crossings(rt.playbook, cid, now, snapshot, ScoreSnapshot(engagement, total, temperature)):
            rt.bus.publish(conn, event)
            count += 1
    return count


def _with_prediction(row: dict[str, Any], kept: dict[int, tuple[float, str | None]]) -> dict[str, Any]:
    """Carry the predictive model's probability over to the rewritten main row."""
    hit = kept.get(row["contact_id"]) if row["score_group"] == "main" else None
    if hit is not None:
        row["probability"], row["model_version"] = hit
    return row


def _distribution(table: pa.Table, column: str) -> dict[str, int]:
    counts = table.column(column).value_counts().to_pylist()
    return {item["values"]: int(item["counts"]) for item in counts}


def _rescore_python(rt: Runtime, as_of: datetime, progress: Progress | None) -> RescoreSummary:
    start = time.perf_counter()
    with rt.db.transaction() as conn:
        old = main_scores(conn)
        rows = _python_rows(rt, conn, as_of, progress)
        drop_merged_scores(conn)  # as the batch path's replace: contacts merged away lose their rows
        upsert_scores(conn, rows)
        main = pa.Table.from_pylist([r for r in rows if r["score_group"] == "main"])
        published = _publish(rt, conn, old, main) if rows else 0
    summary = _summary(rt, as_of, main, len(rows), "python", published)
    return _with_seconds(summary, {"total": time.perf_counter() - start})


def _summary(rt: Runtime, as_of: datetime, main: pa.Table, rows: int, engine: str, published: int) -> RescoreSummary:
    grades = _distribution(main, "grade") if main.num_rows else {}
    temps = _distribution(main, "temperature") if main.num_rows else {}
    return RescoreSummary(main.num_rows, rows, as_of, rt.playbook.version, engine, grades, temps, published)


def _with_seconds(summary: RescoreSummary, seconds: dict[str, float]) -> RescoreSummary:
    return RescoreSummary(**{**summary.__dict__, "seconds": seconds})


def rescore_all(rt: Runtime, as_of: datetime | None = None, progress: Progress | None = None) -> RescoreSummary:
    """Rescore every live lead in every score group at ``as_of`` (default now); replaces the stored scores."""
    as_of = as_utc(as_of) if as_of is not None else rt.clock.now()
    pb = rt.playbook
    conditions = batch_conditions(pb.scoring) + [r.where for rs in rule_sets(pb.scoring) for r in rs.event_rules]
    if unsupported(conditions):
        return _rescore_python(rt, as_of, progress)
    clock = [time.perf_counter()]

    def lap() -> float:
        clock.append(time.perf_counter())
        return clock[-1] - clock[-2]

    with rt.db.read() as conn:
        leads = load_leads(conn, lead_fields(batch_conditions(pb.scoring)))
        events = load_events(conn, as_of, batch_event_types(pb))
    seconds = {"load": lap()}
    extra = {"as_of": as_of, "playbook_version": pb.version, "updated_at": rt.clock.now()}
    main_parts: list[pa.Table] = []
    rows = 0
    with rt.db.transaction() as conn:
        old, kept = main_scores(conn), predictions(conn)
        replace_group_scores(conn, [rs.group for rs in rule_sets(pb.scoring)])
        total = leads.num_rows * len(rule_sets(pb.scoring))
        for batch in score_batches(pb, leads, events, as_of, chunk_size=WRITE_CHUNK):
            table = pa.Table.from_batches([batch])
            insert_rows_json_text(conn, [_with_prediction(row | extra, kept) for row in table.to_pylist()])
            is_main = pc.equal(table.column("score_group"), "main")
            main_parts.append(
                table.filter(is_main).select(["contact_id", "engagement", "total", "temperature", "grade"])
            )
            rows += table.num_rows
            if progress:
                progress(rows, total)
        main = pa.concat_tables(main_parts) if main_parts else pa.table({"contact_id": pa.array([], pa.int64())})
        seconds["score_and_write"] = lap()
        published = _publish(rt, conn, old, main) if main.num_rows else 0
    seconds["crossings"] = lap()
    return _with_seconds(_summary(rt, as_of, main, rows, "duckdb", published), seconds)
