"""Stage 1 of an event funnel: one tidy row per relevant event, as an Ibis expression.

Columns of the prepared table: ``pid`` (person, text), ``us`` (UTC epoch microseconds, int64), ``bk`` (breakdown
value, ``""`` when blank or missing), ``m1..mN`` (the event matches step k), ``x1..xJ`` (it matches exclusion j),
``sig`` (bitmask of all matches), and only when the spec needs them (each costs a sort of the whole stream):
``seq`` (the event's position in the person's stream, ordered by ``us, sig, bk``; for unordered funnels and for
steps that share an event, where one event must not fill two steps) and ``mixed`` (another event of the person at
the same microsecond matches a different set of steps: PostHog then processes the group as "permutations" — steps
in step order, exclusions and strict clearing ignored; for strict funnels, exclusions and shared events).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.event_funnel_spec import FunnelSpec, Order, Step
from funnelbridge.errors import InputError

__all__ = [
    "REQUIRED_COLUMNS",
    "excl_flag",
    "needs_seq",
    "prepare_events",
    "shares_events",
    "step_flag",
    "strict_bounds",
]

REQUIRED_COLUMNS = ("person_id", "event", "timestamp")


def step_flag(k: int) -> str:
    return f"m{k}"


def excl_flag(j: int) -> str:
    return f"x{j}"


def _check_columns(events: ir.Table, spec: FunnelSpec) -> None:
    have = set(events.columns)
    missing = [c for c in (*REQUIRED_COLUMNS, *spec.properties) if c not in have]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; the table has {', '.join(events.columns)}")


def _epoch_us(events: ir.Table) -> ir.IntegerColumn:
    """``ts_us`` when the loader provided it (exact everywhere), else derived from ``timestamp``."""
    if "ts_us" in events.columns:
        return events.ts_us.cast("int64")
    ts = events.timestamp
    return ts.epoch_seconds().cast("int64") * 1_000_000 + ts.microsecond().cast("int64")


def _text(column: ir.Value) -> ir.StringValue:
    return column.cast("string")


def _matches(events: ir.Table, step: Step) -> ir.BooleanValue:
    cond = events.event.cast("string") == step.event
    for prop, value in step.filters:
        cond = cond & (_text(events[prop]) == value).fill_null(False)
    return cond


def _flags(events: ir.Table, spec: FunnelSpec) -> dict[str, Any]:
    flags: dict[str, Any] = {step_flag(k): _matches(events, s) for k, s in enumerate(spec.steps, 1)}
    for j, exclusion in enumerate(spec.exclusions, 1):
        flags[excl_flag(j)] = _matches(events, exclusion.step)
    return flags


def _signature(flags: dict[str, Any]) -> ir.IntegerValue:
    sig: ir.IntegerValue = ibis.literal(0, type="int64")
    for bit, flag in enumerate(flags.values()):
        sig = sig + flag.ifelse(2**bit, 0).cast("int64")
    return sig


def _breakdown(events: ir.Table, spec: FunnelSpec) -> ir.StringValue:
    if spec.breakdown is None:
        return ibis.literal("")
    return _text(events[spec.breakdown]).fill_null("")


def prepare_events(events: ir.Table, spec: FunnelSpec) -> ir.Table:
    """The prepared event stream (see the module docstring) for ``spec``."""
    _check_columns(events, spec)
    if spec.order is not Order.STRICT:  # strict funnels need every event: any other event breaks a sequence
        names = sorted({s.event for s in (*spec.steps, *(e.step for e in spec.exclusions))})
        events = events.filter(events.event.cast("string").isin(names))
    flags = _flags(events, spec)
    base = events.select(
        pid=_text(events.person_id), us=_epoch_us(events), bk=_breakdown(events, spec), sig=_signature(flags), **flags
    )
    if spec.order is not Order.STRICT and _has_filters(spec):  # else the event-name filter above was exact
        base = base.filter(base.sig != 0)
    extra: dict[str, ir.Value] = {}
    if needs_seq(spec):
        by_person = ibis.window(group_by=base.pid, order_by=[base.us, base.sig, base.bk])
        extra["seq"] = ibis.row_number().over(by_person).cast("int64")
    if spec.order is Order.STRICT or spec.exclusions or shares_events(spec):
        same_time = ibis.window(group_by=[base.pid, base.us])
        kind = _posthog_signature(base, spec) if spec.exclusions else base.sig
        extra["mixed"] = kind.min().over(same_time) != kind.max().over(same_time)
    return base.mutate(**extra) if extra else base


def _posthog_signature(base: ir.Table, spec: FunnelSpec) -> ir.IntegerValue:
    """What PostHog compares to tell a mixed group: the steps an event matches, exclusions as the step ranges they
    cover (two exclusions over the same range are one; ``sig`` would tell them apart)."""
    n = len(spec.steps)
    sig: ir.IntegerValue = ibis.literal(0, type="int64")
    for k in range(1, n + 1):
        sig = sig + base[step_flag(k)].ifelse(2 ** (k - 1), 0).cast("int64")
    for i in range(1, n):
        covering = [j for j, e in enumerate(spec.exclusions, 1) if e.bounds(n)[0] <= i < e.bounds(n)[1]]
        if covering:
            hit = ibis.or_(*[base[excl_flag(j)] for j in covering])
            sig = sig + hit.ifelse(2 ** (n + i - 1), 0).cast("int64")
    return sig


def _has_filters(spec: FunnelSpec) -> bool:
    return any(s.filters for s in (*spec.steps, *(e.step for e in spec.exclusions)))


def shares_events(spec: FunnelSpec) -> bool:
    """Do two steps name the same event (so one event could fill both)?"""
    return len({s.event for s in spec.steps}) < len(spec.steps)


def needs_seq(spec: FunnelSpec) -> bool:
    """Unordered funnels and steps sharing an event name identify single events by their stream position."""
    return spec.order is Order.UNORDERED or shares_events(spec)


def strict_bounds(prepared: ir.Table, n_steps: int) -> ir.Table:
    """For strict funnels: ``nb1..nbN`` = the next time after this event that clears progress at step k.

    PostHog's strict rule: an event processed on its own (not in a mixed same-time group) clears every step it
    does not match. So a person at step k (reached at time t) can only take step k+1 up to the first later
    clearing event for step k. Returns the prepared table with those columns added (null: never cleared).
    """
    groups = prepared.group_by(["pid", "us"]).aggregate(
        mixed=prepared.mixed.max(),
        **{f"has{k}": prepared[step_flag(k)].max() for k in range(1, n_steps + 1)},
    )
    clears = {
        f"v{k}": ((~groups.mixed) & (~groups[f"has{k}"])).ifelse(groups.us, ibis.null()) for k in range(1, n_steps + 1)
    }
    groups = groups.mutate(**clears)
    later_first = ibis.cumulative_window(group_by=groups.pid, order_by=ibis.desc(groups.us))
    groups = groups.mutate(**{f"c{k}": groups[f"v{k}"].min().over(later_first) for k in range(1, n_steps + 1)})
    desc = ibis.window(group_by=groups.pid, order_by=ibis.desc(groups.us))
    bounds = groups.select(
        b_pid=groups.pid, b_us=groups.us, **{f"nb{k}": groups[f"c{k}"].lag().over(desc) for k in range(1, n_steps + 1)}
    )
    joined = prepared.join(bounds, [prepared.pid == bounds.b_pid, prepared.us == bounds.b_us])
    return joined.drop("b_pid", "b_us")
