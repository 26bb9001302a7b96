"""The incremental scorer's per-lead state and its arithmetic: times as integer microseconds, the state classes,
an event rule's line of the explanation as numbers, the explanation built from those numbers on demand, and
``events.*`` aggregates (see :mod:`funnelbridge.scoring.incremental`)."""

from __future__ import annotations

from bisect import insort
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from funnelbridge.rules.python import EventPredicate
from funnelbridge.scoring.decay import SECONDS_PER_DAY, capped_total, decay_factor
from funnelbridge.scoring.results import RulePoints
from funnelbridge.scoring.rules_engine import event_points
from funnelbridge.scoring.ruleset import EventRule

__all__ = [
    "AggregateSpec",
    "AggregateState",
    "LeadState",
    "Line",
    "RuleState",
    "add_aggregate",
    "age_days",
    "aggregate_value",
    "event_line",
    "explain",
    "from_us",
    "to_us",
]

US = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Line = tuple[int, float, float, int, int | None, list[RulePoints] | None]
"""An event rule's line of the explanation as numbers: the rule's index in its group, its points, raw points,
events counted, (expiry rules) the time of the first counted event that earned points, and (rules without a
half-life) a cell for its ``RulePoints`` once built: those lines do not depend on the as-of time and are kept from
score to score until the next event or expiry, so their ``RulePoints`` is built once."""


def to_us(at: datetime) -> int:
    """An aware time as integer microseconds since the epoch (exact)."""
    d = at - EPOCH
    return (d.days * 86400 + d.seconds) * US + d.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def age_days(now_us: int, at_us: int) -> float:
    """Age in days, with the very arithmetic of ``(now - at).total_seconds() / 86400``."""
    return ((now_us - at_us) / US) / SECONDS_PER_DAY


class RuleState:
    """What one event rule's points need (see the module docstring of the scorer)."""

    __slots__ = ("anchor", "day", "day_n", "done", "line", "line_expired", "live", "n", "raw", "s")

    def __init__(self) -> None:
        self.done = False  # a matching event was taken (non-repeatable rules take only the first)
        self.day: int | None = None  # local day ordinal of the newest matching event (per-day caps)
        self.day_n = 0  # matching events on that day so far
        self.n = 0  # events counted (rules without expiry)
        self.raw = 0.0
        self.s = 0.0  # decayed sum at ``anchor`` (half-life rules without expiry)
        self.anchor = 0
        self.live: deque[tuple[int, float]] = deque()  # (time, earned) not yet expired (expiry rules)
        self.line: Line | None = None  # rules without half-life: the line, kept until the next event (or expiry)
        self.line_expired = 0  # expiry rules: how many of ``live`` had expired for ``line``


class AggregateState:
    """One ``events.*`` leaf: matching events counted, the newest one, and the times inside ``within``."""

    __slots__ = ("n", "newest", "times")

    def __init__(self) -> None:
        self.n = 0
        self.newest: int | None = None
        self.times: deque[int] = deque()


class LeadState:
    """One lead's incremental scoring state under one playbook version."""

    __slots__ = (
        "active", "aggregates", "attr_hits", "attr_key", "attr_src", "attr_sums", "dyn_key", "events", "last_us",
        "rules", "version", "watermark",
    )  # fmt: skip

    def __init__(self, version: str, groups: Sequence[int], aggregates: int) -> None:
        self.version = version
        self.last_us: int | None = None  # newest event applied
        self.events = 0  # events applied
        self.watermark = 0  # the store's newest applied event id (set by the store path)
        self.rules: list[list[RuleState | None]] = [[None] * n for n in groups]
        self.active: list[list[int]] = [[] for _ in groups]  # per group: indices of the rules with a state
        self.aggregates = [AggregateState() for _ in range(aggregates)]
        self.attr_key: tuple[Any, ...] | None = None  # lead fields read by attribute rules, at the last score
        self.attr_hits: list[list[bool]] = []  # per group, per attribute rule: holds (replaced, never mutated)
        self.attr_src: tuple[Any, ...] | None = None  # the mappings those fields were read from
        self.dyn_key: tuple[float | None, ...] | None = None  # the event aggregates attribute rules read, then
        self.attr_sums: tuple[Any, ...] | None = None  # (attr_hits, per group: fit, negative, lines) for those hits

    def rule_state(self, group: int, index: int) -> RuleState:
        """The rule's state, created (and marked active) on first use."""
        rs = self.rules[group][index]
        if rs is None:
            rs = self.rules[group][index] = RuleState()
            insort(self.active[group], index)
        return rs

    def set_rules(self, rules: list[list[RuleState | None]]) -> None:
        self.rules = rules
        self.active = [[i for i, rs in enumerate(group) if rs is not None] for group in rules]


@dataclass(frozen=True)
class AggregateSpec:
    key: str
    count: bool
    event: str | None
    where: EventPredicate | None
    within_us: int | None


def event_line(index: int, rule: EventRule, rs: RuleState, now: int) -> Line | None:
    """The rule's line at ``now`` — the arithmetic of ``score_event_rule``. Lines of rules without a half-life
    change only with a new event or an expiry, so they are kept until then."""
    if rule.expires_days is not None:
        return _expiring_line(index, rule, rule.expires_days, rs, now)
    if rs.n == 0:
        return None
    half = rule.half_life_days
    if half is None:
        line = rs.line
        if line is None:
            line = rs.line = (index, capped_total(rs.raw, rule.total), rs.raw, rs.n, None, [])
        return line
    value = rs.s * decay_factor(age_days(now, rs.anchor), half)
    if rs.n == 1:
        value = 0.0 + value
    return (index, capped_total(value, rule.total), rs.raw, rs.n, None, None)


def _expiring_line(index: int, rule: EventRule, days: float, rs: RuleState, now: int) -> Line | None:
    expired = 0
    for t, _ in rs.live:
        if age_days(now, t) <= days:
            break
        expired += 1
    half = rule.half_life_days
    if half is None and rs.line is not None and rs.line_expired == expired:
        return rs.line
    counted, value, raw, first = 0, 0.0, 0.0, None
    built: list[RulePoints] | None = [] if half is None else None
    for k, (t, earned) in enumerate(rs.live):
        if k < expired:
            continue
        counted += 1
        raw += earned
        value += earned * decay_factor(age_days(now, t), half)
        if earned != 0 and first is None:
            first = t
    line = None if counted == 0 else (index, capped_total(value, rule.total), raw, counted, first, built)
    if half is None:
        rs.line, rs.line_expired = line, expired
    return line


def explain(
    rules: Sequence[EventRule], attribute: tuple[RulePoints, ...], lines: Sequence[Line], as_of: datetime
) -> Iterator[RulePoints]:
    """The explanation of a group's score from the attribute lines that held and the event rules' numbers."""
    yield from attribute
    halves: dict[float, str] = {}  # halves_at text per half-life (the same for every rule with that half-life)
    for index, points, raw, counted, first, built in lines:
        rule = rules[index]
        half = rule.half_life_days
        if half is None:
            assert built is not None  # lines of rules without a half-life carry their cell
            if not built:
                expiry = None if first is None else from_us(first) + timedelta(days=rule.expires_days or 0.0)
                built.append(event_points(rule, points, raw, counted, as_of, expiry))
            yield built[0]
            continue
        expiry = None if first is None else from_us(first) + timedelta(days=rule.expires_days or 0.0)
        text = halves.get(half)
        if text is None:
            text = halves[half] = (as_of + timedelta(days=half)).isoformat()
        ends = None if expiry is None else expiry.isoformat()
        yield RulePoints(rule.name, rule.kind, points, raw, counted, half, text, ends)


def add_aggregate(spec: AggregateSpec, agg: AggregateState, t: int) -> None:
    agg.n += 1
    agg.newest = t
    if spec.within_us is not None:
        agg.times.append(t)
        while agg.times[0] < t - spec.within_us:
            agg.times.popleft()


def aggregate_value(spec: AggregateSpec, agg: AggregateState, now: int) -> float | None:
    start = None if spec.within_us is None else now - spec.within_us
    if spec.count:
        if start is None:
            return float(agg.n)
        n = len(agg.times)
        for t in agg.times:  # oldest first: only the few that left the window are visited
            if t >= start:
                break
            n -= 1
        return float(n)
    if agg.newest is None or (start is not None and agg.newest < start):
        return None
    return age_days(now, agg.newest)
