"""Incremental rule scoring: a lead's score *state*, updated event by event and evaluated at any later time.

:func:`~funnelbridge.scoring.rules_engine.score_facts` rescans all of a lead's events: O(rules × events). A
:class:`LeadState` keeps, per group and event rule, just what the rule's points need, so that an event arriving in
time order costs O(rules matching it) and scoring the lead at a time not before its newest event costs O(rules):

* events counted and raw points; for half-life rules the decayed sum relative to an anchor time (the newest
  event), since Σ p·2^(−(t−t_i)/h) = 2^(−(t−anchor)/h) · Σ p·2^(−(anchor−t_i)/h), rebased on each event;
* the current day's count for per-day caps (events arrive in order, so earlier days are final);
* whether the first matching event was taken, for rules that are not repeatable;
* the not-yet-expired events (time, earned points) of expiry rules;
* per ``events.count`` / ``events.days_since_last`` leaf of an attribute rule or a stage criterion: the count, the
  newest time and, with ``within``, the times inside the window.

Attribute rules without event aggregates are re-evaluated only when a field they read changes. Which rules and
aggregates an event feeds is looked up by its type and remembered by the values of the fields their ``where``
conditions read (when those are plain text fields: ``path``, ``campaign``, ``source``, ``medium``).

A score's numbers (total, fit, engagement, grade, temperature, quadrant, MQL eligibility) are computed at once;
its explanation (:class:`~funnelbridge.scoring.results.Explanation`) keeps each event rule's numbers at scoring
time — later events do not change it — and builds its lines (names, ISO times) only when read.

``score_facts`` stays the reference and the fallback (an out-of-order event, another playbook version, no state):
the two agree exactly except for the decayed sum of two or more events, which agrees to rounding (~1e-12 relative).
Times are integer microseconds since the Unix epoch, so the state round-trips through JSON exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from funnelbridge.playbook.schema import Playbook
from funnelbridge.rules.ast import FieldCondition, Node, leaves
from funnelbridge.rules.facts import EventFact, LeadFacts
from funnelbridge.rules.python import EventPredicate, aggregate_key, compile_event_predicate, lead_getter
from funnelbridge.scoring.decay import day_earned, decay_factor
from funnelbridge.scoring.incremental_state import (
    AggregateSpec,
    AggregateState,
    LeadState,
    Line,
    RuleState,
    add_aggregate,
    age_days,
    aggregate_value,
    event_line,
    explain,
    from_us,
    to_us,
)
from funnelbridge.scoring.results import Explanation, GroupScore, RulePoints, group_score
from funnelbridge.scoring.rules_engine import CompiledRuleSet, compile_scoring, zone
from funnelbridge.scoring.ruleset import EventRule

__all__ = ["AggregateState", "IncrementalScorer", "LeadState", "RuleState", "from_us", "scorer_for", "to_us"]

MATCH_CACHE_LIMIT = 4096
HITS_MEMO_LIMIT = 4096
_CACHEABLE = frozenset({"path", "campaign", "source", "medium"})
Matched = tuple[tuple["_RuleSpec", ...], tuple[int, ...]]


@dataclass(frozen=True)
class _RuleSpec:
    group: int
    index: int
    rule: EventRule
    where: EventPredicate | None


class _TypePlan:
    """The event rules and aggregates one event type can feed, and which of them an event matches — remembered by
    the event's values of ``fields`` (the fields their conditions read) unless ``fields`` is None (not cacheable)."""

    def __init__(
        self, specs: tuple[_RuleSpec, ...], aggs: tuple[tuple[int, AggregateSpec], ...], fields: tuple[str, ...] | None
    ) -> None:
        self.specs, self.aggs = specs, aggs
        self.cache: dict[Any, Matched] = {}
        self.key: Callable[[EventFact], Any] | None = None
        if fields:
            self.key = attrgetter(*fields)
        elif fields is not None:
            self.key = lambda _: None

    def match(self, event: EventFact) -> Matched:
        if self.key is None:
            return self._evaluate(event)
        key = self.key(event)
        hit = self.cache.get(key)
        if hit is None:
            if len(self.cache) >= MATCH_CACHE_LIMIT:
                self.cache.clear()
            hit = self.cache[key] = self._evaluate(event)
        return hit

    def _evaluate(self, event: EventFact) -> Matched:
        specs = tuple(s for s in self.specs if s.where is None or s.where(event))
        return specs, tuple(i for i, a in self.aggs if a.where is None or a.where(event))


def _agg_spec(leaf: FieldCondition) -> AggregateSpec:
    from funnelbridge.domain.durations import parse_duration

    within = parse_duration(leaf.within) if leaf.within else None
    return AggregateSpec(
        aggregate_key(leaf),
        leaf.field == "events.count",
        leaf.event,
        compile_event_predicate(leaf.where) if leaf.where is not None else None,
        None if within is None else within // timedelta(microseconds=1),
    )


def _conditions(playbook: Playbook, compiled: Sequence[CompiledRuleSet]) -> Iterator[Node]:
    for c in compiled:
        yield from (r.when for r in c.rules.attribute_rules)
    for pipe in playbook.pipelines.values():
        yield from (s.enter_when for s in pipe.stages if s.enter_when is not None)


def _read_fields(wheres: Iterable[Node | None]) -> tuple[str, ...] | None:
    """The event fields the conditions read, sorted; None when one is not a plain text field."""
    names = {leaf.field for where in wheres if where is not None for leaf in leaves(where)}
    return tuple(sorted(names)) if names <= _CACHEABLE else None


class IncrementalScorer:
    """A playbook compiled for incremental scoring (build it with :func:`scorer_for`)."""

    def __init__(self, playbook: Playbook) -> None:
        self.playbook, self.version = playbook, playbook.version
        self.tz: ZoneInfo = zone(playbook.timezone)
        self.compiled = compile_scoring(playbook.scoring)
        self.names = tuple(c.rules.group for c in self.compiled)
        self.event_rules = tuple(c.rules.event_rules for c in self.compiled)
        self.engaging = tuple(tuple(r.kind == "engagement" for r in rules) for rules in self.event_rules)
        by_type: dict[str, list[_RuleSpec]] = {}
        for g, c in enumerate(self.compiled):
            for i, (rule, where) in enumerate(zip(c.rules.event_rules, c.event_predicates, strict=True)):
                by_type.setdefault(rule.event, []).append(_RuleSpec(g, i, rule, where))
        self.by_type = {k: tuple(v) for k, v in by_type.items()}
        specs: dict[str, tuple[AggregateSpec, Node | None]] = {}
        for cond in _conditions(playbook, self.compiled):
            for leaf in leaves(cond):
                if leaf.field.startswith("events."):
                    specs.setdefault(aggregate_key(leaf), (_agg_spec(leaf), leaf.where))
        self.aggs = tuple(spec for spec, _ in specs.values())
        self._agg_wheres = tuple(where for _, where in specs.values())
        in_scoring = {
            aggregate_key(leaf)
            for c in self.compiled
            for r in c.rules.attribute_rules
            for leaf in leaves(r.when)
            if leaf.field.startswith("events.")
        }
        self._scoring_aggs = tuple(i for i, a in enumerate(self.aggs) if a.key in in_scoring)
        wheres = [r.where for c in self.compiled for r in c.rules.event_rules] + list(self._agg_wheres)
        self.event_fields = frozenset(
            leaf.field.split(".", 1)[0] for where in wheres if where is not None for leaf in leaves(where)
        )
        """The fields besides ``type`` and ``occurred_at`` (``properties`` for ``properties.*``) that the event
        rules' and aggregates' conditions read: the others never change a score."""
        self._plans: dict[str, _TypePlan] = {}
        self._hits_memo: dict[Any, list[list[bool]]] = {}
        self._sums_memo: dict[int, tuple[Any, ...]] = {}
        self._setup_attributes()

    def _setup_attributes(self) -> None:
        """Which attribute rules read event aggregates (re-evaluated every time), which fields the others read."""
        fields: dict[str, Callable[[LeadFacts], Any]] = {}
        self.dynamic: list[tuple[bool, ...]] = []
        self.attr_points: list[tuple[RulePoints, ...]] = []
        for c in self.compiled:
            flags = []
            for rule in c.rules.attribute_rules:
                names = [leaf.field for leaf in leaves(rule.when)]
                flags.append(any(n.startswith("events.") for n in names))
                fields.update((n, lead_getter(n)) for n in names if n not in fields and not n.startswith("events."))
            self.dynamic.append(tuple(flags))
            self.attr_points.append(tuple(RulePoints(r.name, r.kind, r.points) for r in c.rules.attribute_rules))
        self._getters = tuple(fields.values())
        self.has_dynamic = any(any(flags) for flags in self.dynamic)
        self._dynamic = tuple(
            (g, i, pred)
            for g, (flags, c) in enumerate(zip(self.dynamic, self.compiled, strict=True))
            for i, (dyn, pred) in enumerate(zip(flags, c.attribute_predicates, strict=True))
            if dyn
        )

    def new_state(self) -> LeadState:
        return LeadState(self.version, [len(c.rules.event_rules) for c in self.compiled], len(self.aggs))

    def _plan(self, event_type: str) -> _TypePlan:
        plan = self._plans.get(event_type)
        if plan is None:
            specs = self.by_type.get(event_type, ())
            aggs = tuple((i, a) for i, a in enumerate(self.aggs) if a.event is None or a.event == event_type)
            wheres = [s.rule.where for s in specs] + [self._agg_wheres[i] for i, _ in aggs]
            plan = self._plans[event_type] = _TypePlan(specs, aggs, _read_fields(wheres))
        return plan

    # --- events -----------------------------------------------------------------------------------------------

    def apply(self, state: LeadState, event: EventFact) -> bool:
        """Add one event; False (state unchanged) when it is older than the newest event already applied."""
        t = to_us(event.occurred_at)
        if state.last_us is not None and t < state.last_us:
            return False
        state.last_us, state.events = t, state.events + 1
        specs, aggs = self._plan(event.type).match(event)
        day: int | None = None
        for spec in specs:
            rule = spec.rule
            if rule.per_day is not None and day is None:
                day = event.occurred_at.astimezone(self.tz).toordinal()
            self._add(rule, state.rule_state(spec.group, spec.index), t, day)
        for i in aggs:
            add_aggregate(self.aggs[i], state.aggregates[i], t)
        return True

    def _add(self, rule: EventRule, rs: RuleState, t: int, day: int | None) -> None:
        if rs.done and not rule.repeatable:
            return
        rs.done, rs.line = True, None
        earned = rule.points
        if rule.per_day is not None:
            if day != rs.day:
                rs.day, rs.day_n = day, 0
            earned = day_earned(rule.points, rs.day_n, rule.per_day)
            rs.day_n += 1
        if rule.expires_days is not None:
            live = rs.live
            live.append((t, earned))
            while age_days(t, live[0][0]) > rule.expires_days:
                live.popleft()
            return
        rs.n += 1
        rs.raw += earned
        if rule.half_life_days is not None:
            rs.s = earned if rs.n == 1 else rs.s * decay_factor(age_days(t, rs.anchor), rule.half_life_days) + earned
            rs.anchor = t

    def replay(self, events: Iterable[EventFact], as_of: datetime) -> LeadState:
        """A fresh state from a lead's events up to ``as_of`` (the full recompute, in any input order)."""
        state = self.new_state()
        for e in sorted((e for e in events if e.occurred_at <= as_of), key=lambda e: e.occurred_at):
            self.apply(state, e)
        return state

    # --- scoring ----------------------------------------------------------------------------------------------

    def can_score(self, state: LeadState, as_of: datetime) -> bool:
        return state.version == self.version and (state.last_us is None or to_us(as_of) >= state.last_us)

    def aggregate_values(self, state: LeadState, as_of: datetime) -> dict[str, float | None]:
        """The ``events.*`` leaves' values at ``as_of`` (for :attr:`LeadFacts.aggregates`)."""
        now = to_us(as_of)
        return {
            spec.key: aggregate_value(spec, agg, now) for spec, agg in zip(self.aggs, state.aggregates, strict=True)
        }

    def score(self, state: LeadState, facts: LeadFacts, *, contact_id: int = 0) -> tuple[GroupScore, ...]:
        """Every group's score at ``facts.as_of`` from the state (contact, account, score and BANT from ``facts``;
        its events are not read). Requires :meth:`can_score`."""
        now = to_us(facts.as_of)
        if state.version != self.version or (state.last_us is not None and now < state.last_us):
            raise ValueError("the state is of another playbook version or newer than as_of")
        sums = self._attribute_sums(state, facts, now)
        return tuple([self._group_score(g, state, sums[g], now, facts.as_of, contact_id) for g in range(len(sums))])

    def _group_score(
        self, g: int, state: LeadState, attribute: tuple[float, float, tuple[RulePoints, ...]], now: int,
        as_of: datetime, contact_id: int,
    ) -> GroupScore:  # fmt: skip
        """One group's numbers in the order of ``score_facts`` (attribute lines, then event rules in rule order);
        the explanation keeps the event rules' numbers and is built when read."""
        fit, negative, attribute_lines = attribute
        engagement = 0.0
        rules, states, engaging = self.event_rules[g], state.rules[g], self.engaging[g]
        lines: list[Line] = []
        for i in state.active[g]:
            line = event_line(i, rules[i], states[i], now)  # type: ignore[arg-type]
            if line is not None:
                lines.append(line)
                if engaging[i]:
                    engagement += line[1]
                else:
                    negative += line[1]
        explanation = Explanation(build=explain, args=(rules, attribute_lines, lines, as_of))
        name, scoring = self.names[g], self.playbook.scoring
        return group_score(scoring, contact_id, name, fit, engagement, negative, as_of, self.version, explanation)

    def _attribute_sums(
        self, state: LeadState, facts: LeadFacts, now: int
    ) -> list[tuple[float, float, tuple[RulePoints, ...]]]:
        """Per group: fit and negative points of the attribute rules that hold, and their lines (kept while the
        rules' answers are the same)."""
        hits = self._hits(state, facts, now)
        cached = state.attr_sums
        if cached is None or cached[0] is not hits:
            cached = self._sums_memo.get(id(hits))  # hits shared by many leads (``_remembered``): summed once
        if cached is not None and cached[0] is hits:
            state.attr_sums = cached
            return cached[1]  # type: ignore[no-any-return]
        sums = []
        for g, group_hits in enumerate(hits):
            fit = negative = 0.0
            held = tuple(p for hit, p in zip(group_hits, self.attr_points[g], strict=True) if hit)
            for item in held:
                if item.kind == "fit":
                    fit += item.points
                else:
                    negative += item.points
            sums.append((fit, negative, held))
        state.attr_sums = (hits, sums)
        if len(self._sums_memo) >= HITS_MEMO_LIMIT:
            self._sums_memo.clear()
        self._sums_memo[id(hits)] = state.attr_sums  # keeps ``hits`` alive: its id is not reused meanwhile
        return sums

    def _hits(self, state: LeadState, facts: LeadFacts, now: int) -> list[list[bool]]:
        """Which attribute rules hold. Kept while the facts' mappings are the same (facts are immutable) or the
        lead fields the rules read have the same values; rules reading event aggregates are re-evaluated when
        those aggregates change. A changed answer is a new list (never mutated)."""
        src = (facts.contact, facts.account, facts.score, facts.bant)
        last = state.attr_src
        same = last is not None and bool(state.attr_hits) and src == last  # items compared by identity first
        key = state.attr_key
        if not same:
            state.attr_src = src
            key = tuple(get(facts) for get in self._getters)
            same = state.attr_key == key and bool(state.attr_hits)
            state.attr_key = key
        if not self.has_dynamic:
            if not same:
                state.attr_hits = self._remembered(key, (), lambda: facts)
            return state.attr_hits
        specs, aggs = self.aggs, state.aggregates
        values = tuple(aggregate_value(specs[i], aggs[i], now) for i in self._scoring_aggs)
        if same and values == state.dyn_key:
            return state.attr_hits

        def with_aggs() -> LeadFacts:
            known = {specs[i].key: v for i, v in zip(self._scoring_aggs, values, strict=True)}
            return LeadFacts(facts.contact, facts.account, facts.score, facts.bant, (), facts.as_of, known)

        state.dyn_key = values
        if not same:
            state.attr_hits = self._remembered(key, values, with_aggs)
            return state.attr_hits
        old, current = state.attr_hits, with_aggs()
        changed = [(g, i, hit) for g, i, pred in self._dynamic if (hit := pred(current)) != old[g][i]]
        if changed:
            state.attr_hits = [list(group) for group in old]
            for g, i, hit in changed:
                state.attr_hits[g][i] = hit
        return state.attr_hits

    def _remembered(
        self, key: tuple[Any, ...] | None, values: tuple[float | None, ...], facts: Callable[[], LeadFacts]
    ) -> list[list[bool]]:
        """Every attribute rule's answer for a lead whose read fields have the values ``key`` and whose event
        aggregates are ``values``: remembered across leads (values told apart by type too: 1, 1.0 and True may
        compare differently), since many leads share them — anonymous visitors have none of the fields. The lists
        are shared between states: never mutated (a changed answer is a new list)."""
        memo_key = (key, tuple(map(type, key or ())), values)
        try:
            hits = self._hits_memo.get(memo_key)
        except TypeError:  # an unhashable field value (a list or a mapping): evaluated every time
            return self._evaluate_hits(facts())
        if hits is None:
            if len(self._hits_memo) >= HITS_MEMO_LIMIT:
                self._hits_memo.clear()
            hits = self._hits_memo[memo_key] = self._evaluate_hits(facts())
        return hits

    def _evaluate_hits(self, facts: LeadFacts) -> list[list[bool]]:
        return [[pred(facts) for pred in c.attribute_predicates] for c in self.compiled]


_SCORERS: dict[int, tuple[Playbook, IncrementalScorer]] = {}


def scorer_for(playbook: Playbook) -> IncrementalScorer:
    """The playbook's compiled incremental scorer (cached per playbook object)."""
    hit = _SCORERS.get(id(playbook))
    if hit is not None and hit[0] is playbook:
        return hit[1]
    if len(_SCORERS) > 32:
        _SCORERS.clear()
    scorer = IncrementalScorer(playbook)
    _SCORERS[id(playbook)] = (playbook, scorer)
    return scorer
