"""The incremental scorer's per-lead state as JSON data, stored in ``scores.state`` of the main row.

Format 2 (``"f": 2``) is sparse: only the event rules that have a state and the ``events.*`` aggregates that
counted an event are written, each with its position — most rules of most leads never matched, and the state is
written and read for every lead the activity flow scores. Format 1 (every rule and aggregate, by position; no
``"f"``) is still read, so stored states need no migration. Exact either way: times are integer microseconds and
floats round-trip through JSON.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from funnelbridge.scoring.incremental import IncrementalScorer, LeadState, RuleState

__all__ = ["FORMAT", "dump_state", "load_state"]

FORMAT = 2


def dump_state(state: LeadState) -> dict[str, Any]:
    """The state as plain JSON data (format 2)."""
    rules = []
    for g, (group, active) in enumerate(zip(state.rules, state.active, strict=True)):
        for i in active:
            rs = group[i]
            assert rs is not None  # active rules have a state
            live = [list(x) for x in rs.live] if rs.live else []
            rules.append([g, i, rs.done, rs.day, rs.day_n, rs.n, rs.raw, rs.s, rs.anchor, live])
    aggregates = [[k, a.n, a.newest, list(a.times)] for k, a in enumerate(state.aggregates) if a.n]
    return {"f": FORMAT, "v": state.version, "t": state.last_us, "n": state.events, "w": state.watermark,
            "r": rules, "a": aggregates}  # fmt: skip


def _rule(values: list[Any]) -> RuleState:
    rs = RuleState()
    rs.done, rs.day, rs.day_n, rs.n, raw, s, rs.anchor, live = values
    rs.raw, rs.s = float(raw), float(s)
    if live:
        rs.live = deque((int(t), float(p)) for t, p in live)
    return rs


def load_state(scorer: IncrementalScorer, data: Mapping[str, Any] | None) -> LeadState | None:
    """The stored state, or None when there is none, it is of another playbook version or it does not fit."""
    try:
        if data is None or data["v"] != scorer.version:
            return None
        state = scorer.new_state()
        fits = _load_sparse(state, data) if data.get("f") == FORMAT else _load_dense(state, data)
        if not fits:
            return None
        state.last_us, state.events, state.watermark = data["t"], int(data["n"]), int(data["w"])
        return state
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None


def _load_sparse(state: LeadState, data: Mapping[str, Any]) -> bool:
    for g, i, *values in data["r"]:
        if g < 0 or i < 0:
            return False
        group = state.rules[g]
        if group[i] is not None:  # twice
            return False
        group[i] = _rule(values)
        state.active[g].append(i)
    for active in state.active:
        active.sort()
    for k, n, newest, times in data["a"]:
        if k < 0:
            return False
        agg = state.aggregates[k]
        agg.n, agg.newest = int(n), newest
        if times:
            agg.times = deque(int(t) for t in times)
    return True


def _load_dense(state: LeadState, data: Mapping[str, Any]) -> bool:
    """Format 1: every rule (None: no state) per group and every aggregate, by position."""
    groups, aggregates = data["r"], data["a"]
    if len(groups) != len(state.rules) or len(aggregates) != len(state.aggregates):
        return False
    for g, (group, stored) in enumerate(zip(state.rules, groups, strict=True)):
        if len(stored) != len(group):
            return False
        for i, values in enumerate(stored):
            if values is not None:
                group[i] = _rule(values)
                state.active[g].append(i)
    for agg, (n, newest, times) in zip(state.aggregates, aggregates, strict=True):
        agg.n, agg.newest = int(n), newest
        if times:
            agg.times = deque(int(t) for t in times)
    return True
