"""What an ordered event funnel asks for: steps, window, order, exclusions, breakdown.

Variants are values: ``FunnelSpec(steps, order=Order.STRICT)``, never a subclass. The CLI spelling of steps
(``EVENT[:PROP=VALUE]``) and exclusions (``EVENT[:PROP=VALUE][@FROM-TO]``) is parsed here too, so the library and
the command line accept exactly the same thing.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from funnelbridge.domain.durations import parse_duration
from funnelbridge.errors import InputError

__all__ = [
    "DEFAULT_WINDOW",
    "Exclusion",
    "FunnelSpec",
    "Order",
    "Step",
    "build_spec",
    "parse_exclusion",
    "parse_step",
    "parse_window",
]

DEFAULT_WINDOW = timedelta(days=14)
MAX_STEPS = 30


class Order(enum.StrEnum):
    """How steps must follow each other inside one attempt."""

    ORDERED = "ordered"  # in sequence, other events allowed between
    STRICT = "strict"  # in sequence, no other event of the person between two steps
    UNORDERED = "unordered"  # any order, all inside one window


@dataclass(frozen=True)
class Step:
    """An event filter: the event name and ``(property, value)`` pairs that must all be equal (as text)."""

    event: str
    filters: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        """``pageview`` or ``pageview:path=/pricing`` (the CLI spelling, also the JSON step name)."""
        return self.event + "".join(f":{prop}={value}" for prop, value in self.filters)


def _covers(step: Step, exclusion: Step) -> bool:
    """PostHog's ``is_equal(step, exclusion) or is_superset(step, exclusion)``: the same event, and the step's filters
    are among the exclusion's — so every event the exclusion matches is also the step's."""
    return step.event == exclusion.event and not Counter(step.filters) - Counter(exclusion.filters)


@dataclass(frozen=True)
class Exclusion:
    """People whose attempt shows ``step`` after reaching step ``from_step`` and before ``to_step`` (1-based)."""

    step: Step
    from_step: int = 1
    to_step: int | None = None  # None: the last step

    def bounds(self, n_steps: int) -> tuple[int, int]:
        return self.from_step, self.to_step if self.to_step is not None else n_steps


@dataclass(frozen=True)
class FunnelSpec:
    """A whole funnel; validated on construction (raises :class:`InputError`)."""

    steps: tuple[Step, ...]
    window: timedelta = DEFAULT_WINDOW
    order: Order = Order.ORDERED
    exclusions: tuple[Exclusion, ...] = ()
    breakdown: str | None = None

    def __post_init__(self) -> None:
        if not self.steps:
            raise InputError("a funnel needs at least one step", field="steps")
        if len(self.steps) > MAX_STEPS:
            raise InputError(f"at most {MAX_STEPS} steps, got {len(self.steps)}", field="steps")
        if self.window <= timedelta(0):
            raise InputError(f"the window must be positive, got {self.window}", field="window")
        for exclusion in self.exclusions:
            self._check_exclusion(exclusion)

    def _check_exclusion(self, exclusion: Exclusion) -> None:
        n = len(self.steps)
        low, high = exclusion.bounds(n)
        where = f"exclusion {exclusion.step.name}"
        if n < 2:
            raise InputError("exclusions need a funnel of at least two steps", field=where)
        if not 1 <= low < high <= n:
            raise InputError(f"range {low}-{high} must satisfy 1 <= FROM < TO <= {n}", field=where)
        for number in range(low, high + 1):
            if _covers(self.steps[number - 1], exclusion.step):
                raise InputError(
                    f"step {number} ({self.steps[number - 1].name}) matches every event the exclusion matches: an "
                    "exclusion cannot contain an event that is part of the funnel's steps in its range (as in PostHog)",
                    field=where,
                )
        if self.order is Order.UNORDERED and (low, high) != (1, n):
            raise InputError(f"unordered funnels only allow exclusions over the whole funnel (1-{n})", field=where)

    @property
    def window_us(self) -> int:
        """The window in whole microseconds (exact comparisons on every engine)."""
        return self.window // timedelta(microseconds=1)

    @property
    def properties(self) -> tuple[str, ...]:
        """Every property column the spec reads, in first-use order."""
        names = [p for s in (*self.steps, *(e.step for e in self.exclusions)) for p, _ in s.filters]
        if self.breakdown:
            names.append(self.breakdown)
        return tuple(dict.fromkeys(names))


def parse_step(text: str) -> Step:
    """``EVENT`` or ``EVENT:PROP=VALUE`` (the value is everything after the first ``=``)."""
    event, sep, rest = text.partition(":")
    if not event.strip():
        raise InputError(f"step {text!r}: expected EVENT or EVENT:PROP=VALUE, the event name is empty")
    if not sep:
        return Step(event.strip())
    prop, eq, value = rest.partition("=")
    if not eq or not prop.strip():
        raise InputError(f"step {text!r}: expected EVENT:PROP=VALUE after the ':'")
    return Step(event.strip(), ((prop.strip(), value),))


def parse_exclusion(text: str) -> Exclusion:
    """``EVENT[:PROP=VALUE][@FROM-TO]`` with 1-based step numbers; no range means the whole funnel."""
    body, at, bounds = text.rpartition("@")
    if not at:
        return Exclusion(parse_step(text))
    low, dash, high = bounds.partition("-")
    if not (dash and low.strip().isdigit() and high.strip().isdigit()):
        raise InputError(f"exclusion {text!r}: expected EVENT@FROM-TO with step numbers, e.g. cancel@1-3")
    return Exclusion(parse_step(body), int(low), int(high))


def parse_window(text: str) -> timedelta:
    """A CLI window (``14d``, ``5m``, ``15s``) as a timedelta; :class:`InputError` when unreadable."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InputError(str(exc), field="--window") from None


def build_spec(steps: list[str], *, window: str, order: str, exclude: list[str], breakdown: str | None) -> FunnelSpec:
    """A :class:`FunnelSpec` from the command line's strings; :class:`InputError` on anything unreadable."""
    try:
        chosen = Order(order.strip().lower())
    except ValueError:
        raise InputError(f"expected ordered, strict or unordered, got {order!r}", field="--order") from None
    return FunnelSpec(
        steps=tuple(parse_step(s) for s in steps),
        window=parse_window(window),
        order=chosen,
        exclusions=tuple(parse_exclusion(e) for e in exclude),
        breakdown=breakdown or None,
    )
