"""Event rules of the batch scorer as vector math over Arrow/numpy columns (no per-event Python, no SQL joins).

1. **Match once per distinct value.** Which rules an event matches depends only on its ``type`` and the event
   fields the rules' ``where`` filters read. Every event gets a code for that combination of values; the distinct
   combinations (a few hundred in practice) form a small table on which each rule's condition is evaluated by the
   Ibis compiler (:func:`funnelbridge.rules.ibis.compile_event_condition`) on DuckDB. Per event, a rule then
   matches when its look-up table says so for the event's code — one gather instead of string tests per event.
2. **Chunks of leads.** Events are mapped to their lead's position in the lead table and ordered by chunk of
   leads (a radix sort on the chunk number), so each chunk is scored from a contiguous slice and memory stays
   bounded whatever the input size.
3. **Per rule, per chunk**: the same arithmetic as :mod:`funnelbridge.scoring.rules_engine` — only the earliest
   event of non-repeatable rules, per-day caps by rank within each lead's local day (playbook time zone),
   expiry, decay ``0.5 ** (age / half_life)``, sums per lead (``bincount``) and the total cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelbridge.rules.ast import Node, leaves
from funnelbridge.rules.ibis import compile_event_condition
from funnelbridge.scoring.ruleset import EventRule

__all__ = [
    "Matcher",
    "PreparedEvents",
    "RuleHits",
    "lead_positions",
    "micros",
    "prepare_events",
    "rule_hits",
    "run_arrow",
]

US_PER_DAY = 86_400_000_000
_NEVER = np.iinfo(np.int64).max
_DENSE_LIMIT = 1 << 20  # largest code space scattered into directly; larger ones are made dense with np.unique
TS = pa.timestamp("us", tz="UTC")
Matcher = tuple[str | None, Node | None]
"""What an event must be to count: its type (None: any) and a condition on its fields."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(when: datetime) -> int:
    """Microseconds since the epoch, exactly (an aware time)."""
    return (when - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class PreparedEvents:
    """The events that can score, ordered by chunk of leads: lead position, time (µs, UTC), combination code."""

    pos: np.ndarray
    at: np.ndarray
    code: np.ndarray
    masks: np.ndarray  # bool [rule, code]: does the rule match events of this combination
    bounds: np.ndarray  # chunk k is the slice bounds[k]:bounds[k + 1]


@dataclass(frozen=True)
class RuleHits:
    """One event rule's result for the leads of a chunk that have at least one counted event."""

    rows: np.ndarray  # positions within the chunk, ascending
    points: np.ndarray  # after decay and the total cap
    raw: np.ndarray  # earned before decay and cap
    events: np.ndarray  # matching events counted
    expires_at: np.ndarray | None  # µs: earliest earning event + expiry (expiry rules; _NEVER when none earned)


def lead_positions(lead_ids: np.ndarray, event_ids: np.ndarray) -> np.ndarray:
    """The row of each event's lead in the lead table; -1 for events of contacts not in it."""
    if lead_ids.size == 0:
        return np.full(event_ids.size, -1, np.int64)
    lo, hi = int(lead_ids.min()), int(lead_ids.max())
    if hi - lo < 4 * lead_ids.size + 1_000_000:  # dense ids (the store's): a direct look-up table
        table = np.full(hi - lo + 2, -1, np.int32 if lead_ids.size < 1 << 31 else np.int64)
        table[lead_ids - lo] = np.arange(lead_ids.size)
        found: np.ndarray = table[np.clip(event_ids - lo, -1, hi - lo + 1)]
        return found
    order = np.argsort(lead_ids, kind="stable")
    ranked = lead_ids[order]
    at = np.minimum(np.searchsorted(ranked, event_ids), ranked.size - 1)
    return np.where(ranked[at] == event_ids, order[at], -1)


def _encode(column: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """Dictionary indices of a column (nulls → an extra last index) and the number of distinct indices."""
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    column = column.unify_dictionaries()
    size = len(column.chunk(0).dictionary) if column.num_chunks else 0
    parts = [(pc.fill_null(c.indices, size) if c.null_count else c.indices).to_numpy() for c in column.chunks]
    return (np.concatenate(parts) if parts else np.zeros(0, np.int64)), size + 1


def run_arrow(con: Any, expr: ir.Table) -> pa.Table:
    """Run an Ibis expression on the DuckDB backend ``con`` straight into an Arrow table (the SQL compiled by Ibis;
    Ibis's own ``to_pyarrow`` costs several times the query on a million rows)."""
    con._run_pre_execute_hooks(expr)  # registers memtables
    return con.con.sql(str(con.compile(expr))).to_arrow_table()


def _filled(column: pa.ChunkedArray, value: int) -> np.ndarray:
    filled: np.ndarray = (pc.fill_null(column, value) if column.null_count else column).to_numpy()
    return filled


def _combination_codes(events: pa.Table, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A dense-enough code per event for its values in ``columns``, and one representative event row per code
    (-1 for codes no event has)."""
    code, space = np.zeros(events.num_rows, np.int64), 1
    for name in columns:
        idx, size = _encode(events.column(name))
        code *= size
        code += idx
        space *= size
        if space > _DENSE_LIMIT:
            uniq, code = np.unique(code, return_inverse=True)
            space = uniq.size
    rep = np.full(space, -1, np.int32)
    rep[code] = np.arange(code.size, dtype=np.int32)  # any occurrence will do: equal codes are equal values
    return code.astype(np.int32), rep


def _where_fields(matchers: Sequence[Matcher]) -> list[str]:
    fields = {leaf.field for _, where in matchers for leaf in leaves(where, into_where=True)}
    return ["type", *sorted(fields - {"type"})]


def _matcher_masks(con: Any, combos: pa.Table, matchers: Sequence[Matcher]) -> np.ndarray:
    """bool [matcher, combination]: the Ibis compiler's answer for every distinct combination, run on DuckDB."""
    plain = pa.table({n: c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
                      for n, c in zip(combos.column_names, combos.columns, strict=True)})  # fmt: skip
    t = ibis.memtable(plain.append_column("_row", pa.array(np.arange(plain.num_rows))))
    tests = {}
    for i, (event, where) in enumerate(matchers):
        test = t.type == event if event is not None else ibis.literal(True)
        if where is not None:
            test &= compile_event_condition(t, where)
        tests[f"m{i}"] = test.fill_null(False)
    out = run_arrow(con, t.select("_row", **tests))
    rows = out.column("_row").to_numpy()
    masks = np.zeros((len(matchers), plain.num_rows), bool)
    for i in range(len(matchers)):
        masks[i, rows] = out.column(f"m{i}").to_numpy(zero_copy_only=False)
    return masks


def _chunk_order(pos: np.ndarray, keep: np.ndarray, leads: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """The kept events ordered by chunk of leads (a radix sort on the chunk number), and the chunk bounds."""
    chunks = max(1, -(-leads // chunk))
    part = np.where(keep, pos // chunk, chunks).astype(np.int16 if chunks < (1 << 15) - 1 else np.int32)
    counts = np.bincount(part, minlength=chunks + 1)
    order = np.argsort(part, kind="stable")[: counts[:chunks].sum()]  # int16 keys: numpy radix-sorts
    return order, np.concatenate([[0], np.cumsum(counts[:chunks])])


def prepare_events(
    con: Any, events: pa.Table, lead_ids: np.ndarray, matchers: Sequence[Matcher], as_of: datetime, chunk: int
) -> PreparedEvents:
    """Code, match and order the events that can count (of a known lead, up to ``as_of``, matching some matcher:
    an event rule's or an ``events.*`` aggregate's ``(event type or None, where)``)."""
    fields = _where_fields(matchers)
    code, rep = _combination_codes(events, fields)
    present = np.flatnonzero(rep >= 0)
    masks = np.zeros((len(matchers), rep.size), bool)
    if present.size and matchers:
        masks[:, present] = _matcher_masks(con, events.select(fields).take(pa.array(rep[present])), matchers)
    at = _filled(events.column("occurred_at").cast(TS).cast(pa.int64()), _NEVER)
    pos = lead_positions(np.asarray(lead_ids), _filled(events.column("contact_id"), -1))
    keep: np.ndarray = pos >= 0
    keep &= at <= micros(as_of)
    matchable = np.any(masks, axis=0)
    keep &= matchable[code]
    order, bounds = _chunk_order(pos, keep, len(lead_ids), chunk)
    del keep
    return PreparedEvents(pos[order], at[order], code[order], masks, bounds)


def _daily(rule: EventRule, pos: np.ndarray, at: np.ndarray, tz: str) -> tuple[np.ndarray, ...]:
    """Events in (lead, time) order and what each earns under the per-day cap of its local calendar day."""
    order = np.lexsort((at, pos))
    pos, at = pos[order], at[order]
    local = pc.local_timestamp(pa.array(at, pa.timestamp("us", tz=tz))).cast(pa.int64()).to_numpy()
    day = local // US_PER_DAY
    first = np.ones(pos.size, bool)
    first[1:] = (pos[1:] != pos[:-1]) | (day[1:] != day[:-1])
    index = np.arange(pos.size)
    rank = index - np.maximum.accumulate(np.where(first, index, 0))
    size = abs(rule.points)
    assert rule.per_day is not None
    earned = np.copysign(np.minimum(size, np.maximum(0.0, rule.per_day - rank * size)), rule.points)
    return pos, at, earned


def _earliest(pos: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
    first = np.full(n, _NEVER, np.int64)
    np.minimum.at(first, pos, at)
    return first


def _earned(rule: EventRule, pos: np.ndarray, at: np.ndarray, n: int, tz: str) -> tuple[np.ndarray, ...]:
    if not rule.repeatable:  # only the earliest matching event of each lead
        first = _earliest(pos, at, n)
        pos = np.flatnonzero(first != _NEVER)
        at = first[pos]
        once = rule.points if rule.per_day is None else np.copysign(min(abs(rule.points), rule.per_day), rule.points)
        return pos, at, np.full(pos.size, once)
    if rule.per_day is not None:
        return _daily(rule, pos, at, tz)
    return pos, at, np.full(pos.size, rule.points)


def rule_hits(
    rule: EventRule, pos: np.ndarray, at: np.ndarray, n: int, as_of_us: int, tz: str, *, explain: bool
) -> RuleHits | None:
    """Score one rule for a chunk of ``n`` leads from its matching events (chunk positions, times in µs)."""
    pos, at, earned = _earned(rule, pos, at, n, tz)
    age = (as_of_us - at) / US_PER_DAY
    if rule.expires_days is not None:
        kept = age <= rule.expires_days
        pos, at, earned, age = pos[kept], at[kept], earned[kept], age[kept]
    counts = np.bincount(pos, minlength=n)
    rows = np.flatnonzero(counts)
    if rows.size == 0:
        return None
    value = earned if rule.half_life_days is None else earned * np.power(0.5, age / rule.half_life_days)
    total = np.bincount(pos, weights=value, minlength=n)[rows]
    if rule.total is not None:
        total = np.where(np.abs(total) <= rule.total, total, np.copysign(rule.total, total))
    raw = np.bincount(pos, weights=earned, minlength=n)[rows]
    expires_at = None
    if explain and rule.expires_days is not None:
        paid = earned != 0
        first = _earliest(pos[paid], at[paid], n)[rows]
        step = round(rule.expires_days * US_PER_DAY)
        expires_at = np.where(first == _NEVER, _NEVER, first + step)
    return RuleHits(rows, total, raw, counts[rows], expires_at)
