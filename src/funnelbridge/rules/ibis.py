"""The Ibis compiler: a condition → a boolean column over all leads at once (the batch path).

Input tables (see :mod:`funnelbridge.scoring.batch` for how they are loaded from the store):

* a **lead table**, one row per contact: ``contact_id`` plus one column per lead field, named
  :func:`column_name` (``contact.title`` → ``contact__title``). Text, numbers, booleans and UTC timestamps are
  plain columns; list fields (``account.technologies``) are text with the elements joined by
  :data:`LIST_SEPARATOR`;
* an **event table**, one row per event: ``contact_id``, ``type``, ``occurred_at`` (UTC timestamp), ``path``,
  ``campaign``, ``source``, ``medium``.

``events.*`` leaves become grouped event tables (count, or newest time, per contact) left-joined to the lead
table — or, when the caller computed them already (the batch scorer does, in its single pass over the events),
columns of the lead table (:func:`lead_frame` with ``events=None``). The semantics are those of
:mod:`funnelbridge.rules.python` — missing values make every operator false but ``not_exists``, text compares
ignore case unless ``case_sensitive``, a property test holds the two compilers to the same answers.
``properties.<key>`` fields (free-form JSON) are not compiled here: :func:`unsupported` names them, and callers
fall back to the Python compiler.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from funnelbridge.domain.clock import as_utc
from funnelbridge.domain.durations import parse_duration
from funnelbridge.errors import EngineError
from funnelbridge.rules.ast import AllOf, AnyOf, FieldCondition, Node, Op, leaves
from funnelbridge.rules.emails import FREE_EMAIL_DOMAINS, email_domain
from funnelbridge.rules.fields import FieldType, field_type

__all__ = [
    "LIST_SEPARATOR",
    "LeadFrame",
    "aggregate_leaves",
    "column_name",
    "compile_event_condition",
    "lead_fields",
    "lead_frame",
    "unsupported",
]

LIST_SEPARATOR = "\x1f"
_ORDER_OPS = {Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN}
_US_PER_DAY = 86_400_000_000.0
_DOMAIN_OPS = {Op.IS_FREE_EMAIL, Op.DOMAIN_IN}
_DOMAIN = "domain__"  # the lead frame computes each e-mail field's domain once, as domain__<column>


def column_name(field_name: str) -> str:
    """The lead-table column of a lead field: ``contact.title`` → ``contact__title``."""
    return field_name.replace(".", "__")


def unsupported(conditions: Sequence[Node | None]) -> list[str]:
    """Fields this compiler cannot handle (free-form ``properties`` keys), sorted."""
    names = {leaf.field for c in conditions for leaf in leaves(c, into_where=True) if "properties." in leaf.field}
    return sorted(names)


def lead_fields(conditions: Sequence[Node | None]) -> set[str]:
    """The lead fields (not ``events.*``) the conditions read: the columns a lead table needs."""
    return {leaf.field for c in conditions for leaf in leaves(c) if not leaf.field.startswith("events.")}


# --- leaf tests ---------------------------------------------------------------------------------------------


def _false() -> ir.BooleanValue:
    return ibis.literal(False)


def _norm(col: ir.StringValue, cs: bool) -> ir.StringValue:
    return col if cs else col.lower()


def _text(value: Any, cs: bool) -> str:
    text = str(value)
    return text if cs else text.lower()


def _present(col: ir.Value, ftype: FieldType) -> ir.BooleanValue:
    if ftype in (FieldType.STR, FieldType.LIST):
        return col.notnull() & (col.length() > 0)  # type: ignore[attr-defined,no-any-return]
    return col.notnull()  # type: ignore[no-any-return]


def _domain(col: ir.StringValue) -> ir.StringValue:
    """As :func:`funnelbridge.rules.emails.email_domain`: after the last ``@``, trimmed, lower-case, no ``www.``
    (an anchored pattern and a prefix test: cheaper than searching for the end of the text)."""
    text = col.lower().re_replace(r"(?s)^.*@", "").strip()
    return ibis.ifelse(text.startswith("www."), text.substr(4), text)


def _literal_for(value: Any, ftype: FieldType) -> Any:
    if ftype == FieldType.TIME and isinstance(value, str):
        return ibis.timestamp(as_utc(datetime.fromisoformat(value)))
    if isinstance(value, datetime):
        return ibis.timestamp(as_utc(value))
    return value


def _kind_ok(value: Any, ftype: FieldType) -> bool:
    if ftype in (FieldType.STR, FieldType.LIST):
        return isinstance(value, str)
    if ftype == FieldType.NUM:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if ftype == FieldType.BOOL:
        return isinstance(value, bool)
    return ftype == FieldType.TIME and isinstance(value, str | datetime)


def _order_test(col: ir.Value, leaf: FieldCondition, ftype: FieldType) -> ir.BooleanValue:
    values = list(leaf.value) if leaf.op == Op.BETWEEN else [leaf.value]
    if ftype not in (FieldType.NUM, FieldType.TIME) or not all(_kind_ok(v, ftype) for v in values):
        return _false()
    bounds = [_literal_for(v, ftype) for v in values]
    tests = {
        Op.GT: lambda: col > bounds[0],
        Op.GTE: lambda: col >= bounds[0],
        Op.LT: lambda: col < bounds[0],
        Op.LTE: lambda: col <= bounds[0],
        Op.BETWEEN: lambda: col.between(bounds[0], bounds[1]),  # type: ignore[attr-defined]
    }
    return tests[leaf.op]()  # type: ignore[no-untyped-call,no-any-return]


def _list_test(col: ir.StringValue, leaf: FieldCondition) -> ir.BooleanValue:
    cs, sep = leaf.case_sensitive, LIST_SEPARATOR
    wrapped = sep + _norm(col, cs) + sep

    def member(value: Any) -> ir.BooleanValue:
        return wrapped.contains(sep + _text(value, cs) + sep) if isinstance(value, str) else _false()

    def any_of(values: Sequence[Any]) -> ir.BooleanValue:
        tests = [member(v) for v in values]
        return ibis.or_(*tests) if tests else _false()

    if leaf.op in (Op.EQ, Op.CONTAINS):
        return member(leaf.value)
    if leaf.op == Op.NE:
        return ~member(leaf.value)
    if leaf.op in (Op.IN, Op.NOT_IN):
        found = any_of(list(leaf.value))
        return found if leaf.op == Op.IN else ~found
    return _false()


def _text_test(col: ir.StringValue, leaf: FieldCondition, domain: ir.StringValue | None = None) -> ir.BooleanValue:
    op, cs, value = leaf.op, leaf.case_sensitive, leaf.value
    if op == Op.MATCHES:
        return col.re_search(("" if cs else "(?i)") + str(value))
    if op == Op.IS_FREE_EMAIL:
        return (_domain(col) if domain is None else domain).isin(sorted(FREE_EMAIL_DOMAINS))
    if op == Op.DOMAIN_IN:
        domain = _domain(col) if domain is None else domain
        wanted = [email_domain(str(v)) for v in value]
        tests = [(domain == w) | domain.endswith("." + w) for w in wanted]
        return ibis.or_(*tests) if tests else _false()
    if op in (Op.CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH):
        needle = _text(value, cs)
        normed = _norm(col, cs)
        return {Op.CONTAINS: normed.contains, Op.STARTS_WITH: normed.startswith, Op.ENDS_WITH: normed.endswith}[op](
            needle
        )
    return _equality_test(_norm(col, cs), leaf, FieldType.STR)


def _equality_test(col: ir.Value, leaf: FieldCondition, ftype: FieldType) -> ir.BooleanValue:
    op, cs = leaf.op, leaf.case_sensitive

    def lit(v: Any) -> Any:
        return _text(v, cs) if ftype == FieldType.STR else _literal_for(v, ftype)

    if op in (Op.IN, Op.NOT_IN):
        wanted = [lit(v) for v in leaf.value if _kind_ok(v, ftype)]
        found = col.isin(wanted) if wanted else _false()
        return found if op == Op.IN else ~found
    if op in (Op.EQ, Op.NE):
        same = (col == lit(leaf.value)) if _kind_ok(leaf.value, ftype) else _false()
        return same if op == Op.EQ else ~same
    return _false()


def _leaf_test(
    col: ir.Value, leaf: FieldCondition, ftype: FieldType, domain: ir.StringValue | None = None
) -> ir.BooleanValue:
    if leaf.op == Op.EXISTS:
        return _present(col, ftype)
    if leaf.op == Op.NOT_EXISTS:
        return ~_present(col, ftype)
    if leaf.op in _ORDER_OPS:
        test = _order_test(col, leaf, ftype)
    elif ftype == FieldType.LIST:
        test = _list_test(col, leaf)  # type: ignore[arg-type]
    elif ftype == FieldType.STR:
        test = _text_test(col, leaf, domain)  # type: ignore[arg-type]
    else:
        test = _equality_test(col, leaf, ftype)
    return (_present(col, ftype) & test).fill_null(False)  # type: ignore[no-any-return]


def _combine(node: Node, leaf_fn: Any) -> ir.BooleanValue:
    if isinstance(node, FieldCondition):
        return leaf_fn(node)  # type: ignore[no-any-return]
    if isinstance(node, AllOf):
        parts = [_combine(c, leaf_fn) for c in node.all]
        return ibis.and_(*parts) if parts else ibis.literal(True)
    if isinstance(node, AnyOf):
        parts = [_combine(c, leaf_fn) for c in node.any]
        return ibis.or_(*parts) if parts else _false()
    return ~_combine(node.not_, leaf_fn)


def _check_supported(field_name: str) -> None:
    if "properties." in field_name:
        raise EngineError(f"the Ibis compiler does not handle free-form field {field_name!r}; use the Python path")


_TEXT_TIME_ENGINES = {"sqlite"}
"""Ibis engines that store timestamps as text and compare them as text (``2025-04-01T00:00:00+00:00`` sorts
after ``2025-04-01 00:00:00``) and cannot subtract them: time conditions are refused there, not answered wrong."""


def _check_engine(table: ir.Table, conditions: Sequence[Node | None], *, event_level: bool) -> None:
    try:
        engine = ibis.get_backend(table).name
    except Exception:  # an unbound expression: the engine is chosen at execution
        return
    if engine not in _TEXT_TIME_ENGINES:
        return
    for cond in conditions:
        for leaf in leaves(cond, into_where=True):
            timed = (
                leaf.field.startswith("events.") or field_type(leaf.field, event_level=event_level) == FieldType.TIME
            )
            if timed:
                raise EngineError(
                    f"the Ibis compiler cannot compare times on {engine} (it compares them as text): "
                    f"{leaf.field!r} needs DuckDB (the batch scorer's engine) or the Python path"
                )


def compile_event_condition(events: ir.Table, condition: Node) -> ir.BooleanValue:
    """An event-level condition (a rule's ``where``) as a boolean column of ``events``."""
    _check_engine(events, [condition], event_level=True)

    def leaf_fn(leaf: FieldCondition) -> ir.BooleanValue:
        _check_supported(leaf.field)
        ftype = field_type(leaf.field, event_level=True) or FieldType.ANY
        return _leaf_test(events[leaf.field], leaf, ftype)

    return _combine(condition, leaf_fn)


# --- lead frames --------------------------------------------------------------------------------------------


def _aggregate_key(leaf: FieldCondition) -> str:
    data = leaf.model_dump(mode="json", by_alias=True, include={"field", "event", "where", "within"})
    return json.dumps(data, sort_keys=True)


def _aggregate(events: ir.Table, leaf: FieldCondition, as_of: datetime, name: str) -> ir.Table:
    keep = events.occurred_at <= ibis.timestamp(as_of)
    if leaf.event is not None:
        keep &= events.type == leaf.event
    if leaf.where is not None:
        keep &= compile_event_condition(events, leaf.where)
    if leaf.within is not None:
        keep &= events.occurred_at >= ibis.timestamp(as_of - parse_duration(leaf.within))
    kept = events.filter(keep)
    grouped = kept.group_by("contact_id")
    if leaf.field == "events.count":
        return grouped.aggregate(**{name: kept.count()})
    return grouped.aggregate(**{name: kept.occurred_at.max()})


@dataclass
class LeadFrame:
    """A lead table joined with the event aggregates its conditions need; compiles conditions over it."""

    table: ir.Table
    as_of: datetime
    aggregates: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (column, field)

    def value(self, leaf: FieldCondition) -> ir.Value:
        """The column a leaf compares: a lead field, or the value of its event aggregate."""
        if not leaf.field.startswith("events."):
            return self.table[column_name(leaf.field)]
        column, fname = self.aggregates[_aggregate_key(leaf)]
        raw = self.table[column]
        if fname == "events.count":
            return raw.fill_null(0).cast("float64")  # type: ignore[attr-defined,no-any-return]
        age_us = raw.delta(ibis.timestamp(self.as_of), unit="microsecond")  # type: ignore[attr-defined]
        return (-age_us).cast("float64") / _US_PER_DAY  # type: ignore[no-any-return]

    def predicate(self, condition: Node) -> ir.BooleanValue:
        """A lead-level condition as a boolean column of :attr:`table`."""

        def leaf_fn(leaf: FieldCondition) -> ir.BooleanValue:
            _check_supported(leaf.field)
            ftype = field_type(leaf.field) or FieldType.ANY
            name = _DOMAIN + column_name(leaf.field)
            domain = self.table[name] if leaf.op in _DOMAIN_OPS and name in self.table.columns else None
            return _leaf_test(self.value(leaf), leaf, ftype, domain)

        return _combine(condition, leaf_fn)


def aggregate_leaves(conditions: Sequence[Node | None]) -> list[FieldCondition]:
    """The distinct ``events.*`` leaves of ``conditions``, in order: the lead frame's ``agg_0``, ``agg_1``, ..."""
    found: dict[str, FieldCondition] = {}
    for cond in conditions:
        for leaf in leaves(cond):
            if leaf.field.startswith("events."):
                found.setdefault(_aggregate_key(leaf), leaf)
    return list(found.values())


def lead_frame(
    leads: ir.Table, events: ir.Table | None, conditions: Sequence[Node | None], as_of: datetime
) -> LeadFrame:
    """Join ``leads`` with one grouped event table per distinct ``events.*`` leaf of ``conditions`` (and add the
    domain of each text field that ``is_free_email``/``domain_in`` read, computed once).

    With ``events=None`` the lead table carries the aggregates itself, as columns ``agg_0``, ``agg_1``, ... in the
    order of :func:`aggregate_leaves`: the number of matching events (``events.count``) or the time of the newest
    (``events.days_since_last``, null when none)."""
    _check_engine(leads, conditions, event_level=False)
    as_of = as_utc(as_of)
    frame = LeadFrame(leads, as_of)
    table = leads
    for i, leaf in enumerate(aggregate_leaves(conditions)):
        name = f"agg_{i}"
        frame.aggregates[_aggregate_key(leaf)] = (name, leaf.field)
        if events is not None:
            agg = _aggregate(events, leaf, as_of, name).rename(contact_id_agg="contact_id")
            table = table.left_join(agg, table.contact_id == agg.contact_id_agg).drop("contact_id_agg")
    domains = {
        column_name(leaf.field)
        for c in conditions
        for leaf in leaves(c)
        if leaf.op in _DOMAIN_OPS and field_type(leaf.field) == FieldType.STR
    }
    frame.table = table.mutate(**{_DOMAIN + name: _domain(table[name]) for name in sorted(domains)})
    return frame
