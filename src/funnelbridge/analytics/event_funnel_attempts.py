"""Stage 2 of an event funnel: attempts, their reach, exclusions, and each person's counted attempt.

An attempt is identified by ``(pid, aseq)`` — the person and the stream position of its opening event — and
carries ``s`` (opening time), ``bk`` (breakdown of the opening event) and ``t1..tN`` (when it reached each step,
in microseconds; null when not reached). Ordered and strict attempts open on every step-1 event and take each next
step greedily (the earliest qualifying event, one event per step). Unordered attempts open on every step event
and take, per step, the earliest events inside ``[s, s + window]``; their ``t1..tN`` are those times sorted.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.event_funnel_prepare import excl_flag, step_flag, strict_bounds
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


def _u(k: int) -> str:
    return f"u{k}"


def _first_per_attempt(joined: ir.Table, time: str, seq: str) -> ir.Table:
    order = ibis.window(group_by=[joined.pid, joined.aseq], order_by=[joined[time], joined[seq]])
    ranked = joined.mutate(_rn=ibis.row_number().over(order))
    return ranked.filter(ranked._rn == 0).drop("_rn")


def _shared_event(spec: FunnelSpec, j: int, k: int) -> bool:
    """Can one event match both step j and step k? (Only then must step k avoid step j's event.)"""
    return spec.steps[j - 1].event == spec.steps[k - 1].event


def _carried_ids(spec: FunnelSpec, k: int) -> list[str]:
    """Event ids of steps <= k that some later step must not reuse."""
    n = len(spec.steps)
    return [_u(j) for j in range(1, k + 1) if any(_shared_event(spec, j, m) for m in range(j + 1, n + 1))]


def _advance(cur: ir.Table, ev: ir.Table, spec: FunnelSpec, k: int) -> ir.Table:
    """Attempts that reach step k: ``pid, aseq, s, tk`` (+ carried ids, + ``nb`` when strict)."""
    strict = spec.order is Order.STRICT
    cand = ev.filter(ev[step_flag(k)]).select(
        c_pid=ev.pid, c_us=ev.us, c_seq=ev.seq, **({"c_nb": ev[f"nb{k}"]} if strict else {})
    )
    preds = [
        cur.pid == cand.c_pid,
        cand.c_us >= cur.t_prev,
        cand.c_us - cur.s <= spec.window_us,
        *[cand.c_seq != cur[_u(j)] for j in range(1, k) if _shared_event(spec, j, k) and _u(j) in cur.columns],
    ]
    if strict:
        preds.append(cand.c_us <= cur.nb.fill_null(_NO_TIME))
    first = _first_per_attempt(cur.join(cand, preds), "c_us", "c_seq")
    carried = {u: (first.c_seq if u == _u(k) else first[u]) for u in _carried_ids(spec, k)}
    return first.select("pid", "aseq", "s", t_prev=first.c_us, **carried, **({"nb": first.c_nb} if strict else {}))


def _ordered_attempts(ev: ir.Table, spec: FunnelSpec, keep: Keep) -> ir.Table:
    """Step by step, only attempts still alive are extended; step times are joined back at the end."""
    n = len(spec.steps)
    strict = spec.order is Order.STRICT
    if strict:
        ev = keep(strict_bounds(ev, n))
    openers = ev.filter(ev[step_flag(1)])
    base = openers.select(pid=openers.pid, aseq=openers.seq, s=openers.us, bk=openers.bk)
    carried = {u: openers.seq for u in _carried_ids(spec, 1)}
    cur = openers.select(
        pid=openers.pid, aseq=openers.seq, s=openers.us, t_prev=openers.us, **carried,
        **({"nb": openers.nb1} if strict else {}),
    )  # fmt: skip
    att = base.mutate(**{_t(1): base.s})
    for k in range(2, n + 1):
        cur = keep(_advance(cur, ev, spec, k))
        found = cur.select(f_pid=cur.pid, f_aseq=cur.aseq, **{_t(k): cur.t_prev})
        att = att.left_join(found, [att.pid == found.f_pid, att.aseq == found.f_aseq]).drop("f_pid", "f_aseq")
    return keep(att)


def _step_groups(spec: FunnelSpec) -> list[list[int]]:
    """Steps with identical filters form one group: each of its steps needs its own event."""
    groups: dict[object, list[int]] = {}
    for k, step in enumerate(spec.steps, 1):
        groups.setdefault(step, []).append(k)
    return list(groups.values())


def _unordered_attempts(ev: ir.Table, spec: FunnelSpec, keep: Keep) -> ir.Table:
    n = len(spec.steps)
    openers = ev.filter(ibis.or_(*[ev[step_flag(k)] for k in range(1, n + 1)]))
    att = openers.select(pid=openers.pid, aseq=openers.seq, s=openers.us, bk=openers.bk)
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
    return merged.select("pid", "aseq", "s", "bk", *[_t(k) for k in range(1, n + 1)])


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


def counted_attempts(ev: ir.Table, spec: FunnelSpec, keep: Keep = identity) -> ir.Table:
    """One row per counted person: ``pid, bk, reach, t1..tN`` of the attempt that counts.

    A person counts at R, the furthest (effective) reach over all attempts, if a clean attempt reaches R; if only
    excluded attempts reach R the person is dropped. Among clean attempts at R the one that got there first
    counts; ties go to the latest opening (ordered/strict: PostHog extends the newest attempt) or the earliest
    (unordered: PostHog reports the oldest events still in the window), then to the lowest stream position.
    """
    n = len(spec.steps)
    att = attempts(ev, spec, keep)
    att = att.mutate(reach=_reach(att, n))
    if spec.exclusions:
        att = keep(_taint_time(att, ev, spec))
    att = _effective_reach(att if spec.exclusions else att.mutate(tau=ibis.null().cast("int64")), n)
    att = att.mutate(t_last=_last_time(att, n), clean=att.tau.isnull())
    person = ibis.window(group_by=att.pid)
    att = att.mutate(
        best=att.eff.max().over(person),
        best_clean=att.clean.ifelse(att.reach, 0).max().over(person),
    )
    winners = att.filter(att.clean & (att.reach == att.best) & (att.best_clean == att.best))
    tie = ibis.asc(winners.s) if spec.order is Order.UNORDERED else ibis.desc(winners.s)
    order = ibis.window(group_by=winners.pid, order_by=[winners.t_last, tie, winners.aseq])
    ranked = winners.mutate(_rn=ibis.row_number().over(order))
    chosen = ranked.filter(ranked._rn == 0)
    return chosen.select("pid", "bk", "reach", *[_t(k) for k in range(1, n + 1)])
