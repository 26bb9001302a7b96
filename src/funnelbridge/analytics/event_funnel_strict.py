"""Strict event funnels: PostHog's step slots, computed stage by stage over each person's events.

PostHog's UDF keeps one slot per step (the newest attempt that reached it). In strict order every event processed
on its own clears each slot it does not match, so the slots after an event depend only on the slots before it and
on the event; a mixed same-instant group clears nothing and takes its (event, step) pairs in step order. Written
per step k, over the person's *units* (an event processed on its own, or a whole mixed group), in stream order:

- slot k survives a unit that matches step k or is mixed, and is emptied by any other unit, so the units that keep
  it form *runs* (consecutive units);
- at a unit of a run, the *candidate* is slot k−1 before it (after it, for a mixed group: the group's step-(k−1)
  pairs come first), when that attempt is inside its window (and, in a mixed group, has an event of the group left
  that matches step k: one event never fills two steps of an attempt);
- the candidate is written into slot k unless slot k already holds the same attempt (same opening time). Openings
  of the candidates never decrease along the stream (by induction from step 1), so slot k holds, at each unit of a
  run, the first candidate of the run with the largest opening seen so far: a running maximum, and the *writes*
  are the units where it grows.

The attempt that counts is PostHog's ``max_step``: the first write (in stream order) at the furthest step written;
with exclusions, the first such write that PostHog does not mark excluded (:func:`_flagged`; only for exclusions
that never name a step's event, :func:`handles` — the others keep the per-attempt rules).
Each stage is a few windows over the units that keep slot k and one equi-join to the previous stage, so the cost
grows linearly with the steps, and an attempt can hold and retake several steps at once, as in PostHog.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.event_funnel_attempts import Keep, identity
from funnelbridge.analytics.event_funnel_holders import active_exclusions
from funnelbridge.analytics.event_funnel_prepare import excl_flag, step_flag
from funnelbridge.analytics.event_funnel_spec import FunnelSpec

__all__ = ["handles", "strict_counted"]

_I64 = "int64"


def _t(k: int) -> str:
    return f"t{k}"


def _u(k: int) -> str:
    return f"u{k}"


def _null() -> ir.Value:
    return ibis.null().cast(_I64)


def _shared(spec: FunnelSpec, k: int) -> list[int]:
    """Earlier steps whose event step k could reuse inside a mixed group (same event name)."""
    return [j for j in range(1, k) if spec.steps[j - 1].event == spec.steps[k - 1].event]


def _carried(spec: FunnelSpec) -> set[int]:
    """Steps whose event (stream position) a later step must not reuse."""
    return {j for k in range(1, len(spec.steps) + 1) for j in _shared(spec, k)}


def _ordered(ev: ir.Table) -> ir.Table:
    """``ev`` with ``o``: the event's position in the person's stream (``us, sig, bk``, as the reference)."""
    if "seq" in ev.columns:
        return ev.mutate(o=ev.seq.cast(_I64))
    by_person = ibis.window(group_by=ev.pid, order_by=[ev.us, ev.sig, ev.bk])
    return ev.mutate(o=ibis.row_number().over(by_person).cast(_I64))


def _units(ev: ir.Table, spec: FunnelSpec) -> ir.Table:
    """``pid, us, r, re, mixed, bk, m1..mN, x1..xJ``: one row per unit that matches a step or an exclusion or is a
    mixed group; ``r..re`` are the stream positions it covers (units are consecutive when one starts where the other
    ended + 1). A mixed group's exclusion flags are false: PostHog ignores exclusions there."""
    flags = [step_flag(k) for k in range(1, len(spec.steps) + 1)]
    xs = [excl_flag(j) for j in range(1, len(spec.exclusions) + 1)]
    single = ev.filter(~ev.mixed & (ev.sig != 0))
    one = {"pid": single.pid, "us": single.us, **{f: single[f] for f in (*flags, *xs)}, "r": single.o,
           "re": single.o, "mixed": ibis.literal(False), "bk": single.bk}  # fmt: skip
    grouped = ev.filter(ev.mixed)
    groups = grouped.group_by(["pid", "us"]).aggregate(
        r=grouped.o.min(), re=grouped.o.max(), **{f: grouped[f].max() for f in flags}
    )
    many = {"pid": groups.pid, "us": groups.us, **{f: groups[f] for f in flags}, **{x: ibis.literal(False) for x in xs},
            "r": groups.r, "re": groups.re, "mixed": ibis.literal(True), "bk": ibis.literal("")}  # fmt: skip
    single, groups = single.select(**one), groups.select(**many)
    return ibis.union(single, groups, distinct=False)


def _group_events(ev: ir.Table, k: int) -> ir.Table:
    """``g_pid, g_us, g_o, g_bk``: the step-k events of mixed groups."""
    hits = ev.filter(ev.mixed & ev[step_flag(k)])
    return hits.select(g_pid=hits.pid, g_us=hits.us, g_o=hits.o, g_bk=hits.bk)


def _first_in_group(cand: ir.Table, ev: ir.Table, spec: FunnelSpec, k: int) -> ir.Table:
    """``x_pid, x_r, x_o, x_bk``: for each mixed-group candidate, the group's first step-k event that its attempt
    has not used (absent: none left)."""
    events = _group_events(ev, k)
    mixed = cand.filter(cand.mixed)
    preds = [mixed.pid == events.g_pid, mixed.us == events.g_us]
    preds += [events.g_o != mixed[_u(j)].fill_null(-1) for j in _shared(spec, k)]
    joined = mixed.join(events, preds)
    order = ibis.window(group_by=[joined.pid, joined.r], order_by=joined.g_o)
    ranked = joined.mutate(_rn=ibis.row_number().over(order))
    first = ranked.filter(ranked._rn == 0)
    return first.select(x_pid=first.pid, x_r=first.r, x_o=first.g_o, x_bk=first.g_bk)


def _candidates(units: ir.Table, ev: ir.Table, prev: ir.Table | None, spec: FunnelSpec, k: int, keep: Keep) -> ir.Table:
    """The units that keep slot k with their candidate: ``pid, us, r, re, mixed, ok`` (a candidate exists, inside
    its window, with an unused event), ``s`` (its opening), ``bk``, ``t1..tk``, ``u*`` (carried positions)."""
    kept = units.filter(units[step_flag(k)] | units.mixed)
    kept = kept.select("pid", "us", "r", "re", "mixed", "bk", _m=kept[step_flag(k)])
    carried = sorted(j for j in _carried(spec) if j < k)
    if prev is None:  # step 1: every step-k unit opens an attempt at its own instant
        cand = kept.mutate(s=kept.us)
    else:
        key = kept.mixed.ifelse(kept.re, kept.r - 1)  # slot k-1 before the unit (mixed: after its step-(k-1) pairs)
        state = {**{_t(j): prev[_t(j)] for j in range(1, k)}, **{_u(j): prev[_u(j)] for j in carried}}
        look = prev.select(p_pid=prev.pid, p_re=prev.re, s=prev.s, p_bk=prev.bk, **state)
        joined = kept.left_join(look, [kept.pid == look.p_pid, key == look.p_re])
        cand = joined.mutate(bk=joined.p_bk).drop("p_pid", "p_re", "p_bk")
    if not (_shared(spec, k) or k in _carried(spec) or (k == 1 and spec.breakdown)):  # any step-k event will do
        chosen = {"_x": ibis.literal(True)}
    else:
        first = keep(_first_in_group(cand, ev, spec, k))
        cand = cand.left_join(first, [cand.pid == first.x_pid, cand.r == first.x_r]).drop("x_pid", "x_r")
        chosen = {"_x": ~cand.mixed | cand.x_o.notnull()}
        if k == 1:
            chosen["bk"] = cand.mixed.ifelse(cand.x_bk, cand.bk)
        if k in _carried(spec):
            chosen[_u(k)] = cand.mixed.ifelse(cand.x_o, cand.r)
    cand = cand.mutate(**chosen)
    ok = cand._m & cand.s.notnull() & (cand.us - cand.s <= spec.window_us) & cand._x
    keep_cols = [*(_t(j) for j in range(1, k)), *(_u(j) for j in [*carried, *([k] if k in _carried(spec) else [])])]
    return cand.select("pid", "us", "r", "re", "mixed", "s", "bk", *keep_cols, ok=ok, **{_t(k): cand.us})


def _stage(cand: ir.Table, k: int, keep: Keep) -> tuple[ir.Table, ir.Table]:
    """``(writes, slot)``: the units where an attempt was written into slot k (``pid, r, s, bk, t1..tk, u*``) and
    slot k after each unit that keeps it (``pid, re`` + the state written last in its run)."""
    by_person = ibis.window(group_by=cand.pid, order_by=cand.r)
    cand = cand.mutate(_brk=(cand.r != cand.re.lag().over(by_person) + 1).fill_null(True))
    runs = ibis.cumulative_window(group_by=cand.pid, order_by=cand.r)
    cand = keep(cand.mutate(run=cand._brk.ifelse(1, 0).sum().over(runs).cast(_I64)))
    in_run = ibis.cumulative_window(group_by=[cand.pid, cand.run], order_by=cand.r)
    cand = cand.mutate(cs=cand.ok.ifelse(cand.s, _null()).max().over(in_run))
    before = ibis.window(group_by=[cand.pid, cand.run], order_by=cand.r)
    cand = keep(cand.mutate(pcs=cand.cs.lag().over(before)))
    state = [c for c in cand.columns if c == "bk" or (c[0] in "tu" and c[1:].isdigit())]
    writes = cand.filter(cand.ok & (cand.pcs.isnull() | (cand.pcs != cand.s)))
    writes = keep(writes.select("pid", "r", "run", "s", *state))
    held = cand.filter(cand.cs.notnull()).select(h_pid=cand.pid, h_re=cand.re, h_run=cand.run, h_s=cand.cs)
    joined = held.join(writes, [held.h_pid == writes.pid, held.h_run == writes.run, held.h_s == writes.s])
    slot = joined.select(pid=joined.h_pid, re=joined.h_re, s=joined.h_s, **{c: joined[c] for c in state})
    return writes, keep(slot)


def handles(spec: FunnelSpec) -> bool:
    """Strict funnels whose exclusions (if any) never name a step's event. Then an exclusion event empties every
    slot it hits (it matches no step), so PostHog's exclusion marks never stay on a slot: they only reach
    ``max_step`` (:func:`_flagged`)."""
    names = {s.event for s in spec.steps}
    return all(e.step.event not in names for e in spec.exclusions)


def _flagged(writes: ir.Table, slot: ir.Table, units: ir.Table, spec: FunnelSpec, k: int) -> ir.Table:
    """``writes`` of step k with ``flagged``: PostHog would mark the attempt excluded while it is ``max_step``.

    An exclusion event active at step k, processed on its own, hits the attempt in slot k just before it (inside
    that attempt's window) and marks ``max_step`` when that is at step k and the event is inside its window. Openings
    of the writes and times of the hits never decrease, so a write at the furthest step is marked iff the first
    hit after it is inside its window; a marked ``max_step`` is replaced by the next write at that step, so the
    attempt that counts is the first write not marked (none: the person is dropped)."""
    active = active_exclusions(spec, k)
    if not active:
        return writes.mutate(flagged=ibis.literal(0, type=_I64))
    hit = units.filter(ibis.or_(*[units[excl_flag(j)] for j in active]) & ~units.mixed)
    hit = hit.select(x_pid=hit.pid, x_us=hit.us, x_key=hit.r - 1, x_r=hit.r)
    held = slot.select(h_pid=slot.pid, h_re=slot.re, h_s=slot.s)
    marks = hit.join(held, [hit.x_pid == held.h_pid, hit.x_key == held.h_re])
    marks = marks.filter(marks.x_us - marks.h_s <= spec.window_us).select("x_pid", "x_us", "x_r")
    keys = writes.select(w_pid=writes.pid, w_r=writes.r)
    after = keys.join(marks, [keys.w_pid == marks.x_pid, marks.x_r > keys.w_r])
    first = after.group_by(["w_pid", "w_r"]).aggregate(x_first=after.x_us.min())
    merged = writes.left_join(first, [writes.pid == first.w_pid, writes.r == first.w_r])
    flagged = (merged.x_first.notnull() & (merged.x_first - merged.s <= spec.window_us)).ifelse(1, 0)
    return merged.mutate(flagged=flagged.cast(_I64)).drop("w_pid", "w_r", "x_first")


def strict_counted(ev: ir.Table, spec: FunnelSpec, keep: Keep = identity) -> ir.Table:
    """One row per counted person, ``pid, bk, reach, t1..tN``, for a strict funnel that :func:`handles` takes."""
    n = len(spec.steps)
    ev = keep(_ordered(ev))
    units = keep(_units(ev, spec))
    slot: ir.Table | None = None
    records = []
    for k in range(1, n + 1):
        writes, slot = _stage(keep(_candidates(units, ev, slot, spec, k, keep)), k, keep)
        if spec.exclusions:
            writes = keep(_flagged(writes, slot, units, spec, k))
        times = {_t(j): (writes[_t(j)] if j <= k else _null()) for j in range(1, n + 1)}
        flagged = {"flagged": writes.flagged.cast(_I64)} if spec.exclusions else {}  # Spark reads literals as int32
        records.append(writes.select("pid", "r", "bk", reach=ibis.literal(k, type=_I64), **times, **flagged))
    long = ibis.union(*records, distinct=False) if n > 1 else records[0]
    first = [long.flagged] if spec.exclusions else []
    order = ibis.window(group_by=long.pid, order_by=[ibis.desc(long.reach), *first, long.r])
    ranked = long.mutate(_rn=ibis.row_number().over(order))
    chosen = ranked.filter((ranked._rn == 0) & ((ranked.flagged == 0) if spec.exclusions else ibis.literal(True)))
    return chosen.select("pid", "bk", "reach", *[_t(j) for j in range(1, n + 1)])
