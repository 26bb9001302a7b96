"""Stage 3 of an event funnel: each person's counted attempt (its reach, exclusions and ties).

A person counts at the furthest step their best attempt reaches; among attempts reaching as far, the one that got
there first counts (ties: :func:`_tie_order`). Ordered and strict funnels without exclusions take a shortcut
(:func:`_counted_ordered`): only attempts that took step 2 compete in a window; a person whose attempts all stopped
at step 1 counts with their first opening event, found by a group-by (no attempt table, no window over it).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.event_funnel_attempts import (
    _NO_TIME,
    Keep,
    _q,
    _t,
    _varying,
    attempts,
    identity,
    ordered_steps,
)
from funnelbridge.analytics.event_funnel_holders import active_exclusions, after_step, exclusion_events
from funnelbridge.analytics.event_funnel_prepare import needs_seq, step_flag
from funnelbridge.analytics.event_funnel_spec import FunnelSpec, Order
from funnelbridge.analytics.event_funnel_strict import handles, strict_counted

__all__ = ["counted_attempts"]


def _reach(att: ir.Table, n: int) -> ir.IntegerValue:
    reach: ir.IntegerValue = ibis.literal(1, type="int64")
    for k in range(2, n + 1):
        reach = reach + att[_t(k)].notnull().ifelse(1, 0).cast("int64")
    return reach


def _taint_time(att: ir.Table, ev: ir.Table, spec: FunnelSpec) -> ir.Table:
    """Adds ``tau``: the first exclusion event inside the attempt's excluded range (null: clean), and ``hit``: the
    step the attempt had reached when it was hit.

    The range of exclusion FROM-TO is: after the attempt reached step FROM, before it reached step TO (or the end
    of its window if it never did); the step-TO event itself when it is an exclusion event (PostHog applies an
    event's exclusions before its steps). Exclusion events in a mixed same-time group are ignored, as in PostHog.
    """
    n = len(spec.steps)
    taints = []
    holders = _holders(att, spec) if "cb1" in att.columns else None
    for j, exclusion in enumerate(spec.exclusions, 1):
        low, high = exclusion.bounds(n)
        xs = exclusion_events(ev, spec, [j])
        seq = {_q(low): att[_q(low)]} if _q(low) in att.columns else {}
        inner = [_t(k) for k in range(low + 1, high)]
        left = att.select("pid", "aseq", "s", "reach", _t(low), *inner, _t(high), **seq, _cb=_cleared(att, n))
        upper = left[_t(high)].fill_null(_NO_TIME)
        after = after_step(xs, left[_t(low)], left[_q(low)] if seq else None, low == 1)
        preds = [left.pid == xs.x_pid, after, xs.x_us <= upper, xs.x_us - left.s <= spec.window_us]
        joined = left.join(xs, [*preds, xs.x_us <= left._cb])
        taints.append(_first_hit(joined, low, high))
        if holders is not None:  # strict: also while a newer attempt holds the attempt's last step again
            held = _held(xs, holders)
            joined = left.join(held, [*preds, left.reach == held.h_k])
            taints.append(_first_hit(joined, low, high))
    union = taints[0] if len(taints) == 1 else ibis.union(*taints)
    first = union.group_by([union.pid, union.aseq]).aggregate(tau=union.tau.min(), hit=union.hit.min())
    first = first.select(g_pid=first.pid, g_aseq=first.aseq, tau=first.tau, hit=first.hit)
    merged = att.left_join(first, [att.pid == first.g_pid, att.aseq == first.g_aseq])
    return merged.drop("g_pid", "g_aseq")


def _first_hit(joined: ir.Table, low: int, high: int) -> ir.Table:
    """``pid, aseq, tau, hit`` from the (attempt, exclusion event) pairs of one exclusion FROM-TO: the attempt was at
    step FROM or later, before TO, when hit; at a step in between iff it took that step before the event."""
    hit: ir.IntegerValue = ibis.literal(low, type="int64")
    for k in range(low + 1, high):
        hit = hit + (joined[_t(k)] < joined.x_us).fill_null(False).ifelse(1, 0).cast("int64")
    joined = joined.mutate(_hit=hit)
    return joined.group_by([joined.pid, joined.aseq]).aggregate(tau=joined.x_us.min(), hit=joined._hit.min())


def _holders(att: ir.Table, spec: FunnelSpec) -> ir.Table:
    """Strict: ``pid, h_k, h_t, h_cb`` — step k was held from ``h_t`` (an attempt took it while clean) until
    ``h_cb`` (an event cleared it), for the steps where an exclusion can hit an attempt."""
    parts = []
    for k in range(1, len(spec.steps)):
        if not active_exclusions(spec, k):
            continue
        clean = att[_t(k)].notnull() & ((att[f"d{k}"] == 0) if k > 1 else ibis.literal(True))
        held = att.filter(clean)
        parts.append(held.select(h_pid=held.pid, h_k=ibis.literal(k, type="int64"), h_t=held[_t(k)],
                                 h_cb=held[f"cb{k}"].fill_null(_NO_TIME)))  # fmt: skip
    return ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]


def _held(xs: ir.Table, holders: ir.Table) -> ir.Table:
    """``x_pid, x_us, h_k``: exclusion events at which step h_k was held (PostHog marks the attempt counted at
    that step through whichever attempt holds it then)."""
    joined = xs.join(holders, [xs.x_pid == holders.h_pid, holders.h_t < xs.x_us, xs.x_us <= holders.h_cb])
    return joined.select(*xs.columns, "h_k").distinct()


def _cleared(att: ir.Table, n: int) -> ir.IntegerValue:
    """Strict: when an event that does not match the attempt's last step clears it (PostHog empties that step;
    an exclusion event is taken before it clears, so one at that very time still counts). Else never."""
    if "cb1" not in att.columns:
        return ibis.literal(_NO_TIME, type="int64")
    return ibis.cases(*[(att.reach == k, att[f"cb{k}"]) for k in range(1, n + 1)]).fill_null(_NO_TIME)


def _effective_reach(att: ir.Table, n: int) -> ir.Table:
    """A tainted attempt still reaches at most one step past where the exclusion hit it (PostHog's max_step)."""
    capped = ibis.least(att.reach, att.hit + 1)
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
    if spec.order is Order.STRICT and handles(spec):
        return strict_counted(ev, spec, keep)
    if not spec.exclusions and spec.order is not Order.UNORDERED:
        return _counted_ordered(ev, spec, keep)
    att = attempts(ev, spec, keep)
    if "reach" not in att.columns:
        att = att.mutate(reach=_reach(att, n))
    if not spec.exclusions:  # every attempt is clean (unordered): the first in order is the one
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


def _first_openers(ev: ir.Table, spec: FunnelSpec) -> ir.Table:
    """``pid, t1, bk``: each person's first step-1 event in stream order (``us, sig, bk``): the attempt that counts
    when none took step 2. Only a breakdown makes the choice among events of one instant matter."""
    openers = ev.filter(ev[step_flag(1)])
    if spec.breakdown is None:
        return openers.group_by("pid").aggregate(t1=openers.us.min()).mutate(bk=ibis.literal(""))
    order = ibis.window(group_by=openers.pid, order_by=[openers.us, openers.sig, openers.bk])
    ranked = openers.mutate(_rn=ibis.row_number().over(order))
    return ranked.filter(ranked._rn == 0).select("pid", t1=ranked.us, bk=ranked.bk)


def _best_advanced(reached: list[ir.Table], spec: FunnelSpec) -> ir.Table:
    """``pid, reach, s, bk, t2..tN``: per person, the best of the attempts that took step 2 (the long step
    records pivoted by a group-by, then ranked as :func:`counted_attempts` ranks all attempts)."""
    n = len(spec.steps)
    long = ibis.union(*reached, distinct=False) if len(reached) > 1 else reached[0]
    positions = {_q(j): long.q.max(where=long.k == j) for j in range(2, n + 1)} if "q" in long.columns else {}
    adv = long.group_by(["pid", "aseq"]).aggregate(
        reach=long.k.max(),
        s=long.s.max(),
        **{c: long[c].max() for c in _varying(spec)},
        **{_t(j): long.t.max(where=long.k == j) for j in range(2, n + 1)},
        **positions,
    )
    adv = adv.mutate(t1=adv.s, **({_q(1): adv.aseq} if positions else {}))
    adv = adv.mutate(t_last=_last_time(adv, n))
    order = ibis.window(group_by=adv.pid, order_by=[ibis.desc(adv.reach), adv.t_last, *_tie_order(adv, spec, n)])
    ranked = adv.mutate(_rn=ibis.row_number().over(order))
    chosen = ranked.filter(ranked._rn == 0)
    bk = chosen.bk if "bk" in chosen.columns else ibis.literal("")
    return chosen.select(b_pid=chosen.pid, b_reach=chosen.reach, b_t1=chosen.s, b_bk=bk, **{
        f"b_{_t(j)}": chosen[_t(j)] for j in range(2, n + 1)})  # fmt: skip


def _counted_ordered(ev: ir.Table, spec: FunnelSpec, keep: Keep) -> ir.Table:
    """:func:`counted_attempts` for ordered and strict funnels without exclusions: a person with an attempt that
    took step 2 counts with the best such attempt (reach first), anyone else with their first opening event."""
    n = len(spec.steps)
    _base, reached = ordered_steps(ev, spec, keep)
    first = _first_openers(ev, spec)
    if not reached:
        return first.select("pid", "bk", reach=ibis.literal(1, type="int64"), t1=first.t1)
    best = keep(_best_advanced(reached, spec))
    joined = first.left_join(best, first.pid == best.b_pid)
    moved = joined.b_pid.notnull()
    return joined.select(
        "pid",
        bk=moved.ifelse(joined.b_bk, joined.bk),
        reach=joined.b_reach.fill_null(1),
        t1=moved.ifelse(joined.b_t1, joined.t1),
        **{_t(j): joined[f"b_{_t(j)}"] for j in range(2, n + 1)},
    )
