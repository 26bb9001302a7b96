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
with exclusions, the first such write that PostHog does not mark excluded (:func:`_flagged`). When an exclusion
names a step's event (:func:`marked`), an exclusion event can keep the slot it hit, and PostHog's mark stays on it:
a marked candidate is not written (its unit is still a ``max_step`` record, marked), see :func:`_mark_candidates`.
Each stage is a few windows over the units that keep slot k and one equi-join to the previous stage, so the cost
grows linearly with the steps, and an attempt can hold and retake several steps at once, as in PostHog.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.event_funnel_attempts import Keep, identity
from funnelbridge.analytics.event_funnel_holders import active_exclusions, overlaps_steps
from funnelbridge.analytics.event_funnel_prepare import excl_flag, step_flag
from funnelbridge.analytics.event_funnel_spec import FunnelSpec, Order

__all__ = ["handles", "marked", "strict_counted"]

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
    its window, with an unused event), ``s`` (its opening), ``bk``, ``t1..tk``, ``u*`` (carried positions) and, when
    slot k−1 carries marks (:func:`marked`), ``prun``: the run of slot k−1 it comes from."""
    kept = units.filter(units[step_flag(k)] | units.mixed)
    kept = kept.select("pid", "us", "r", "re", "mixed", "bk", _m=kept[step_flag(k)])
    carried = sorted(j for j in _carried(spec) if j < k)
    if prev is None:  # step 1: every step-k unit opens an attempt at its own instant
        cand = kept.mutate(s=kept.us)
    else:
        key = kept.mixed.ifelse(kept.re, kept.r - 1)  # slot k-1 before the unit (mixed: after its step-(k-1) pairs)
        state = {**{_t(j): prev[_t(j)] for j in range(1, k)}, **{_u(j): prev[_u(j)] for j in carried}}
        state.update({"prun": prev.run} if "run" in prev.columns else {})
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
    keep_cols += ["prun"] if "prun" in cand.columns else []
    return cand.select("pid", "us", "r", "re", "mixed", "s", "bk", *keep_cols, ok=ok, **{_t(k): cand.us})


def _runs(cand: ir.Table, keep: Keep) -> ir.Table:
    """``cand`` with ``run``: the units that keep slot k, numbered by run (a run breaks where units are not
    consecutive in the stream)."""
    by_person = ibis.window(group_by=cand.pid, order_by=cand.r)
    cand = cand.mutate(_brk=(cand.r != cand.re.lag().over(by_person) + 1).fill_null(True))
    runs = ibis.cumulative_window(group_by=cand.pid, order_by=cand.r)
    return keep(cand.mutate(run=cand._brk.ifelse(1, 0).sum().over(runs).cast(_I64)))


def _stage(cand: ir.Table, keep: Keep) -> tuple[ir.Table, ir.Table, ir.Table | None]:
    """``(writes, slot, phantoms)`` of ``cand`` (with runs): the units where an attempt was written into slot k
    (``pid, r, run, s, bk, t1..tk, u*``), slot k after each unit that keeps it (``pid, re`` + the state written last
    in its run; ``run`` too when candidates carry marks) and, with marks (``cmk``), the units where a marked
    candidate was not written but became ``max_step`` (PostHog's ``max_step`` takes it, marked; else None)."""
    marked = "cmk" in cand.columns
    fill = (cand.ok & ~cand.cmk) if marked else cand.ok
    in_run = ibis.cumulative_window(group_by=[cand.pid, cand.run], order_by=cand.r)
    cand = cand.mutate(cs=fill.ifelse(cand.s, _null()).max().over(in_run))
    before = ibis.window(group_by=[cand.pid, cand.run], order_by=cand.r)
    cand = keep(cand.mutate(pcs=cand.cs.lag().over(before)))
    state = [c for c in cand.columns if c == "bk" or (c[0] in "tu" and c[1:].isdigit())]
    fresh = cand.pcs.isnull() | (cand.pcs != cand.s)
    writes = cand.filter((cand.ok & ~cand.cmk if marked else cand.ok) & fresh)
    writes = keep(writes.select("pid", "r", "run", "s", *state))
    held = cand.filter(cand.cs.notnull()).select(h_pid=cand.pid, h_re=cand.re, h_run=cand.run, h_s=cand.cs)
    joined = held.join(writes, [held.h_pid == writes.pid, held.h_run == writes.run, held.h_s == writes.s])
    run = {"run": joined.h_run} if marked else {}
    slot = joined.select(pid=joined.h_pid, re=joined.h_re, s=joined.h_s, **run, **{c: joined[c] for c in state})
    if not marked:
        return writes, keep(slot), None
    phantoms = cand.filter(cand.ok & cand.cmk & fresh)
    return writes, keep(slot), phantoms.select("pid", "r", "run", "s", *state)


def marked(spec: FunnelSpec) -> bool:
    """Can a slot carry PostHog's exclusion mark from one unit to the next? Only when an exclusion names a step's
    event: an exclusion event that matches no step empties every slot it hits."""
    return overlaps_steps(spec)


def _hits(units: ir.Table, prev: ir.Table, spec: FunnelSpec, j: int) -> ir.Table:
    """``x_pid, x_r, x_key, h_run, h_s``: exclusion events active at step j, processed on their own, that reach the
    attempt in slot j just before them (inside its window)."""
    active = active_exclusions(spec, j)
    hit = units.filter(ibis.or_(*[units[excl_flag(a)] for a in active]) & ~units.mixed)
    hit = hit.select(x_pid=hit.pid, x_us=hit.us, x_r=hit.r, x_key=hit.r - 1)
    held = prev.select(h_pid=prev.pid, h_re=prev.re, h_s=prev.s, h_run=prev.run)
    on = hit.join(held, [hit.x_pid == held.h_pid, hit.x_key == held.h_re])
    return on.filter(on.x_us - on.h_s <= spec.window_us).select("x_pid", "x_r", "x_key", "h_run", "h_s")


def _mark_candidates(cand: ir.Table, prev: ir.Table | None, units: ir.Table, spec: FunnelSpec, k: int,
                     keep: Keep) -> ir.Table:  # fmt: skip
    """``cand`` (with runs) with ``cmk``: the candidate's attempt is marked in slot k−1 when the unit takes it.

    PostHog's mark stays on the slot it hit: an exclusion event active at step k−1 marks the attempt in slot k−1
    (inside its window) unless slot k holds the same attempt; the mark lasts until another attempt is written into
    slot k−1, and a marked attempt is not written into slot k. Slot k before the hit is taken as if no candidate
    were marked (a running maximum over all candidates): before its first mark, the attempt in slot k−1 is the
    newest candidate and unmarked, so slot k holds it exactly when it was written there in the current run."""
    if prev is None or not active_exclusions(spec, k - 1):
        return cand.mutate(cmk=ibis.literal(False))
    in_run = ibis.cumulative_window(group_by=[cand.pid, cand.run], order_by=cand.r)
    tent = cand.mutate(_ct=cand.ok.ifelse(cand.s, _null()).max().over(in_run))
    tent = tent.filter(tent._ct.notnull()).select(n_pid=tent.pid, n_re=tent.re, n_s=tent._ct)
    on = _hits(units, prev, spec, k - 1)
    on = on.left_join(tent, [on.x_pid == tent.n_pid, on.x_key == tent.n_re])
    on = on.filter(on.n_s.isnull() | (on.n_s != on.h_s))
    marks = keep(on.group_by(["x_pid", "h_run", "h_s"]).aggregate(m=on.x_r.min()))
    merged = cand.left_join(marks, [cand.pid == marks.x_pid, cand.prun == marks.h_run, cand.s == marks.h_s])
    cmk = (merged.m.notnull() & (merged.m <= merged.r)).fill_null(False)
    return merged.mutate(cmk=cmk).drop("x_pid", "h_run", "h_s", "m")


def handles(spec: FunnelSpec) -> bool:
    """Every strict funnel (exclusions that name a step's event carry PostHog's marks: :func:`marked`)."""
    return spec.order is Order.STRICT


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


def _records(units: ir.Table, ev: ir.Table, slot: ir.Table | None, spec: FunnelSpec, k: int,
             keep: Keep) -> tuple[ir.Table, ir.Table]:  # fmt: skip
    """``(records, slot)`` of stage k: the units where PostHog's ``max_step`` could take step k (with ``flagged``
    when the spec has exclusions) and slot k after each unit that keeps it."""
    cand = _runs(keep(_candidates(units, ev, slot, spec, k, keep)), keep)
    if marked(spec):
        cand = _mark_candidates(cand, slot, units, spec, k, keep)
    writes, slot, phantoms = _stage(cand, keep)
    if spec.exclusions:
        writes = keep(_flagged(writes, slot, units, spec, k))
    if phantoms is not None:  # Spark reads a kept literal column back as int32
        flagged = {"flagged": ibis.literal(1, type=_I64)}
        writes = ibis.union(
            writes.mutate(flagged=writes.flagged.cast(_I64)), phantoms.mutate(**flagged), distinct=False
        )
    return writes, slot


def strict_counted(ev: ir.Table, spec: FunnelSpec, keep: Keep = identity) -> ir.Table:
    """One row per counted person, ``pid, bk, reach, t1..tN``, for a strict funnel."""
    n = len(spec.steps)
    ev = keep(_ordered(ev))
    units = keep(_units(ev, spec))
    slot: ir.Table | None = None
    records = []
    for k in range(1, n + 1):
        writes, slot = _records(units, ev, slot, spec, k, keep)
        times = {_t(j): (writes[_t(j)] if j <= k else _null()) for j in range(1, n + 1)}
        flagged = {"flagged": writes.flagged.cast(_I64)} if spec.exclusions else {}  # Spark reads literals as int32
        records.append(writes.select("pid", "r", "bk", reach=ibis.literal(k, type=_I64), **times, **flagged))
    long = ibis.union(*records, distinct=False) if n > 1 else records[0]
    first = [long.flagged] if spec.exclusions else []
    order = ibis.window(group_by=long.pid, order_by=[ibis.desc(long.reach), *first, long.r])
    ranked = long.mutate(_rn=ibis.row_number().over(order))
    chosen = ranked.filter((ranked._rn == 0) & ((ranked.flagged == 0) if spec.exclusions else ibis.literal(True)))
    return chosen.select("pid", "bk", "reach", *[_t(j) for j in range(1, n + 1)])
