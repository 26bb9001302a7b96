"""The field catalogue: every field a condition may name, with its type.

Lead-level fields (``contact.*``, ``account.*``, ``score.*``, ``bant.*``, ``events.*`` aggregates) appear in stage
criteria, scoring, routing and automation; event-level fields (``type``, ``path``, ``properties.<key>`` ...) appear
in the ``where`` filter of an event rule or aggregate. Unknown fields and operator/value type mismatches are
rejected at playbook load time.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from funnelbridge.rules.ast import FieldCondition, Op

__all__ = ["EVENT_FIELDS", "LEAD_FIELDS", "FieldType", "check_condition_leaf", "field_type"]


class FieldType(StrEnum):
    STR = "text"
    NUM = "number"
    BOOL = "boolean"
    TIME = "timestamp"
    LIST = "list"
    ANY = "any"


_S, _N, _B, _T, _L = FieldType.STR, FieldType.NUM, FieldType.BOOL, FieldType.TIME, FieldType.LIST

LEAD_FIELDS: dict[str, FieldType] = {
    **{
        f"contact.{n}": _S
        for n in (
            "email",
            "first_name",
            "last_name",
            "title",
            "seniority",
            "phone",
            "country",
            "first_source",
            "first_medium",
            "first_campaign",
            "last_source",
            "last_medium",
            "last_campaign",
            "external_id",
        )
    },
    "contact.unsubscribed": _B,
    "contact.bounced": _B,
    "contact.created_at": _T,
    "contact.identified_at": _T,
    **{f"account.{n}": _S for n in ("domain", "name", "industry", "country", "external_id")},
    "account.employees": _N,
    "account.annual_revenue": _N,
    "account.technologies": _L,
    **{f"score.{n}": _N for n in ("fit", "engagement", "negative", "total", "probability")},
    "score.fit_grade": _S,
    "score.temperature": _S,
    **{f"bant.{n}": _S for n in ("budget", "authority", "need", "timeline")},
    "events.count": _N,
    "events.days_since_last": _N,
}
"""Fields of a lead. ``contact.properties.<key>`` (any type) is also allowed."""

EVENT_FIELDS: dict[str, FieldType] = {
    "type": _S,
    "path": _S,
    "campaign": _S,
    "source": _S,
    "medium": _S,
    "occurred_at": _T,
}
"""Fields of one event. ``properties.<key>`` (any type) is also allowed."""

_NUMERIC_OPS = {Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN}
_TEXT_OPS = {Op.MATCHES, Op.STARTS_WITH, Op.ENDS_WITH, Op.IS_FREE_EMAIL, Op.DOMAIN_IN}
_LIST_VALUE_OPS = {Op.IN, Op.NOT_IN, Op.DOMAIN_IN}
_NO_VALUE_OPS = {Op.EXISTS, Op.NOT_EXISTS, Op.IS_FREE_EMAIL}


def field_type(name: str, *, event_level: bool = False) -> FieldType | None:
    """The type of ``name``, or None when it is not a known field."""
    catalogue, open_prefix = (EVENT_FIELDS, "properties.") if event_level else (LEAD_FIELDS, "contact.properties.")
    if name in catalogue:
        return catalogue[name]
    if name.startswith(open_prefix) and len(name) > len(open_prefix):
        return FieldType.ANY
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _time_problem(value: Any) -> str | None:
    """Why a timestamp field's comparison value is not an ISO time (``2025-06-01`` or ``2025-06-01T10:00+02:00``)."""
    for item in value if isinstance(value, list | tuple) else [value]:
        if isinstance(item, datetime | date):
            continue
        try:
            datetime.fromisoformat(str(item))
        except ValueError:
            return f"expected an ISO time such as 2025-06-01 or 2025-06-01T10:00:00+00:00, got {item!r}"
    return None


def _value_problem(leaf: FieldCondition, ftype: FieldType) -> str | None:
    op, value = leaf.op, leaf.value
    if op in _NO_VALUE_OPS:
        return None if value is None or op == Op.IS_FREE_EMAIL else f"op {op} takes no value"
    if value is None:
        return f"op {op} needs a value"
    if op in _LIST_VALUE_OPS and not isinstance(value, list | tuple):
        return f"op {op} needs a list value, got {value!r}"
    if op == Op.BETWEEN:
        if not (isinstance(value, list | tuple) and len(value) == 2):
            return f"op between needs [low, high], got {value!r}"
        if ftype == FieldType.NUM and not all(_is_number(v) for v in value):
            return f"expected numbers for a numeric field, got {value!r}"
        return _time_problem(value) if ftype == FieldType.TIME else None
    if op in _NUMERIC_OPS and ftype == FieldType.NUM and not _is_number(value):
        return f"expected a number, got {value!r}"
    if ftype == FieldType.TIME:
        return _time_problem(value)
    if op == Op.MATCHES:
        import re

        try:
            re.compile(str(value))
        except re.error as exc:
            return f"invalid regular expression {value!r}: {exc}"
        return _re2_problem(str(value))
    return None


_PYTHON_ONLY_GROUPS = ("(?=", "(?!", "(?<=", "(?<!", "(?P=", "(?>")


def _re2_problem(pattern: str) -> str | None:
    """Why ``pattern`` uses syntax Python's ``re`` has and RE2 (DuckDB's regular expressions, the batch path)
    lacks — look-arounds, back-references, atomic groups, possessive quantifiers, ``\\Z`` — or None."""
    i, in_class, previous = 0, False, ""
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped and escaped in "123456789Z" and not in_class:
                return f"regular expression {pattern!r}: \\{escaped} is not supported by the batch engine (RE2)"
            i, previous = i + 2, "x"
            continue
        if in_class:
            in_class = char != "]" or pattern[i - 1] == "["
        elif char == "[":
            in_class = True
        elif char == "(" and pattern.startswith(_PYTHON_ONLY_GROUPS, i):
            group = next(g for g in _PYTHON_ONLY_GROUPS if pattern.startswith(g, i))
            return f"regular expression {pattern!r}: {group}...) is not supported by the batch engine (RE2)"
        elif char == "+" and previous in ("*", "+", "?", "}"):
            return f"regular expression {pattern!r}: possessive {previous}+ is not supported by the batch engine (RE2)"
        previous = char if not in_class else ""
        i += 1
    return None


def check_condition_leaf(leaf: FieldCondition, *, event_level: bool = False) -> str | None:
    """Return why ``leaf`` is invalid (unknown field, op/type mismatch), or None when it is fine. The reason
    names the field, so a load error shows file, line, path and field even deep in a nested condition."""
    problem = _leaf_problem(leaf, event_level=event_level)
    if problem is None or repr(leaf.field) in problem or f" {leaf.field}" in problem:
        return problem
    return f"field {leaf.field!r}: {problem}"


def _leaf_problem(leaf: FieldCondition, *, event_level: bool) -> str | None:
    ftype = field_type(leaf.field, event_level=event_level)
    if ftype is None:
        known = sorted(EVENT_FIELDS if event_level else LEAD_FIELDS)
        extra = "properties.<key>" if event_level else "contact.properties.<key>"
        return f"unknown field {leaf.field!r} (known: {', '.join(known)}, {extra})"
    if leaf.field.startswith("events.") and leaf.op in _TEXT_OPS | {Op.CONTAINS}:
        return f"op {leaf.op} does not apply to the event aggregate {leaf.field}"
    if (leaf.event or leaf.where or leaf.within) and not leaf.field.startswith("events."):
        return "event/where/within only apply to events.* fields"
    if leaf.op in _NUMERIC_OPS and ftype in (FieldType.STR, FieldType.BOOL, FieldType.LIST):
        return f"op {leaf.op} needs a number or time field, {leaf.field} is {ftype}"
    if leaf.op in _TEXT_OPS and ftype in (FieldType.NUM, FieldType.BOOL, FieldType.LIST, FieldType.TIME):
        return f"op {leaf.op} needs a text field, {leaf.field} is {ftype}"
    return _value_problem(leaf, ftype)
