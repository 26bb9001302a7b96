"""The incremental scorer's per-lead state and its arithmetic: times as integer microseconds, the state classes,
an event rule's explanation line at a time, ``events.*`` aggregates (see :mod:`funnelbridge.scoring.incremental`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
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
    "RuleState",
    "add_aggregate",
    "age_days",
    "aggregate_value",
    "event_line",
    "from_us",
    "to_us",
]

US = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
    """What one event rule's points need (see the module docstring)."""

    __slots__ = ("anchor", "day", "day_n", "done", "item", "live", "n", "raw", "s")

    def __init__(self) -> None:
        self.done = False  # a matching event was taken (non-repeatable rules take only the first)
        self.day: int | None = None  # local day ordinal of the newest matching event (per-day caps)
        self.day_n = 0  # matching events on that day so far
        self.n = 0  # events counted (rules without expiry)
        self.raw = 0.0
        self.s = 0.0  # decayed sum at ``anchor`` (half-life rules without expiry)
        self.anchor = 0
        self.live: deque[tuple[int, float]] = deque()  # (time, earned) not yet expired (expiry rules)
        self.item: tuple[int, RulePoints | None] | None = None  # rules without half-life: (expired, line) cached


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
        "aggregates", "attr_hits", "attr_key", "attr_src", "dyn_key", "events", "last_us", "rules", "version",
        "watermark",
    )  # fmt: skip

    def __init__(self, version: str, groups: Sequence[int], aggregates: int) -> None:
        self.version = version
        self.last_us: int | None = None  # newest event applied
        self.events = 0  # events applied
        self.watermark = 0  # the store's newest applied event id (set by the store path)
        self.rules: list[list[RuleState | None]] = [[None] * n for n in groups]
        self.aggregates = [AggregateState() for _ in range(aggregates)]
        self.attr_key: tuple[Any, ...] | None = None  # lead fields read by attribute rules, at the last score
        self.attr_hits: list[list[bool]] = []  # per group, per attribute rule: holds
        self.attr_src: tuple[Any, ...] | None = None  # the mappings those fields were read from
        self.dyn_key: tuple[float | None, ...] | None = None  # the event aggregates attribute rules read, then


@dataclass(frozen=True)
class AggregateSpec:
    key: str
    count: bool
    event: str | None
    where: EventPredicate | None
    within_us: int | None


def event_line(
    rule: EventRule, rs: RuleState, now: int, as_of: datetime, halves: dict[float, str]
) -> RulePoints | None:
    """The rule's line of the explanation at ``now`` — the arithmetic of ``score_event_rule``. Lines of rules
    without a half-life change only with a new event or an expiry, so they are kept until then."""
    half = rule.half_life_days
    if rule.expires_days is None:
        if rs.n == 0:
            return None
        if half is None:
            if rs.item is None:
                rs.item = (0, event_points(rule, capped_total(rs.raw, rule.total), rs.raw, rs.n, as_of, None))
            return rs.item[1]
        value = rs.s * decay_factor(age_days(now, rs.anchor), half)
        value = 0.0 + value if rs.n == 1 else value
        return _line(rule, capped_total(value, rule.total), rs.raw, rs.n, as_of, None, halves)
    expired = 0
    for t, _ in rs.live:
        if age_days(now, t) <= rule.expires_days:
            break
        expired += 1
    if half is None and rs.item is not None and rs.item[0] == expired:
        return rs.item[1]
    item = _expiring_item(rule, rs, now, as_of, expired, halves)
    if half is None:
        rs.item = (expired, item)
    return item


def _expiring_item(
    rule: EventRule, rs: RuleState, now: int, as_of: datetime, expired: int, halves: dict[float, str]
) -> RulePoints | None:
    counted, value, raw, first = 0, 0.0, 0.0, None
    for k, (t, earned) in enumerate(rs.live):
        if k < expired:
            continue
        counted += 1
        raw += earned
        value += earned * decay_factor(age_days(now, t), rule.half_life_days)
        if earned != 0 and first is None:
            first = t
    if counted == 0:
        return None
    expiry = None if first is None else from_us(first) + timedelta(days=rule.expires_days or 0.0)
    return _line(rule, capped_total(value, rule.total), raw, counted, as_of, expiry, halves)


def _line(
    rule: EventRule,
    points: float,
    raw: float,
    counted: int,
    as_of: datetime,
    expiry: datetime | None,
    halves: dict[float, str],
) -> RulePoints:
    """``event_points`` with the ``halves_at`` text computed once per half-life and score."""
    half = rule.half_life_days
    if half is None:
        return event_points(rule, points, raw, counted, as_of, expiry)
    text = halves.get(half)
    if text is None:
        text = halves[half] = (as_of + timedelta(days=half)).isoformat()
    return RulePoints(
        rule.name, rule.kind, points, raw, counted, half, text, expiry.isoformat() if expiry is not None else None
    )


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
        return float(agg.n if start is None else sum(1 for t in agg.times if t >= start))
    if agg.newest is None or (start is not None and agg.newest < start):
        return None
    return age_days(now, agg.newest)
