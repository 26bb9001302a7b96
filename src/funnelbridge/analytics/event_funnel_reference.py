"""A tiny pure-Python event funnel: the in-memory fake and the oracle the Ibis expressions are tested against.

Ordered and strict funnels are computed the way PostHog's ``aggregate_funnel`` UDF walks a person's events (a
re-statement of its algorithm, not a copy): one state per step holding the newest attempt that reached it,
events in time order, same-time groups either one by one (all alike) or as "permutations" in step order (mixed,
exclusions and strict clearing ignored), and the first attempt to reach the furthest step counted. Unordered
funnels are computed by brute force over every window that opens on a step event.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby

from funnelbridge.analytics.event_funnel import FunnelResult, StepResult
from funnelbridge.analytics.event_funnel_spec import FunnelSpec, Order, Step

__all__ = ["RefEvent", "reference_funnel"]


@dataclass(frozen=True)
class RefEvent:
    """One event: person, name, UTC epoch microseconds, text properties."""

    person: str
    event: str
    us: int
    props: dict[str, str] = field(default_factory=dict)


@dataclass
class _State:
    start: int
    excluded: bool = False
    times: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    bk: str = ""


@dataclass(frozen=True)
class _Ev:
    idx: int
    us: int
    steps: tuple[int, ...]  # positive: steps matched; negative -(i+1): exclusion active at step count i
    sig: tuple[int, ...]
    bk: str
    mask: int  # the Ibis ``sig`` bitmask: the tie order inside one microsecond


@dataclass(frozen=True)
class _Outcome:
    reach: int
    times: tuple[int, ...]
    bk: str


def _matches(step: Step, ev: RefEvent) -> bool:
    return ev.event == step.event and all(ev.props.get(p) == v for p, v in step.filters)


def _encode(spec: FunnelSpec, ev: RefEvent, idx: int) -> _Ev:
    n = len(spec.steps)
    steps = [k for k, s in enumerate(spec.steps, 1) if _matches(s, ev)]
    negs: set[int] = set()
    mask = sum(1 << (k - 1) for k in steps)
    for j, exclusion in enumerate(spec.exclusions, 1):
        if _matches(exclusion.step, ev):
            low, high = exclusion.bounds(n)
            negs.update(-(i + 1) for i in range(low, high))
            mask += 1 << (n + j - 1)
    ordered = (*steps, *sorted(negs, reverse=True))
    bk = ev.props.get(spec.breakdown, "") if spec.breakdown else ""
    return _Ev(idx, ev.us, ordered, ordered, bk or "", mask)


class _Walk:
    def __init__(self, spec: FunnelSpec) -> None:
        self.spec, self.n, self.w = spec, len(spec.steps), spec.window_us
        self.entered: list[_State | None] = [None] * (self.n + 1)
        self.max_step: tuple[int, _State | None] = (0, None)

    def run(self, events: Sequence[_Ev]) -> _Outcome | None:
        for ts, grp in groupby(events, key=lambda e: e.us):
            group = list(grp)
            self.entered[0] = _State(start=ts)
            if len(group) == 1 or len({e.sig for e in group}) == 1:
                for e in group:
                    self.process(e, e.steps, multi=False)
            else:
                flat = sorted(((e, k) for e in group for k in e.steps if k > 0), key=lambda p: p[1])
                for e, k in flat:
                    self.process(e, (k,), multi=True)
            if self.entered[self.n] is not None:
                break
        reach, state = self.max_step
        if state is None or state.excluded:
            return None
        return _Outcome(reach, tuple(state.times), state.bk)

    def process(self, e: _Ev, steps: tuple[int, ...], multi: bool) -> None:
        for raw in reversed(steps):
            self.one_step(e, abs(raw), raw < 0, multi)
        if not multi and self.spec.order is Order.STRICT:
            for i in range(1, self.n + 1):
                if i not in e.steps:
                    self.entered[i] = None

    def one_step(self, e: _Ev, k: int, exclusion: bool, multi: bool) -> None:
        prev, cur = self.entered[k - 1], self.entered[k]
        if prev is None or e.us - prev.start > self.w:
            return
        if cur is not None and cur.start == prev.start:
            return
        if exclusion:
            self.exclude(e, k, prev)
            return
        if multi and e.idx in prev.ids:
            return
        new = _State(prev.start, prev.excluded, [*prev.times, e.us], [*prev.ids, e.idx], e.bk if k == 1 else prev.bk)
        if not prev.excluded:
            self.entered[k] = new
        best, state = self.max_step
        if k > best or (k == best and state is not None and state.excluded):
            self.max_step = (k, replace(new))

    def exclude(self, e: _Ev, k: int, prev: _State) -> None:
        if prev.excluded:
            return
        prev.excluded = True
        best, state = self.max_step
        if best == k - 1 and state is not None and e.us - state.start <= self.w:
            state.excluded = True


def _unordered(spec: FunnelSpec, events: Sequence[_Ev]) -> _Outcome | None:
    n, w = len(spec.steps), spec.window_us
    groups: dict[Step, list[int]] = {}
    for k, step in enumerate(spec.steps, 1):
        groups.setdefault(step, []).append(k)
    candidates = []
    for anchor in (e for e in events if any(k > 0 for k in e.steps)):
        inside = [e for e in events if anchor.us <= e.us <= anchor.us + w]
        times: list[int] = []
        for ks in groups.values():
            hits = sorted((e.us, e.idx) for e in inside if ks[0] in e.steps)
            times += [us for us, _ in hits[: len(ks)]]
        times.sort()
        tau = _unordered_taint(spec, events, anchor, times, n)
        candidates.append((anchor, times, tau))
    return _pick(candidates, n, latest_first=False)


def _unordered_taint(spec: FunnelSpec, events: Sequence[_Ev], anchor: _Ev, times: list[int], n: int) -> int | None:
    if not spec.exclusions:
        return None
    mixed = _mixed_times(events)
    end = times[n - 1] if len(times) >= n else None
    hits = [
        e.us
        for e in events
        if any(k < 0 for k in e.steps)
        and (e.us not in mixed)
        and anchor.us < e.us
        and (end is None or e.us < end)
        and e.us - anchor.us <= spec.window_us
    ]
    return min(hits, default=None)


def _mixed_times(events: Sequence[_Ev]) -> set[int]:
    sigs: dict[int, set[tuple[int, ...]]] = {}
    for e in events:
        sigs.setdefault(e.us, set()).add(e.sig)
    return {us for us, s in sigs.items() if len(s) > 1}


def _pick(candidates: list[tuple[_Ev, list[int], int | None]], n: int, latest_first: bool) -> _Outcome | None:
    def eff(times: list[int], tau: int | None) -> int:
        return len(times) if tau is None else min(len(times), sum(t < tau for t in times) + 1)

    if not candidates:
        return None
    best = max(eff(t, tau) for _, t, tau in candidates)
    clean = [(a, t) for a, t, tau in candidates if tau is None and len(t) == best]
    if not clean:
        return None
    sign = -1 if latest_first else 1
    anchor, times = min(clean, key=lambda c: (c[1][-1], sign * c[0].us, c[0].idx))
    return _Outcome(len(times), tuple(times), anchor.bk)


def _person(spec: FunnelSpec, events: list[RefEvent]) -> _Outcome | None:
    encoded = [_encode(spec, e, i) for i, e in enumerate(events)]
    if spec.order is not Order.STRICT:
        encoded = [e for e in encoded if e.mask]
    encoded.sort(key=lambda e: (e.us, e.mask, e.bk))
    encoded = [replace(e, idx=i) for i, e in enumerate(encoded)]
    if spec.order is Order.UNORDERED:
        return _unordered(spec, encoded)
    return _Walk(spec).run(encoded)


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _summary(spec: FunnelSpec, outcomes: Iterable[_Outcome]) -> tuple[StepResult, ...]:
    rows = list(outcomes)
    counts = [sum(o.reach >= k for o in rows) for k in range(1, len(spec.steps) + 1)]
    out = []
    for k, step in enumerate(spec.steps, 1):
        secs = [(o.times[k - 1] - o.times[k - 2]) / 1e6 for o in rows if k > 1 and o.reach >= k]
        positive = [s for s in secs if s > 0]
        prev = counts[k - 2] if k > 1 else counts[0]
        avg = round(sum(positive) / len(positive), 6) if positive else None
        med = _median(positive)
        out.append(
            StepResult(
                step.name,
                counts[k - 1],
                counts[k - 1] / prev if prev else 0.0,
                counts[k - 1] / counts[0] if counts[0] else 0.0,
                avg,
                None if med is None else round(med, 6),
            )
        )
    return tuple(out)


def reference_funnel(spec: FunnelSpec, events: Iterable[RefEvent]) -> FunnelResult:
    """The funnel of ``events`` under ``spec``, computed in plain Python."""
    by_person: dict[str, list[RefEvent]] = {}
    for ev in events:
        by_person.setdefault(ev.person, []).append(ev)
    outcomes = [o for evs in by_person.values() if (o := _person(spec, evs)) is not None]
    steps = _summary(spec, outcomes)
    if spec.breakdown is None:
        return FunnelResult(steps)
    values = sorted({o.bk for o in outcomes})
    split = {v: _summary(spec, [o for o in outcomes if o.bk == v]) for v in values}
    return FunnelResult(steps, dict(sorted(split.items(), key=lambda kv: (-kv[1][0].count, kv[0]))))
