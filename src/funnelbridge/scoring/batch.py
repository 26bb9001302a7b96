"""The batch rule scorer: every lead of a lead table scored in one vectorized pass.

Same rules and arithmetic as :mod:`funnelbridge.scoring.rules_engine` (the incremental path):

1. attribute rules: one boolean column per rule over all leads, compiled by :mod:`funnelbridge.rules.ibis`
   (``events.*`` aggregates included) and run as one query on DuckDB;
2. event rules: matched once per distinct combination of event values, then scored per chunk of leads with
   vector math — earliest event, per-day caps, expiry, decay, sums per lead, total caps
   (:mod:`funnelbridge.scoring.batch_events`);
3. points per kind are summed per (lead, group) and classified (grade, temperature, quadrant, MQL);
4. the explanation JSON is assembled column-wise in Arrow, in rule order (:mod:`funnelbridge.scoring.batch_text`).

:func:`score_batches` streams the result in Arrow record batches, one chunk of leads at a time, so the
explanations of a million leads never sit in memory at once; :func:`score_tables` collects them.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import ibis
import numpy as np
import pyarrow as pa

from funnelbridge.domain.clock import as_utc
from funnelbridge.domain.durations import parse_duration
from funnelbridge.playbook.schema import Playbook, Scoring
from funnelbridge.rules.ast import FieldCondition
from funnelbridge.rules.ibis import aggregate_leaves, lead_frame
from funnelbridge.scoring.batch_events import TS, PreparedEvents, micros, prepare_events, rule_hits, run_arrow
from funnelbridge.scoring.batch_text import empty_explanations, explanations
from funnelbridge.scoring.results import HIGH_FIT_GRADES, QUADRANTS
from funnelbridge.scoring.ruleset import RuleSet, rule_sets

__all__ = ["OUTPUT_SCHEMA", "batch_conditions", "duckdb_connection", "score_batches", "score_tables"]

OUTPUT_SCHEMA = pa.schema(
    [("contact_id", pa.int64()), ("score_group", pa.string())]
    + [(n, pa.float64()) for n in ("fit", "engagement", "negative")]
    + [("explanation", pa.string()), ("total", pa.float64())]
    + [(n, pa.string()) for n in ("grade", "temperature", "quadrant")]
    + [("mql_eligible", pa.bool_())]
)
_QUADRANT_NAMES = list(dict.fromkeys(QUADRANTS.values()))
_NEVER = np.iinfo(np.int64).min
CHUNK_LEADS = 20_000
"""Leads scored together (their explanation text is built at once: about 40 MB for 20,000 leads)."""
THREADS = max(1, min(4, os.cpu_count() or 1))
"""Chunks of leads scored in parallel."""
_T = TypeVar("_T")


def batch_conditions(scoring: Scoring) -> list[Any]:
    """Every lead-level condition of the scoring rules (what the lead frame must be able to evaluate)."""
    return [r.when for rs in rule_sets(scoring) for r in rs.attribute_rules]


def duckdb_connection(memory_limit: str = "1GB") -> Any:
    """A DuckDB connection for batch scoring: UTC session, bounded memory (spills to a temp directory)."""
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", memory_limit):
        raise ValueError(f"memory_limit must read like 1GB or 512MiB, got {memory_limit!r}")
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    con.raw_sql("SET preserve_insertion_order = false")
    con.raw_sql(f"SET memory_limit = '{memory_limit}'")  # a validated size, not data
    return con


def _aggregates(
    leaves: list[FieldCondition], prepared: PreparedEvents, first: int, n: int, as_of: datetime
) -> dict[str, pa.Array]:
    """The ``events.*`` aggregates of every lead (``agg_0``, ... as :func:`lead_frame` reads them), from the
    prepared events: counts by ``bincount``, the newest time by a maximum per lead."""
    columns: dict[str, pa.Array] = {}
    for i, leaf in enumerate(leaves):
        hit = prepared.masks[first + i][prepared.code]
        if leaf.within is not None:
            hit &= prepared.at >= micros(as_of - parse_duration(leaf.within))
        pos = prepared.pos[hit]
        if leaf.field == "events.count":
            columns[f"agg_{i}"] = pa.array(np.bincount(pos, minlength=n))
        else:
            newest = np.full(n, _NEVER, np.int64)
            np.maximum.at(newest, pos, prepared.at[hit])
            columns[f"agg_{i}"] = pa.array(newest, TS, mask=newest == _NEVER)
    return columns


def _attribute_hits(
    con: Any, scoring: Scoring, leads: pa.Table, aggregates: dict[str, pa.Array], as_of: datetime
) -> np.ndarray:
    """bool [attribute rule (all groups, in order), lead row]: one DuckDB query over the lead frame."""
    rules = [r for rs in rule_sets(scoring) for r in rs.attribute_rules]
    hits = np.zeros((len(rules), leads.num_rows), bool)
    if not rules or not leads.num_rows:
        return hits
    table = leads.append_column("_row", pa.array(np.arange(leads.num_rows)))
    for name, column in aggregates.items():
        table = table.append_column(name, column)
    con.con.register("fb_leads", table)
    try:
        frame = lead_frame(con.table("fb_leads"), None, batch_conditions(scoring), as_of)
        tests = {f"h{i}": frame.predicate(r.when).fill_null(False) for i, r in enumerate(rules)}
        out = run_arrow(con, frame.table.select("_row", **tests))
    finally:
        con.con.unregister("fb_leads")
    rows = out.column("_row").to_numpy()
    for i in range(len(rules)):
        hits[i, rows] = out.column(f"h{i}").to_numpy(zero_copy_only=False)
    return hits


def _labels(codes: np.ndarray, names: list[str]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(names)).cast(pa.string())


def _classified(scoring: Scoring, fit: np.ndarray, engagement: np.ndarray, negative: np.ndarray) -> dict[str, Any]:
    """Total, grade, temperature, quadrant and MQL eligibility (as :func:`funnelbridge.scoring.results.classify`)."""
    total = fit + engagement + negative
    g, temp, mql = scoring.grades, scoring.temperature, scoring.mql
    grade = np.select([fit >= g["A"], fit >= g["B"], fit >= g["C"]], [0, 1, 2], 3)
    letters = ["A", "B", "C", "D"]
    band = np.select([engagement >= temp.hot, engagement >= temp.warm], [0, 1], 2)
    high_fit = np.isin(grade, [letters.index(x) for x in HIGH_FIT_GRADES])
    high_eng = engagement >= mql.engagement
    quadrant = np.zeros(fit.size, np.int8)
    for (f, e), name in QUADRANTS.items():
        quadrant[(high_fit == f) & (high_eng == e)] = _QUADRANT_NAMES.index(name)
    eligible = np.isin(grade, [letters.index(x) for x in mql.grades if x in letters]) & high_eng
    if mql.total is not None:
        eligible &= total >= mql.total
    return {
        "total": total, "grade": _labels(grade, letters), "temperature": _labels(band, ["hot", "warm", "cold"]),
        "quadrant": _labels(quadrant, _QUADRANT_NAMES), "mql_eligible": eligible,
    }  # fmt: skip


class _Chunk:
    """One chunk of leads: its rows of the lead table and its events, grouped by combination code (so the events a
    rule matches are a few contiguous runs, not a scan of the chunk)."""

    def __init__(self, prepared: PreparedEvents, k: int, start: int, stop: int) -> None:
        lo, hi = prepared.bounds[k], prepared.bounds[k + 1]
        self.start, self.n = start, stop - start
        codes = prepared.code[lo:hi]
        space = prepared.masks.shape[1]
        order = np.argsort(codes.astype(np.int16) if space < 1 << 15 else codes, kind="stable")
        self.pos = prepared.pos[lo:hi][order] - start
        self.at = prepared.at[lo:hi][order]
        self.runs = np.zeros(space + 1, np.int64)
        np.cumsum(np.bincount(codes, minlength=space), out=self.runs[1:])

    def matching(self, mask: np.ndarray) -> np.ndarray:
        """Indices of the chunk's events whose combination ``mask`` selects."""
        codes = np.flatnonzero(mask)
        if codes.size == 1:
            return np.arange(self.runs[codes[0]], self.runs[codes[0] + 1])
        return np.concatenate([np.arange(self.runs[c], self.runs[c + 1]) for c in codes] or [np.zeros(0, np.int64)])


def _group_batch(
    rs: RuleSet, first_rule: tuple[int, int], hits: np.ndarray, chunk: _Chunk, ctx: dict[str, Any]
) -> pa.RecordBatch:
    """The rows of one score group for one chunk of leads."""
    n, explain = chunk.n, ctx["explain"]
    fit, engagement, negative = np.zeros(n), np.zeros(n), np.zeros(n)
    attr_hits = [hits[first_rule[0] + i, chunk.start : chunk.start + n] for i in range(len(rs.attribute_rules))]
    for rule, hit in zip(rs.attribute_rules, attr_hits, strict=True):
        (fit if rule.kind == "fit" else negative)[hit] += rule.points
    masks: np.ndarray = ctx["masks"]
    event_hits = []
    for i, erule in enumerate(rs.event_rules):
        mine = chunk.matching(masks[first_rule[1] + i])
        got = rule_hits(erule, chunk.pos[mine], chunk.at[mine], n, ctx["as_of_us"], ctx["tz"], explain=explain)
        if got is not None:
            (engagement if erule.kind == "engagement" else negative)[got.rows] += got.points
        event_hits.append(got)
    text = (
        explanations(rs.attribute_rules, attr_hits, rs.event_rules, event_hits, ctx["as_of"], n)
        if explain
        else empty_explanations(n)
    )
    columns = {
        "contact_id": ctx["ids"][chunk.start : chunk.start + n], "score_group": _labels(np.zeros(n), [rs.group]),
        "fit": fit, "engagement": engagement, "negative": negative, "explanation": text,
    }  # fmt: skip
    columns |= _classified(ctx["scoring"], fit, engagement, negative)
    return pa.RecordBatch.from_pydict(columns, schema=OUTPUT_SCHEMA)


def score_batches(
    playbook: Playbook,
    leads: pa.Table,
    events: pa.Table,
    as_of: datetime,
    con: Any | None = None,
    chunk_size: int = 50_000,
    *,
    explain: bool = True,
) -> Iterator[pa.RecordBatch]:
    """Score Arrow lead/event tables, streaming the result (one row per contact and group, up to ``chunk_size``
    leads per record batch) so the explanations never sit in memory all at once. ``explain=False`` leaves the
    explanations empty (``[]``): what-if replays that only count need no text."""
    as_of = as_utc(as_of)
    con = con if con is not None else duckdb_connection()
    sets = rule_sets(playbook.scoring)
    ids = leads.column("contact_id").to_numpy()
    erules = [r for rs in sets for r in rs.event_rules]
    leaves = aggregate_leaves(batch_conditions(playbook.scoring))
    matchers = [(r.event, r.where) for r in erules] + [(leaf.event, leaf.where) for leaf in leaves]
    step = min(chunk_size, CHUNK_LEADS)
    prepared = prepare_events(con, events, ids, matchers, as_of, step)
    aggregates = _aggregates(leaves, prepared, len(erules), leads.num_rows, as_of)
    hits = _attribute_hits(con, playbook.scoring, leads, aggregates, as_of)
    del aggregates
    ctx = {
        "explain": explain, "as_of": as_of, "as_of_us": micros(as_of), "tz": playbook.timezone,
        "masks": prepared.masks, "ids": ids, "scoring": playbook.scoring,
    }  # fmt: skip
    firsts, a, e = [], 0, 0
    for rs in sets:
        firsts.append((a, e))
        a, e = a + len(rs.attribute_rules), e + len(rs.event_rules)

    def score_chunk(k: int) -> list[pa.RecordBatch]:
        start = k * step
        chunk = _Chunk(prepared, k, start, min(start + step, leads.num_rows))
        return [_group_batch(rs, first, hits, chunk, ctx) for rs, first in zip(sets, firsts, strict=True)]

    for batches in _in_threads(score_chunk, len(prepared.bounds) - 1):
        yield from batches


def _in_threads(work: Callable[[int], _T], count: int) -> Iterator[_T]:
    """``work(0)``, ``work(1)``, ... run on :data:`THREADS` threads (numpy and Arrow release the GIL), yielded in
    order, at most one chunk per thread ahead of the consumer (so memory stays bounded)."""
    if THREADS == 1 or count < 2:
        yield from (work(k) for k in range(count))
        return
    with ThreadPoolExecutor(THREADS, thread_name_prefix="fb-score") as pool:
        pending: deque[Future[_T]] = deque()
        for k in range(count):
            pending.append(pool.submit(work, k))
            if len(pending) >= THREADS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def score_tables(
    playbook: Playbook,
    leads: pa.Table,
    events: pa.Table,
    as_of: datetime,
    con: Any | None = None,
    *,
    explain: bool = True,
) -> pa.Table:
    """Score Arrow lead/event tables into one table ordered by contact and group."""
    batches = list(score_batches(playbook, leads, events, as_of, con, explain=explain))
    if not batches:
        return OUTPUT_SCHEMA.empty_table()
    return pa.Table.from_batches(batches).sort_by([("contact_id", "ascending"), ("score_group", "ascending")])
