"""Exclusion funnels: PostHog keeps one attempt per step, so a newer clean attempt ends an older one's progress.

PostHog's UDF holds, per step, the newest attempt that reached it. When a newer attempt takes step k−1 while it is
still clean (no exclusion event has hit it), the older attempt at step k−1 is replaced: it takes no further step,
and an exclusion event later hits the newer one. Without exclusions the newer attempt does at least as well, so
the per-attempt rules agree; with exclusions the newer one can be disqualified while the older (whose window ended
first) stays clean. Here, per step:

- a *holder* of step k is an attempt that took step k while clean (:func:`opening_holders`, :func:`step_holders`);
- ``dirty`` tells whether an exclusion event hit an attempt before it took its latest step (:func:`with_dirty`);
- an attempt's step-k lookup ends where a newer holder of step k−1 took it (:func:`cut_by_holders`).

Each stage reads only the previous stage's holders, so ``run_funnel`` materialises them and the SQL of a stage does
not grow with the number of steps.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.event_funnel_prepare import excl_flag
from funnelbridge.analytics.event_funnel_spec import FunnelSpec

__all__ = [
    "active_exclusions",
    "after_step",
    "cut_by_holders",
    "exclusion_events",
    "opening_holders",
    "overlaps_steps",
    "step_holders",
    "with_dirty",
]


def active_exclusions(spec: FunnelSpec, k: int) -> list[int]:
    """The exclusions (1-based) that hit an attempt whose latest step is k (FROM <= k < TO)."""
    n = len(spec.steps)
    return [j for j, e in enumerate(spec.exclusions, 1) if e.bounds(n)[0] <= k < e.bounds(n)[1]]


def overlaps_steps(spec: FunnelSpec) -> bool:
    """Does an exclusion name a step's event (so one event can be an exclusion event and take a step)?"""
    names = {s.event for s in spec.steps}
    return any(e.step.event in names for e in spec.exclusions)


def exclusion_events(ev: ir.Table, spec: FunnelSpec, js: list[int]) -> ir.Table:
    """``x_pid, x_us``: the events of exclusions ``js`` outside mixed groups (PostHog ignores exclusions there).

    When an exclusion names a step's event, also ``x_many`` (its same-instant group has more than one event) and,
    with stream positions, ``x_seq``: such an event can take a step too, and PostHog applies its exclusion before
    its step, so it hits the attempt it moves and any attempt that took a step earlier in its group
    (:func:`after_step`)."""
    base = ev.filter(~ev.mixed)
    if overlaps_steps(spec):
        base = base.mutate(_n=base.us.count().over(ibis.window(group_by=[base.pid, base.us])))
    xs = base.filter(ibis.or_(*[base[excl_flag(j)] for j in js]))
    if not overlaps_steps(spec):
        return xs.select(x_pid=xs.pid, x_us=xs.us)
    seq = {"x_seq": xs.seq.cast("int64")} if "seq" in xs.columns else {}
    return xs.select(x_pid=xs.pid, x_us=xs.us, x_many=xs._n > 1, **seq)


def after_step(xs: ir.Table, t: ir.Value, q: ir.Value | None, first: bool) -> ir.BooleanValue:
    """Does exclusion event ``xs`` come after an attempt took a step at time ``t`` (stream position ``q``)?

    Later instants always do. At the same instant (only when an exclusion names a step's event: the group is not
    mixed, so every event of it matches that step and the exclusion), the events after the attempt's own do: for
    step 1, any second event of the group (PostHog opens one attempt per instant, with the group's first event);
    for a later step, the events after its own in stream order (without stream positions, its own is the first)."""
    later = xs.x_us > t
    if "x_many" not in xs.columns:
        return later
    same = xs.x_seq > q if (q is not None and not first and "x_seq" in xs.columns) else xs.x_many
    return later | ((xs.x_us == t) & same)


def _holder_columns(
    pid: ir.Value, s: ir.Value, t: ir.Value, seq: ir.Value | None, mixed: ir.Value
) -> dict[str, ir.Value]:
    """``h_pid, h_s, h_t`` and, with stream positions, ``h_seq``: the holder's event position, or -1 when its
    instant is a mixed group (PostHog then takes the group's step k−1 pairs before its step-k pairs)."""
    cols: dict[str, ir.Value] = {"h_pid": pid, "h_s": s, "h_t": t}
    if seq is not None:
        cols["h_seq"] = mixed.ifelse(ibis.literal(-1, type="int64"), seq.cast("int64"))
    return cols


def opening_holders(openers: ir.Table, has_seq: bool) -> ir.Table:
    """Step 1's holders: every opening (an attempt is clean when it opens)."""
    return openers.select(**_holder_columns(openers.pid, openers.us, openers.us, openers.seq if has_seq else None,
                                            openers.mixed))  # fmt: skip


def step_holders(moved: ir.Table, ev: ir.Table) -> ir.Table:
    """Step k's holders: the attempts in ``moved`` (they took step k) that were clean when they took it."""
    clean = moved.filter(moved.dirty == 0)
    if "seq" not in ev.columns:
        return clean.select(**_holder_columns(clean.pid, clean.s, clean.c_us, None, ibis.literal(False)))
    mixed = ev.filter(ev.mixed).select(m_pid=ev.pid, m_seq=ev.seq)
    joined = clean.left_join(mixed, [clean.pid == mixed.m_pid, clean.c_seq == mixed.m_seq])
    return joined.select(**_holder_columns(joined.pid, joined.s, joined.c_us, joined.c_seq, joined.m_pid.notnull()))


def cut_by_holders(found: ir.Table, holders: ir.Table) -> ir.Table:
    """``found`` (each attempt's step-k candidate ``c_us``) with the candidate dropped when a newer holder of step
    k−1 took that step after the attempt did and before the candidate (stream order; in a mixed group, the
    group's step k−1 pairs come before its step-k pairs, so a candidate at the holder's instant is gone too)."""
    has_seq = "h_seq" in holders.columns
    alive = found.filter(found.c_us.notnull())
    keys = alive.select(
        k_pid=alive.pid, k_aseq=alive.aseq, k_s=alive.s, k_t=alive.t_prev, k_c=alive.c_us,
        **({"k_q": alive.q_prev, "k_cq": alive.c_seq} if has_seq else {}),
    )  # fmt: skip
    h = holders
    if has_seq:
        after_prev = (h.h_t > keys.k_t) | ((h.h_t == keys.k_t) & (h.h_seq > keys.k_q))
        before_cand = (h.h_t < keys.k_c) | ((h.h_t == keys.k_c) & (h.h_seq < keys.k_cq))
    else:
        after_prev, before_cand = h.h_t > keys.k_t, h.h_t <= keys.k_c
    hits = keys.join(h, [keys.k_pid == h.h_pid, h.h_s > keys.k_s, after_prev, before_cand])
    gone = hits.select(g_pid=hits.k_pid, g_aseq=hits.k_aseq).distinct()
    merged = found.left_join(gone, [found.pid == gone.g_pid, found.aseq == gone.g_aseq])
    c_us = merged.g_pid.isnull().ifelse(merged.c_us, ibis.null().cast(merged.c_us.type()))
    return merged.mutate(c_us=c_us).drop("g_pid", "g_aseq")


def with_dirty(moved: ir.Table, ev: ir.Table, spec: FunnelSpec, k: int) -> ir.Table:
    """``moved`` (attempts that took step k at ``c_us``, from step k−1 at ``t_prev``) with ``dirty`` updated: 1 when
    an exclusion active at step k−1 happened between the two (outside a mixed group, as PostHog ignores those), the
    step-k event itself included (:func:`after_step`: an exclusion that names a step's event)."""
    active = active_exclusions(spec, k - 1)
    if not active:
        return moved
    xs = exclusion_events(ev, spec, active)
    seq = {"k_q": moved.q_prev} if "q_prev" in moved.columns else {}
    keys = moved.select(k_pid=moved.pid, k_aseq=moved.aseq, k_t=moved.t_prev, k_c=moved.c_us, **seq)
    after = after_step(xs, keys.k_t, keys.k_q if seq else None, k == 2)
    # an exclusion event that is the step-k event itself hits first (PostHog takes an event's exclusions first)
    hit = keys.join(xs, [keys.k_pid == xs.x_pid, after, xs.x_us <= keys.k_c])
    hit = hit.select(g_pid=hit.k_pid, g_aseq=hit.k_aseq).distinct()
    merged = moved.left_join(hit, [moved.pid == hit.g_pid, moved.aseq == hit.g_aseq])
    dirty = merged.g_pid.notnull().ifelse(ibis.literal(1, type="int64"), merged.dirty)
    return merged.mutate(dirty=dirty).drop("g_pid", "g_aseq")
