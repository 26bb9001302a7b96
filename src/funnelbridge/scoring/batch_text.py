"""The explanation JSON of the batch scorer, built with numpy and Arrow kernels (no per-row Python).

Per rule, the items of the leads it gave points to are assembled column-wise (``binary_join_element_wise`` of
constant text and number columns); each item carries its own separator: ``[`` before a lead's first item,
``, `` before the others, ``]`` after its last one (a lead without items gets ``[]``). The items of all rules
are then put in lead order, rule order within a lead (one ``take``), and each lead's explanation is a slice of
that text — new offsets over the same data buffer, no further copy.

The items, keys and values are those of :meth:`funnelbridge.scoring.results.GroupScore.explanation_json` (the
incremental path); numbers are printed with up to nine decimals (the stored scores keep full precision) and
times in ``datetime.isoformat`` form.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelbridge.scoring.batch_events import RuleHits
from funnelbridge.scoring.ruleset import AttributeRule, EventRule

__all__ = ["empty_explanations", "explanations", "iso_texts", "number_texts"]

_NEVER = np.iinfo(np.int64).max
_DIGITS = 10**9
_EXPIRY = ', "expires_at": "'


def _head(rule_name: str, kind: str) -> str:
    return json.dumps({"rule": rule_name, "kind": kind})[:-1]  # '{"rule": ..., "kind": ...' (open)


def _strings(data: np.ndarray, lengths: np.ndarray) -> pa.Array:
    offsets = np.zeros(lengths.size + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.StringArray.from_buffers(lengths.size, pa.py_buffer(offsets), pa.py_buffer(data))


def _marked(values: np.ndarray) -> pa.Array:
    """Decimal text of positive integers whose leading digit (a marker 1) is replaced by a decimal point."""
    text = pc.cast(pa.array(values), pa.string())
    offsets = np.frombuffer(text.buffers()[1], np.int32, len(text) + 1, text.offset * 4)
    data = np.frombuffer(text.buffers()[2], np.uint8).copy()
    data[offsets[:-1]] = ord(".")
    return pa.StringArray.from_buffers(len(text), text.buffers()[1], pa.py_buffer(data), offset=text.offset)


def number_texts(values: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Magnitudes of ``values`` as JSON number text in two parts, integer digits and ``.fraction`` (``3`` ``.25``,
    ``10`` ``.0``), rounded to nine decimals; the sign is the caller's (a rule's points all share one sign)."""
    size = np.abs(values)
    if size.size and not (np.isfinite(size).all() and size.max() < 1e9):
        text = pc.cast(pa.array(size), pa.string())  # out of the fast path's range: Arrow's shortest form
        return text, pa.array(np.full(size.size, "", object), pa.string())
    whole, frac = np.divmod(np.rint(size * _DIGITS).astype(np.int64), _DIGITS)
    width = np.where(frac == 0, 1, 9)
    zeros = np.flatnonzero((frac != 0) & (frac % 10 == 0))  # drop trailing zeros (rare once points decay)
    while zeros.size:
        frac[zeros] //= 10
        width[zeros] -= 1
        zeros = zeros[frac[zeros] % 10 == 0]
    return pc.cast(pa.array(whole), pa.string()), _marked(10**width + frac)


def iso_texts(micros: np.ndarray) -> pa.Array:
    """``, "expires_at": "<isoformat>"`` per UTC time in µs (microseconds only when not zero), '' for _NEVER."""
    valid = micros != _NEVER
    us = np.where(valid, micros, 0)
    day = (us // 86_400_000_000).astype("datetime64[D]")
    secs = (us // 1_000_000) % 86_400
    fields = [
        (day.astype("datetime64[Y]").astype(np.int64) + 1970, 4, "-"),
        (day.astype("datetime64[M]").astype(np.int64) % 12 + 1, 2, "-"),
        ((day - day.astype("datetime64[M]")).astype(np.int64) + 1, 2, "T"),
        (secs // 3600, 2, ":"),
        (secs // 60 % 60, 2, ":"),
        (secs % 60, 2, "."),
        (us % 1_000_000, 6, "+"),
    ]
    head = np.frombuffer(_EXPIRY.encode(), np.uint8)
    cols = [np.broadcast_to(head, (us.size, head.size))]
    for value, digits, sep in fields:
        for k in range(digits - 1, -1, -1):
            cols.append((value // 10**k % 10 + 48).astype(np.uint8)[:, None])
        cols.append(np.full((us.size, 1), ord(sep), np.uint8))
    cols.append(np.broadcast_to(np.frombuffer(b'00:00"', np.uint8), (us.size, 6)))
    matrix = np.hstack(cols)
    keep = np.broadcast_to(valid[:, None], matrix.shape).copy()
    no_frac = valid & (us % 1_000_000 == 0)
    dot = head.size + 19
    keep[no_frac, dot : dot + 7] = False  # '.ffffff' only when there are microseconds
    return _strings(matrix[keep], keep.sum(axis=1))


def _affixes(rank: np.ndarray, last: np.ndarray) -> tuple[pa.Array, pa.Array]:
    prefix = pc.take(pa.array([", ", "["]), pa.array((rank == 0).astype(np.int8)))
    suffix = pc.take(pa.array(["", "]"]), pa.array(last.astype(np.int8)))
    return prefix, suffix


def _attribute_items(rule: AttributeRule, rank: np.ndarray, last: np.ndarray) -> pa.Array:
    item = f'{_head(rule.name, rule.kind)}, "points": {json.dumps(rule.points)}}}'
    variants = pa.array([", " + item, "[" + item, ", " + item + "]", "[" + item + "]"])
    return pc.take(variants, pa.array(((rank == 0) + 2 * last).astype(np.int8)))


def _event_items(rule: EventRule, hits: RuleHits, as_of: datetime, rank: np.ndarray, last: np.ndarray) -> pa.Array:
    sign = "-" if rule.points < 0 else ""
    tail = "}"
    if rule.half_life_days is not None:
        halves = (as_of + timedelta(days=rule.half_life_days)).isoformat()
        tail = f', "half_life_days": {json.dumps(rule.half_life_days)}, "halves_at": "{halves}"' + tail
    prefix, suffix = _affixes(rank, last)
    points, raw = number_texts(hits.points), number_texts(hits.raw)
    parts: list[pa.Array | str] = [
        prefix, f'{_head(rule.name, rule.kind)}, "points": {sign}', *points, f', "raw_points": {sign}', *raw,
        ', "events": ', pc.cast(pa.array(hits.events), pa.string()),
    ]  # fmt: skip
    if hits.expires_at is not None:
        parts.append(iso_texts(hits.expires_at))
    parts += [tail, suffix]
    return pc.binary_join_element_wise(*parts, "")


def explanations(
    attribute_rules: Sequence[AttributeRule],
    attribute_hits: Sequence[np.ndarray],
    event_rules: Sequence[EventRule],
    event_hits: Sequence[RuleHits | None],
    as_of: datetime,
    n: int,
) -> pa.Array:
    """Per lead of a chunk of ``n``, the JSON list of its items in rule order (attribute rules, then event rules)."""
    rows = [np.flatnonzero(h) for h in attribute_hits] + [
        h.rows if h is not None else np.zeros(0, np.int64) for h in event_hits
    ]
    present = np.zeros((len(rows) + 1, n), bool)
    for r, idx in enumerate(rows):
        present[r, idx] = True
    present[-1] = ~present[:-1].any(axis=0)  # leads without items: '[]'
    rank = np.cumsum(present, axis=0, dtype=np.int32) - 1
    count = rank[-1] + 1
    start = np.zeros(n + 1, np.int64)
    np.cumsum(count, out=start[1:])
    texts, dest = [], []
    for r, idx in enumerate(rows):
        if idx.size == 0:
            continue
        ranks, last = rank[r, idx], rank[r, idx] == count[idx] - 1
        if r < len(attribute_rules):
            texts.append(_attribute_items(attribute_rules[r], ranks, last))
        else:
            hits = event_hits[r - len(attribute_rules)]
            assert hits is not None
            texts.append(_event_items(event_rules[r - len(attribute_rules)], hits, as_of, ranks, last))
        dest.append(start[idx] + ranks)
    empty = np.flatnonzero(present[-1])
    texts.append(pc.take(pa.array(["[]"]), pa.array(np.zeros(empty.size, np.int8))))
    dest.append(start[empty])
    order = np.empty(int(start[-1]), np.int64)
    order[np.concatenate(dest)] = np.arange(order.size)
    items = pa.concat_arrays(texts).take(pa.array(order))
    offsets = np.frombuffer(items.buffers()[1], np.int32, len(items) + 1, items.offset * 4)[start]
    return pa.StringArray.from_buffers(n, pa.py_buffer(np.ascontiguousarray(offsets)), items.buffers()[2])


def empty_explanations(n: int) -> pa.Array:
    """``[]`` for each of ``n`` leads (scoring without explanations)."""
    return pc.take(pa.array(["[]"]), pa.array(np.zeros(n, np.int8)))
