"""The Python compiler: a condition → a predicate over one lead's :class:`~funnelbridge.rules.facts.LeadFacts`.

This is the incremental path (one lead, one event). :mod:`funnelbridge.rules.ibis` compiles the same AST for all
leads at once; both follow the semantics below, and a property test holds them to the same answers.

Semantics of a leaf:

* A missing value (None, ``""``, an empty list) makes every operator false except ``not_exists`` — so ``ne`` and
  ``not_in`` are false on a missing value too (wrap ``not`` around ``eq``/``in`` to include missing values).
* Text comparisons (``eq``, ``ne``, ``in``, ``not_in``, ``contains``, ``starts_with``, ``ends_with``, ``matches``)
  ignore case unless the leaf says ``case_sensitive: true``. ``matches`` is a regular-expression search.
* A list field (``account.technologies``) holds when any element does: ``contains``/``eq`` test membership,
  ``in`` tests overlap, ``not_in``/``ne`` hold when no element matches.
* Ordering operators (``gt`` ... ``between``, inclusive) compare numbers with numbers, times with times (ISO
  text values are read as UTC times) and text with text; mixed kinds are false.
* ``events.count`` counts the lead's events up to ``as_of`` of type ``event`` (any type when omitted) for which
  ``where`` holds, within ``[as_of - within, as_of]`` when ``within`` is set; ``events.days_since_last`` is the
  age in days of the newest such event (missing when there is none).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from funnelbridge.domain.clock import as_utc
from funnelbridge.domain.durations import parse_duration
from funnelbridge.rules.ast import AllOf, AnyOf, FieldCondition, NotOf, Op
from funnelbridge.rules.emails import FREE_EMAIL_DOMAINS, domain_matches, email_domain
from funnelbridge.rules.facts import EventFact, LeadFacts
from funnelbridge.rules.fields import FieldType, field_type

__all__ = [
    "EventPredicate",
    "Predicate",
    "aggregate_key",
    "compile_event_predicate",
    "compile_predicate",
    "event_aggregate",
    "is_missing",
    "lead_getter",
    "matching_events",
]

Predicate = Callable[[LeadFacts], bool]
EventPredicate = Callable[[EventFact], bool]
Matcher = Callable[[Any], bool]
Node = FieldCondition | AllOf | AnyOf | NotOf

_ORDER_OPS = {Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN}


def is_missing(value: Any) -> bool:
    """None, empty text and empty lists count as missing."""
    return value is None or (isinstance(value, str | list | tuple) and len(value) == 0)


def _norm(value: Any, case_sensitive: bool) -> Any:
    return value if case_sensitive or not isinstance(value, str) else value.lower()


def _orderable(value: Any, ftype: FieldType) -> Any:
    """A comparable form of a rule value: ISO text → UTC time for time fields."""
    if ftype == FieldType.TIME and isinstance(value, str):
        return as_utc(datetime.fromisoformat(value))
    if isinstance(value, datetime):
        return as_utc(value)
    return value


def _same_kind(a: Any, b: Any) -> bool:
    def kind(v: Any) -> str:
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "number"
        return type(v).__name__

    return kind(a) == kind(b)


def _order_matcher(op: Op, value: Any, ftype: FieldType) -> Matcher:
    bounds = [_orderable(v, ftype) for v in value] if op == Op.BETWEEN else [_orderable(value, ftype)]
    tests: dict[Op, Callable[[Any], bool]] = {
        Op.GT: lambda x: x > bounds[0],
        Op.GTE: lambda x: x >= bounds[0],
        Op.LT: lambda x: x < bounds[0],
        Op.LTE: lambda x: x <= bounds[0],
        Op.BETWEEN: lambda x: bounds[0] <= x <= bounds[1],
    }
    test = tests[op]

    def match(actual: Any) -> bool:
        actual = _orderable(actual, ftype)
        return all(_same_kind(actual, b) for b in bounds) and test(actual)

    return match


def _scalar_matcher(leaf: FieldCondition, ftype: FieldType) -> Matcher:
    op, cs = leaf.op, leaf.case_sensitive
    value = leaf.value
    if op in _ORDER_OPS:
        return _order_matcher(op, value, ftype)
    if op in (Op.IN, Op.NOT_IN):
        wanted = {_norm(v, cs) for v in value}
        return (lambda x: _norm(x, cs) in wanted) if op == Op.IN else (lambda x: _norm(x, cs) not in wanted)
    if op == Op.MATCHES:
        pattern = re.compile(str(value), 0 if cs else re.IGNORECASE)
        return lambda x: isinstance(x, str) and pattern.search(x) is not None
    if op == Op.IS_FREE_EMAIL:
        return lambda x: isinstance(x, str) and email_domain(x) in FREE_EMAIL_DOMAINS
    if op == Op.DOMAIN_IN:
        domains = [str(v) for v in value]
        return lambda x: isinstance(x, str) and domain_matches(x, domains)
    target = _norm(value, cs)
    text_tests: dict[Op, Matcher] = {
        Op.EQ: lambda x: _norm(x, cs) == target,
        Op.NE: lambda x: _norm(x, cs) != target,
        Op.CONTAINS: lambda x: isinstance(x, str) and str(target) in _norm(x, cs),
        Op.STARTS_WITH: lambda x: isinstance(x, str) and _norm(x, cs).startswith(str(target)),
        Op.ENDS_WITH: lambda x: isinstance(x, str) and _norm(x, cs).endswith(str(target)),
    }
    return text_tests[op]


def _list_matcher(leaf: FieldCondition) -> Matcher:
    op, cs = leaf.op, leaf.case_sensitive
    if op in (Op.IN, Op.NOT_IN):
        wanted = {_norm(v, cs) for v in leaf.value}
        if op == Op.IN:
            return lambda xs: any(_norm(x, cs) in wanted for x in xs)
        return lambda xs: not any(_norm(x, cs) in wanted for x in xs)
    if op in (Op.EQ, Op.CONTAINS, Op.NE):
        target = _norm(leaf.value, cs)
        found: Matcher = lambda xs: any(_norm(x, cs) == target for x in xs)  # noqa: E731
        return (lambda xs: not found(xs)) if op == Op.NE else found
    return lambda xs: False


_FAST_TEXT: dict[Op, Callable[[str, Any], bool]] = {
    Op.EQ: lambda y, t: y == t,
    Op.NE: lambda y, t: y != t,
    Op.STARTS_WITH: str.startswith,
    Op.ENDS_WITH: str.endswith,
    Op.CONTAINS: lambda y, t: t in y,
    Op.IN: lambda y, t: y in t,
    Op.NOT_IN: lambda y, t: y not in t,
}


def _fast_text(leaf: FieldCondition, generic: Matcher) -> Matcher:
    """A quicker equivalent of ``generic`` for the common text operators (the incremental hot path)."""
    op, cs, value = leaf.op, leaf.case_sensitive, leaf.value
    test = _FAST_TEXT.get(op)
    if test is None or (op not in (Op.IN, Op.NOT_IN) and not isinstance(value, str)):
        return generic
    target: Any = frozenset(_norm(v, cs) for v in value) if op in (Op.IN, Op.NOT_IN) else _norm(value, cs)

    def match(actual: Any) -> bool:
        if type(actual) is not str:
            return generic(actual)
        if not actual:
            return False
        return test(actual if cs else actual.lower(), target)

    return match


def leaf_matcher(leaf: FieldCondition, ftype: FieldType) -> Matcher:
    """The test a leaf applies to a field's value (missing-value rule included)."""
    generic = _leaf_matcher(leaf, ftype)
    return _fast_text(leaf, generic) if ftype == FieldType.STR else generic


def _leaf_matcher(leaf: FieldCondition, ftype: FieldType) -> Matcher:
    if leaf.op == Op.EXISTS:
        return lambda x: not is_missing(x)
    if leaf.op == Op.NOT_EXISTS:
        return is_missing
    scalar = _scalar_matcher(leaf, ftype) if ftype != FieldType.LIST else None
    listy = _list_matcher(leaf)

    def match(actual: Any) -> bool:
        if is_missing(actual):
            return False
        try:
            if isinstance(actual, list | tuple):
                return listy(actual)
            return scalar(actual) if scalar is not None else False
        except TypeError:
            return False

    return match


# --- field access -------------------------------------------------------------------------------------------


def lead_getter(name: str) -> Callable[[LeadFacts], Any]:
    if name.startswith("contact.properties."):
        key = name.removeprefix("contact.properties.")
        return lambda f: (f.contact.get("properties") or {}).get(key)
    scope, _, attr = name.partition(".")
    if scope == "contact":
        return lambda f: f.contact.get(attr)
    if scope == "account":
        return lambda f: f.account.get(attr) if f.account is not None else None
    if scope == "score":
        return lambda f: f.score.get(attr) if f.score is not None else None
    if scope == "bant":
        return lambda f: f.bant.get(attr)
    raise KeyError(name)


def _event_getter(name: str) -> Callable[[EventFact], Any]:
    if name.startswith("properties."):
        key = name.removeprefix("properties.")
        return lambda e: e.properties.get(key)
    return lambda e: getattr(e, name)


def matching_events(
    facts: LeadFacts, event: str | None, where: EventPredicate | None, within: timedelta | None = None
) -> Iterable[EventFact]:
    """The lead's events up to ``as_of`` of type ``event`` (any when None) passing ``where``, inside ``within``."""
    start = facts.as_of - within if within is not None else None
    for e in facts.events:
        if e.occurred_at > facts.as_of or (start is not None and e.occurred_at < start):
            continue
        if (event is None or e.type == event) and (where is None or where(e)):
            yield e


def aggregate_key(leaf: FieldCondition) -> str:
    """A stable name of an ``events.*`` leaf's value (field, event, where, within — not the comparison), under
    which :attr:`LeadFacts.aggregates` may hold it precomputed."""
    where = leaf.where.model_dump(mode="json", by_alias=True) if leaf.where is not None else None
    parts = {"field": leaf.field, "event": leaf.event, "within": leaf.within, "where": where}
    return json.dumps(parts, sort_keys=True, separators=(",", ":"))


def event_aggregate(leaf: FieldCondition) -> Callable[[LeadFacts], float | None]:
    """The value of an ``events.*`` leaf for one lead: a count, or days since the newest matching event (read from
    ``facts.aggregates`` when it holds the leaf's :func:`aggregate_key`)."""
    compute = _scan_aggregate(leaf)
    key = aggregate_key(leaf)

    def value(f: LeadFacts) -> float | None:
        known = f.aggregates
        if known is not None and key in known:
            return known[key]
        return compute(f)

    return value


def _scan_aggregate(leaf: FieldCondition) -> Callable[[LeadFacts], float | None]:
    where = compile_event_predicate(leaf.where) if leaf.where is not None else None
    within = parse_duration(leaf.within) if leaf.within else None
    if leaf.field == "events.count":
        return lambda f: float(sum(1 for _ in matching_events(f, leaf.event, where, within)))

    def days_since_last(f: LeadFacts) -> float | None:
        newest = max((e.occurred_at for e in matching_events(f, leaf.event, where, within)), default=None)
        return None if newest is None else (f.as_of - newest).total_seconds() / 86400.0

    return days_since_last


# --- compilation --------------------------------------------------------------------------------------------


def _compile(node: Node, leaf_fn: Callable[[FieldCondition], Callable[[Any], bool]]) -> Callable[[Any], bool]:
    if isinstance(node, FieldCondition):
        return leaf_fn(node)
    if isinstance(node, AllOf):
        parts = [_compile(c, leaf_fn) for c in node.all]
        return lambda x: all(p(x) for p in parts)
    if isinstance(node, AnyOf):
        parts = [_compile(c, leaf_fn) for c in node.any]
        return lambda x: any(p(x) for p in parts)
    inner = _compile(node.not_, leaf_fn)
    return lambda x: not inner(x)


def _lead_leaf(leaf: FieldCondition) -> Predicate:
    ftype = field_type(leaf.field) or FieldType.ANY
    match = leaf_matcher(leaf, ftype)
    if leaf.field.startswith("events."):
        aggregate = event_aggregate(leaf)
        return lambda f: match(aggregate(f))
    get = lead_getter(leaf.field)
    return lambda f: match(get(f))


def _event_leaf(leaf: FieldCondition) -> EventPredicate:
    ftype = field_type(leaf.field, event_level=True) or FieldType.ANY
    match, get = leaf_matcher(leaf, ftype), _event_getter(leaf.field)
    return lambda e: match(get(e))


def compile_predicate(condition: Node) -> Predicate:
    """Compile a lead-level condition into ``predicate(facts) -> bool``."""
    return _compile(condition, _lead_leaf)


def compile_event_predicate(condition: Node) -> EventPredicate:
    """Compile an event-level condition (the ``where`` of an event rule) into ``predicate(event) -> bool``."""
    return _compile(condition, _event_leaf)
