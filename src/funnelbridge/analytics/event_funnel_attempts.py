"""Stage 2 of an event funnel: every attempt and the steps it reaches (the counted one: event_funnel_counted).

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

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.event_funnel_holders import cut_by_holders, opening_holders, step_holders, with_dirty
from funnelbridge.analytics.event_funnel_prepare import shares_events, step_flag, strict_bounds
from funnelbridge.analytics.event_funnel_spec import FunnelSpec, Order

__all__ = ["Keep", "attempts", "identity", "ordered_steps"]

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
    parts = [left, right]
    if _blocks(spec, ev, k):  # after the attempts of the same instant: only strictly later groups block
        blk = ev.filter(ev[step_flag(1)] & ev.mixed)
        blk = blk.select(
            pid=blk.pid,
            **{c: _null_like(cur[c]) for c in cur.columns if c != "pid"},
            _key=blk.us,
            _kind=ibis.literal(0, type="int8"),
            **{c: i64 for c in extra},
        )
        parts.append(blk)
    stream = ibis.union(*parts, distinct=False)
    later = ibis.cumulative_window(group_by=stream.pid, order_by=[ibis.desc(stream._key), ibis.desc(stream._kind)])
    found: dict[str, ir.Value] = {"c_us": (stream._kind == 2).ifelse(stream._key, i64).min().over(later)}
    if has_seq:
        found["c_seq"] = stream._cseq.min().over(later)
    elif k == 2:
        found["aseq"] = ibis.row_number().over(later).cast("int64")
    if strict:
        found["c_nb"] = stream._cnb.min().over(later)
    if len(parts) > 2:
        found["_blk"] = (stream._kind == 0).ifelse(stream._key, i64).min().over(later)
    looked = stream.mutate(**found)
    looked = looked.filter(looked._kind == 1).drop("_key", "_kind", *extra)
    if len(parts) > 2:  # a blocking group at or before the found event: the attempt is gone (see _blocks)
        gone = looked._blk.notnull() & (looked._blk <= looked.c_us)
        looked = looked.mutate(c_us=gone.ifelse(i64, looked.c_us)).drop("_blk")
    return looked


def _blocks(spec: FunnelSpec, ev: ir.Table, k: int) -> bool:
    """Must the step-2 lookup stop at a mixed same-instant group holding a step-1 event? PostHog takes such a
    group's (event, step) pairs in ascending step order, so the group's step-1 event first re-opens step 1 with
    itself: every older attempt still at step 1 is gone, and the group's events advance only the new one. This
    only changes the outcome (otherwise the new attempt dominates) when a later step shares step 1's event."""
    return k == 2 and "mixed" in ev.columns and bool(_carried_ids(spec, 1))


def _next_by_join(cur: ir.Table, ev: ir.Table, spec: FunnelSpec, k: int) -> ir.Table:
    """Like :func:`_next_by_window` when step k shares its event with an earlier step (whose event it must skip)."""
    strict = spec.order is Order.STRICT
    shared = _shared_before(spec, cur, k)
    # Step 2 (see _blocks): events that re-open step 1 in a mixed group enter as blockers; the first candidate
    # being one means "none".
    opens = ev[step_flag(1)] & ev.mixed if _blocks(spec, ev, k) else ibis.literal(False)
    cand = ev.filter(ev[step_flag(k)] | opens).select(
        c_pid=ev.pid,
        c_us=ev.us,
        c_seq=ev.seq,
        c_mixed=ev.mixed,
        c_step=ev[step_flag(k)],
        c_opens=opens,
        c_nb=ev[f"nb{k}"].fill_null(_NO_TIME) if strict else ibis.null().cast("int64"),
    )
    keys = cur.select(k_pid=cur.pid, k_aseq=cur.aseq, k_t=cur.t_prev, k_q=cur.q_prev, **{u: cur[u] for u in shared})
    # At the previous step's instant, an event processed before it only counts inside a mixed group (PostHog
    # then takes the group's events step by step); otherwise events of one instant go one by one in stream order.
    same_instant = (cand.c_us == keys.k_t) & ((cand.c_seq > keys.k_q) | cand.c_mixed) & cand.c_step
    preds = [
        keys.k_pid == cand.c_pid,
        (cand.c_us > keys.k_t) | same_instant,
        *[cand.c_seq != keys[u] for u in shared],
    ]
    joined = keys.join(cand, preds)
    blocked = joined.c_opens & (joined.c_us > joined.k_t)
    joined = joined.mutate(_blk=blocked.ifelse(0, 1))
    order = ibis.window(group_by=[joined.k_pid, joined.k_aseq], order_by=[joined.c_us, joined._blk, joined.c_seq])
    ranked = joined.mutate(_rn=ibis.row_number().over(order))
    first = ranked.filter((ranked._rn == 0) & (ranked._blk == 1)).select("k_pid", "k_aseq", "c_us", "c_seq", "c_nb")
    merged = cur.left_join(first, [cur.pid == first.k_pid, cur.aseq == first.k_aseq])
    return merged.drop("k_pid", "k_aseq")


def _reentries(moved: ir.Table, ev: ir.Table) -> ir.Table:
    """``b_pid, b_us, b_s``: the attempts that took step k in a mixed same-instant group (see :func:`_cut`)."""
    mixed = ev.filter(ev.mixed).select(m_pid=ev.pid, m_seq=ev.seq)
    hit = moved.join(mixed, [moved.pid == mixed.m_pid, moved.c_seq == mixed.m_seq])
    return hit.select(b_pid=hit.pid, b_us=hit.c_us, b_s=hit.s)


def _cut(found: ir.Table, cur: ir.Table, reentries: ir.Table) -> ir.Table:
    """The step-(k+1) lookup ``found`` of the attempts ``cur``, ended where a newer attempt re-entered step k in
    a mixed group.

    :func:`_blocks` one step further up: PostHog keeps one attempt per step, the newest; a mixed group's pairs for
    step k are taken before its pairs for step k+1, so an attempt taking step k there replaces every older attempt
    at step k before the group's step-(k+1) events are looked at, and it cannot reuse its own events of the group.
    An attempt at step k (reached before that instant) with an older opening takes no event from there on."""
    keys = cur.select(k_pid=cur.pid, k_aseq=cur.aseq, k_s=cur.s, k_t=cur.t_prev)
    preds = [keys.k_pid == reentries.b_pid, reentries.b_us > keys.k_t, reentries.b_s > keys.k_s]
    hits = keys.join(reentries, preds)
    first = hits.group_by([hits.k_pid, hits.k_aseq]).aggregate(_blk=hits.b_us.min())
    merged = found.left_join(first, [found.pid == first.k_pid, found.aseq == first.k_aseq])
    gone = merged._blk.notnull() & (merged._blk <= merged.c_us)
    merged = merged.mutate(c_us=gone.ifelse(_null_like(merged.c_us), merged.c_us))
    return merged.drop("k_pid", "k_aseq", "_blk")


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
    clear = {"cb1": base.nb} if "cb" in (reached[0].columns if reached else ()) else {}
    constant = {"sig": ibis.literal(0, type="int64"), "bk": ibis.literal("")}
    openers = {c: (base[c] if c in base.columns else value) for c, value in constant.items()}
    att = base.select("pid", "aseq", "s", **openers, t1=base.s, **seq, **clear)
    if not reached:
        return att.mutate(reach=ibis.literal(1, type="int64"))
    long = ibis.union(*reached, distinct=False) if len(reached) > 1 else reached[0]
    positions = {_q(j): long.q.max(where=long.k == j) for j in range(2, n + 1)} if seq else {}
    clears = {f"cb{j}": long.cb.max(where=long.k == j) for j in range(2, n + 1)} if clear else {}
    clears.update({f"d{j}": long.d.max(where=long.k == j) for j in range(2, n + 1)} if clear else {})
    steps = long.group_by(["pid", "aseq"]).aggregate(
        p_reach=long.k.max(), **{_t(j): long.t.max(where=long.k == j) for j in range(2, n + 1)}, **positions, **clears
    )
    steps = steps.rename(p_pid="pid", p_aseq="aseq")
    joined = att.left_join(steps, [att.pid == steps.p_pid, att.aseq == steps.p_aseq])
    return joined.mutate(reach=joined.p_reach.fill_null(1)).drop("p_pid", "p_aseq", "p_reach")


def _record(moved: ir.Table, ev: ir.Table, spec: FunnelSpec, k: int) -> ir.Table:
    """The long step record ``pid, aseq, k, t (, q), s, sig, bk`` of the attempts that took step k; the opening
    event's ``sig, bk`` (where they vary) ride only on step 2's records, null on later ones."""
    seq = {"q": moved.c_seq.cast("int64")} if "seq" in ev.columns else {}
    opening = {c: (moved[c] if k == 2 else _null_like(ev[c])) for c in _varying(spec)}
    # strict with exclusions: when progress at step k is cleared (an exclusion after that cannot reach the attempt)
    # and whether it was still clean when it took the step (it then holds the step: event_funnel_counted)
    clear = {"cb": moved.c_nb.cast("int64"), "d": moved.dirty} if spec.order is Order.STRICT and spec.exclusions else {}
    return moved.select(
        "pid", "aseq", k=ibis.literal(k, type="int64"), t=moved.c_us, **seq, s=moved.s, **opening, **clear
    )


def _first_at_instant(openers: ir.Table) -> ir.Table:
    """PostHog opens one attempt per instant, with the first step-1 event of the group (for a later one, step 1 is
    already reached from that instant). A later opener is otherwise dominated by the first; but when a later step
    shares step 1's event, in a mixed group it could take the first one as its step 2 (and count with its own
    breakdown value)."""
    ranked = openers.mutate(_first=openers.seq.min().over(ibis.window(group_by=[openers.pid, openers.us])))
    return ranked.filter(ranked.seq == ranked._first).drop("_first")


def ordered_steps(ev: ir.Table, spec: FunnelSpec, keep: Keep = identity) -> tuple[ir.Table, list[ir.Table]]:
    """Ordered and strict attempts, step by step: only attempts still alive look for their next step; each step
    is one as-of lookup. Returns the openers (after the first lookup: ``pid, aseq, s`` and the varying opening
    columns) and, per step k >= 2, the long records (:func:`_record`) of the attempts that took it.

    The lookups carry only what the next lookup needs, so the cost grows linearly with the steps.
    """
    n = len(spec.steps)
    strict = spec.order is Order.STRICT
    if strict:
        ev = keep(strict_bounds(ev, n))
    openers = ev.filter(ev[step_flag(1)])
    if _carried_ids(spec, 1):
        openers = _first_at_instant(openers)
    cur = openers.select(
        pid=openers.pid, aseq=openers.seq if "seq" in ev.columns else ibis.literal(0, type="int64"), s=openers.us,
        **{c: openers[c] for c in _varying(spec)}, t_prev=openers.us,
        **({"q_prev": openers.seq} if "seq" in ev.columns else {}),
        **{u: openers.seq for u in _carried_ids(spec, 1)}, **({"nb": openers.nb1} if strict else {}),
    )  # fmt: skip
    excl = bool(spec.exclusions)  # PostHog's one attempt per step: see event_funnel_holders
    if excl:
        cur = cur.mutate(dirty=ibis.literal(0, type="int64"))
    holders = keep(opening_holders(openers, "seq" in ev.columns)) if excl and n > 1 else None
    base, reached, reentries = cur, [], None
    for k in range(2, n + 1):
        lookup = _next_by_join if _shared_before(spec, cur, k) else _next_by_window
        found = lookup(cur, ev, spec, k)
        if holders is not None:  # the lookup is read twice by the cut: materialised first
            found = cut_by_holders(keep(found), holders)
        elif reentries is not None:
            found = _cut(found, cur, reentries)
        found = keep(found.mutate(_ok=_advanced(found, spec)))
        if k == 2:
            base = found
        moved = found.filter(found._ok)
        if excl:
            moved = keep(with_dirty(moved, ev, spec, k))
            holders = keep(step_holders(moved, ev)) if k < n else None
        reached.append(_record(moved, ev, spec, k))
        # Only when a later step shares an event name with step k or before does a re-entry change the outcome
        # (otherwise the newer attempt can take every event the older one would, and dominates it).
        reentries = keep(_reentries(moved, ev)) if not excl and k < n and _carried_ids(spec, k) else None
        carried = {u: (moved.c_seq if u == _u(k) else moved[u]) for u in _carried_ids(spec, k)}
        strict_nb = {"nb": moved.c_nb} if strict else {}
        seq_prev = {"q_prev": moved.c_seq} if "seq" in ev.columns else {}
        dirty = {"dirty": moved.dirty} if excl else {}
        cur = moved.select("pid", "aseq", "s", t_prev=moved.c_us, **seq_prev, **carried, **strict_nb, **dirty)
    return base, reached


def _ordered_attempts(ev: ir.Table, spec: FunnelSpec, keep: Keep) -> ir.Table:
    """Every ordered/strict attempt with its step times: the step records pivoted once (no join per step)."""
    base, reached = ordered_steps(ev, spec, keep)
    return keep(_pivot(base, reached, len(spec.steps)))


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
