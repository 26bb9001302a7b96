"""Stage 2 of an event funnel: attempts, their reach, exclusions, and each person's counted attempt.

An attempt is identified by ``(pid, aseq)`` — the person and the stream position of its opening event (or, when
the spec needs no stream positions, a number given in the first lookup) — and carries ``s`` (opening time), ``bk``
(breakdown of the opening event) and ``t1..tN`` (when it reached each step, in microseconds; null when not
reached). Ordered and strict attempts open on every step-1 event and take each next step greedily (the earliest
qualifying event, one event per step): one as-of lookup per step, written as a running minimum over a window
(:func:`_next_by_window`), so the cost grows linearly with the steps and no step joins events to attempts.
Unordered attempts open on every step event and take, per step, the earliest events inside ``[s, s + window]``;
their ``t1..tN`` are those times sorted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.event_funnel_prepare import excl_flag, needs_seq, shares_events, step_flag, strict_bounds
from funnelbridge.analytics.event_funnel_spec import FunnelSpec, Order

__all__ = ["Keep", "attempts", "counted_attempts", "identity"]

#: A materialisation hook: identity keeps one pure expression; ``run_funnel`` passes ``Table.cache`` so that each
#: stage is computed once (and SQLite's parser never sees the whole nested query).
Keep = Callable[[ir.Table], ir.Table]


def identity(table: ir.Table) -> ir.Table:
    return table


_NO_TIME = 2**62  # "never": bigger than any epoch microsecond


def _t(k: int) -> str:
    return f"t{k}"


def _q(k: int) -> str:
    return f"q{k}"


def _u(k: int) -> str:
    return f"u{k}"


def _shared_event(spec: FunnelSpec, j: int, k: int) -> bool:
    """Can one event match both step j and step k? (Only then must step k avoid step j's event.)"""
    return spec.steps[j - 1].event == spec.steps[k - 1].event


def _carried_ids(spec: FunnelSpec, k: int) -> list[str]:
    """Event ids of steps <= k that some later step must not reuse."""
    n = len(spec.steps)
    return [_u(j) for j in range(1, k + 1) if any(_shared_event(spec, j, m) for m in range(j + 1, n + 1))]


def _null_like(column: ir.Value) -> ir.Value:
    return ibis.null().cast(column.type())


def _shared_before(spec: FunnelSpec, cur: ir.Table, k: int) -> list[str]:
    """Carried event ids of earlier steps that step k must not reuse (same event name)."""
    return [_u(j) for j in range(1, k) if _shared_event(spec, j, k) and _u(j) in cur.columns]


def _varying(spec: FunnelSpec) -> tuple[str, ...]:
    """Opening-event columns that can differ between two attempts opened at one instant (the rest are constant
    and are neither carried through the lookups nor sorted on): ``sig`` when an opening event can also match an
    exclusion or another step, ``bk`` with a breakdown. Without stream positions, two attempts opened at one
    instant with equal ``sig, bk`` take the same steps, so nothing else tells them apart."""
    sig = spec.exclusions or spec.order is Order.UNORDERED or shares_events(spec)
    return (*(("sig",) if sig else ()), *(("bk",) if spec.breakdown else ()))


def _next_by_window(cur: ir.Table, ev: ir.Table, spec: FunnelSpec, k: int) -> ir.Table:
    """``cur`` plus ``c_us`` (+ ``c_seq``, ``c_nb``): each attempt's first step-k event at or after ``t_prev``.

    An as-of lookup written as a window: alive attempts and step-k events in one stream per person, newest first
    (events before attempts at the same instant); the running minimum over the events seen so far is the first
    event at or after each attempt's previous step (stream positions grow with time, so ``min(seq)`` is that
    event's position, and strict clearing bounds grow with time too). Without stream positions, attempts are
    numbered here, in the first lookup. ``cur`` is kept narrow: every column rides through the sort.
    """
    i64 = ibis.null().cast("int64")
    has_seq, strict = "seq" in ev.columns, spec.order is Order.STRICT
    extra = {**({"_cseq": i64} if has_seq else {}), **({"_cnb": i64} if strict else {})}
    left = cur.mutate(_key=cur.t_prev, _kind=ibis.literal(1, type="int8"), **extra)
    cand = ev.filter(ev[step_flag(k)])
    if k > 2:  # later steps: only the events of people with an attempt still alive enter the sort
        cand = cand.filter(cand.pid.isin(cur.pid))
    right = cand.select(
        pid=cand.pid,
        **{c: _null_like(cur[c]) for c in cur.columns if c != "pid"},
        _key=cand.us,
        _kind=ibis.literal(2, type="int8"),
        **({"_cseq": cand.seq.cast("int64")} if has_seq else {}),
        **({"_cnb": cand[f"nb{k}"].fill_null(_NO_TIME).cast("int64")} if strict else {}),
    )
    stream = ibis.union(left, right, distinct=False)
    later = ibis.cumulative_window(group_by=stream.pid, order_by=[ibis.desc(stream._key), ibis.desc(stream._kind)])
    found: dict[str, ir.Value] = {"c_us": (stream._kind == 2).ifelse(stream._key, i64).min().over(later)}
    if has_seq:
        found["c_seq"] = stream._cseq.min().over(later)
    elif k == 2:
        found["aseq"] = ibis.row_number().over(later).cast("int64")
    if strict:
        found["c_nb"] = stream._cnb.min().over(later)
    looked = stream.mutate(**found)
    return looked.filter(looked._kind == 1).drop("_key", "_kind", *extra)


def _next_by_join(cur: ir.Table, ev: ir.Table, spec: FunnelSpec, k: int) -> ir.Table:
    """Like :func:`_next_by_window` when step k shares its event with an earlier step (whose event it must skip)."""
    strict = spec.order is Order.STRICT
    shared = _shared_before(spec, cur, k)
    cand = ev.filter(ev[step_flag(k)]).select(
        c_pid=ev.pid,
        c_us=ev.us,
        c_seq=ev.seq,
        c_mixed=ev.mixed,
        c_nb=ev[f"nb{k}"].fill_null(_NO_TIME) if strict else ibis.null().cast("int64"),
    )
    keys = cur.select(k_pid=cur.pid, k_aseq=cur.aseq, k_t=cur.t_prev, k_q=cur.q_prev, **{u: cur[u] for u in shared})
    # At the previous step's instant, an event processed before it only counts inside a mixed group (PostHog
    # then takes the group's events step by step); otherwise events of one instant go one by one in stream order.
    same_instant = (cand.c_us == keys.k_t) & ((cand.c_seq > keys.k_q) | cand.c_mixed)
    preds = [
        keys.k_pid == cand.c_pid,
        (cand.c_us > keys.k_t) | same_instant,
        *[cand.c_seq != keys[u] for u in shared],
    ]
    joined = keys.join(cand, preds)
    order = ibis.window(group_by=[joined.k_pid, joined.k_aseq], order_by=[joined.c_us, joined.c_seq])
    ranked = joined.mutate(_rn=ibis.row_number().over(order))
    first = ranked.filter(ranked._rn == 0).select("k_pid", "k_aseq", "c_us", "c_seq", "c_nb")
    merged = cur.left_join(first, [cur.pid == first.k_pid, cur.aseq == first.k_aseq])
    return merged.drop("k_pid", "k_aseq")


def _advanced(found: ir.Table, spec: FunnelSpec) -> ir.BooleanValue:
    """Did the attempt take the step: an event exists, inside the window (and, strict, before progress cleared)?"""
    ok = found.c_us.notnull() & (found.c_us - found.s <= spec.window_us)
    if spec.order is Order.STRICT:
        ok = ok & (found.c_us <= found.nb.fill_null(_NO_TIME))
    return ok


def _pivot(base: ir.Table, reached: list[ir.Table], n: int) -> ir.Table:
    """``pid, aseq, s, sig, bk, reach, t1..tN``: the openers, with the long ``pid, aseq, k, t`` step records of the
    attempts that advanced pivoted once (a group-by over the advances only, and one join)."""
    seq = {_q(1): base.aseq} if "q" in (reached[0].columns if reached else ()) else {}
    constant = {"sig": ibis.literal(0, type="int64"), "bk": ibis.literal("")}
    openers = {c: (base[c] if c in base.columns else value) for c, value in constant.items()}
    att = base.select("pid", "aseq", "s", **openers, t1=base.s, **seq)
    if not reached:
        return att.mutate(reach=ibis.literal(1, type="int64"))
    long = ibis.union(*reached, distinct=False) if len(reached) > 1 else reached[0]
    positions = {_q(j): long.q.max(where=long.k == j) for j in range(2, n + 1)} if seq else {}
    steps = long.group_by(["pid", "aseq"]).aggregate(
        p_reach=long.k.max(), **{_t(j): long.t.max(where=long.k == j) for j in range(2, n + 1)}, **positions
    )
    steps = steps.rename(p_pid="pid", p_aseq="aseq")
    joined = att.left_join(steps, [att.pid == steps.p_pid, att.aseq == steps.p_aseq])
    return joined.mutate(reach=joined.p_reach.fill_null(1)).drop("p_pid", "p_aseq", "p_reach")


def _ordered_attempts(ev: ir.Table, spec: FunnelSpec, keep: Keep) -> ir.Table:
    """Step by step, only attempts still alive look for their next step; each step is one as-of lookup.

    The lookups carry only what the next lookup needs; step times are collected as long ``pid, aseq, k, t`` rows
    and pivoted once at the end (linear in the number of steps, no join per step).
    """
    n = len(spec.steps)
    strict = spec.order is Order.STRICT
    if strict:
        ev = keep(strict_bounds(ev, n))
    openers = ev.filter(ev[step_flag(1)])
    cur = openers.select(
        pid=openers.pid, aseq=openers.seq if "seq" in ev.columns else ibis.literal(0, type="int64"), s=openers.us,
        **{c: openers[c] for c in _varying(spec)}, t_prev=openers.us,
        **({"q_prev": openers.seq} if "seq" in ev.columns else {}),
        **{u: openers.seq for u in _carried_ids(spec, 1)}, **({"nb": openers.nb1} if strict else {}),
    )  # fmt: skip
    base, reached = cur, []
    for k in range(2, n + 1):
        lookup = _next_by_join if _shared_before(spec, cur, k) else _next_by_window
        found = lookup(cur, ev, spec, k)
        found = keep(found.mutate(_ok=_advanced(found, spec)))
        if k == 2:
            base = found
        moved = found.filter(found._ok)
        seq = {"q": moved.c_seq} if "seq" in ev.columns else {}
        reached.append(moved.select("pid", "aseq", k=ibis.literal(k, type="int64"), t=moved.c_us, **seq))
        carried = {u: (moved.c_seq if u == _u(k) else moved[u]) for u in _carried_ids(spec, k)}
        strict_nb = {"nb": moved.c_nb} if strict else {}
        seq_prev = {"q_prev": moved.c_seq} if "seq" in ev.columns else {}
        cur = moved.select("pid", "aseq", "s", t_prev=moved.c_us, **seq_prev, **carried, **strict_nb)
    return keep(_pivot(base, reached, n))


def _step_groups(spec: FunnelSpec) -> list[list[int]]:
    """Steps with identical filters form one group: each of its steps needs its own event."""
    groups: dict[object, list[int]] = {}
    for k, step in enumerate(spec.steps, 1):
        groups.setdefault(step, []).append(k)
    return list(groups.values())


def _unordered_attempts(ev: ir.Table, spec: FunnelSpec, keep: Keep) -> ir.Table:
    n = len(spec.steps)
    openers = ev.filter(ibis.or_(*[ev[step_flag(k)] for k in range(1, n + 1)]))
    att = openers.select(pid=openers.pid, aseq=openers.seq, s=openers.us, sig=openers.sig, bk=openers.bk)
    hits = [_group_hits(att, ev, spec, group) for group in _step_groups(spec)]
    union = hits[0] if len(hits) == 1 else ibis.union(*hits)
    order = ibis.window(group_by=[union.h_pid, union.h_aseq], order_by=[union.h_us, union.h_seq])
    ranked = union.mutate(rank=ibis.row_number().over(order) + 1)
    sorted_times = keep(
        ranked.group_by([ranked.h_pid, ranked.h_aseq]).aggregate(
            **{_t(k): ranked.h_us.max(where=ranked.rank == k) for k in range(1, n + 1)}
        )
    )
    merged = att.join(sorted_times, [att.pid == sorted_times.h_pid, att.aseq == sorted_times.h_aseq])
    return merged.select("pid", "aseq", "s", "sig", "bk", *[_t(k) for k in range(1, n + 1)])


def _group_hits(att: ir.Table, ev: ir.Table, spec: FunnelSpec, group: list[int]) -> ir.Table:
    cand = ev.filter(ev[step_flag(group[0])]).select(c_pid=ev.pid, c_us=ev.us, c_seq=ev.seq)
    preds = [att.pid == cand.c_pid, cand.c_us >= att.s, cand.c_us - att.s <= spec.window_us]
    joined = att.join(cand, preds)
    order = ibis.window(group_by=[joined.pid, joined.aseq], order_by=[joined.c_us, joined.c_seq])
    ranked = joined.mutate(_rn=ibis.row_number().over(order))
    kept = ranked.filter(ranked._rn < len(group))
    return kept.select(h_pid=kept.pid, h_aseq=kept.aseq, h_us=kept.c_us, h_seq=kept.c_seq)


def attempts(ev: ir.Table, spec: FunnelSpec, keep: Keep = identity) -> ir.Table:
    """Every attempt of every person with its step times (see the module docstring)."""
    if spec.order is Order.UNORDERED:
        return _unordered_attempts(ev, spec, keep)
    return _ordered_attempts(ev, spec, keep)


def _reach(att: ir.Table, n: int) -> ir.IntegerValue:
    reach: ir.IntegerValue = ibis.literal(1, type="int64")
    for k in range(2, n + 1):
        reach = reach + att[_t(k)].notnull().ifelse(1, 0).cast("int64")
    return reach


def _taint_time(att: ir.Table, ev: ir.Table, spec: FunnelSpec) -> ir.Table:
    """Adds ``tau``: the first exclusion event inside the attempt's excluded range (null: clean).

    The range of exclusion FROM-TO is: after the attempt reached step FROM, before it reached step TO (or the end
    of its window if it never did). Exclusion events in a mixed same-time group are ignored, as in PostHog.
    """
    n = len(spec.steps)
    taints = []
    for j, exclusion in enumerate(spec.exclusions, 1):
        low, high = exclusion.bounds(n)
        xs = ev.filter(ev[excl_flag(j)] & ~ev.mixed).select(x_pid=ev.pid, x_us=ev.us)
        left = att.select("pid", "aseq", "s", _t(low), _t(high))
        upper = left[_t(high)].fill_null(_NO_TIME)
        preds = [left.pid == xs.x_pid, xs.x_us > left[_t(low)], xs.x_us < upper, xs.x_us - left.s <= spec.window_us]
        joined = left.join(xs, preds)
        taints.append(joined.group_by([joined.pid, joined.aseq]).aggregate(tau=joined.x_us.min()))
    union = taints[0] if len(taints) == 1 else ibis.union(*taints)
    first = union.group_by([union.pid, union.aseq]).aggregate(tau=union.tau.min())
    first = first.select(g_pid=first.pid, g_aseq=first.aseq, tau=first.tau)
    merged = att.left_join(first, [att.pid == first.g_pid, att.aseq == first.g_aseq])
    return merged.drop("g_pid", "g_aseq")


def _effective_reach(att: ir.Table, n: int) -> ir.Table:
    """A tainted attempt still reaches at most one step past where the exclusion hit it (PostHog's max_step)."""
    at_taint: ir.IntegerValue = ibis.literal(0, type="int64")
    for k in range(1, n + 1):
        at_taint = at_taint + (att[_t(k)] < att.tau).fill_null(False).ifelse(1, 0).cast("int64")
    capped = ibis.least(att.reach, at_taint + 1)
    return att.mutate(eff=att.tau.isnull().ifelse(att.reach, capped))


def _last_time(att: ir.Table, n: int) -> ir.IntegerValue:
    cases = [(att.reach == k, att[_t(k)]) for k in range(1, n + 1)]
    return ibis.cases(*cases)


def _tie_order(att: ir.Table, spec: FunnelSpec, n: int) -> list[Any]:
    """Among attempts reaching as far at the same instant: ordered/strict, the one whose last event comes first in
    the stream (when steps share events, two attempts can finish on different events of one instant), then the
    latest opening (PostHog extends the newest attempt); unordered, the earliest opening. Then the opening event's
    ``sig, bk`` (its stream order) and ``aseq`` — each only where it can differ (see :func:`_varying`).
    """
    rest = [*(att[c] for c in _varying(spec)), *([att.aseq] if needs_seq(spec) else [])]
    if spec.order is Order.UNORDERED:
        return [ibis.asc(att.s), *rest]
    if _q(1) not in att.columns:
        return [ibis.desc(att.s), *rest]
    last_seq = ibis.cases(*[(att.reach == k, att[_q(k)]) for k in range(1, n + 1)])
    return [last_seq, ibis.desc(att.s), *rest]


def counted_attempts(ev: ir.Table, spec: FunnelSpec, keep: Keep = identity) -> ir.Table:
    """One row per counted person: ``pid, bk, reach, t1..tN`` of the attempt that counts.

    A person counts at R, the furthest (effective) reach over all attempts, if a clean attempt reaches R; if only
    excluded attempts reach R the person is dropped. Among clean attempts at R the one that got there first
    counts; ties as in :func:`_tie_order`.
    """
    n = len(spec.steps)
    att = attempts(ev, spec, keep)
    if "reach" not in att.columns:
        att = att.mutate(reach=_reach(att, n))
    if not spec.exclusions:  # every attempt is clean: the first in order is the one
        att = att.mutate(t_last=_last_time(att, n))
        order = ibis.window(group_by=att.pid, order_by=[ibis.desc(att.reach), att.t_last, *_tie_order(att, spec, n)])
        ranked = att.mutate(_rn=ibis.row_number().over(order))
        chosen = ranked.filter(ranked._rn == 0)
        return chosen.select("pid", "bk", "reach", *[_t(k) for k in range(1, n + 1)])
    att = _effective_reach(keep(_taint_time(att, ev, spec)), n)
    att = att.mutate(t_last=_last_time(att, n), clean=att.tau.isnull())
    order = ibis.window(
        group_by=att.pid,
        order_by=[ibis.desc(att.clean), ibis.desc(att.reach), att.t_last, *_tie_order(att, spec, n)],
    )
    ranked = att.mutate(_rn=ibis.row_number().over(order), best=att.eff.max().over(ibis.window(group_by=att.pid)))
    chosen = ranked.filter((ranked._rn == 0) & ranked.clean & (ranked.reach == ranked.best))
    return chosen.select("pid", "bk", "reach", *[_t(k) for k in range(1, n + 1)])
