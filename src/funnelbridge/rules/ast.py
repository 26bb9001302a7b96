"""The condition AST: ``{field, op, value}`` leaves combined with ``all`` / ``any`` / ``not``.

YAML forms::

    {field: contact.title, op: matches, value: "vp|director"}              # case-insensitive by default
    {field: account.employees, op: between, value: [50, 500]}
    {field: events.count, event: page_view, where: {field: path, op: eq, value: /pricing},
     within: 30d, op: gte, value: 3}
    {all: [...]}   {any: [...]}   {not: {...}}

A leaf whose field starts with ``events.`` is an aggregate over the lead's events: ``event`` filters the event
type, ``where`` filters on event attributes (``path``, ``properties.<key>``, ``campaign``), ``within`` limits to
the trailing window before the evaluation time. The compilers live in :mod:`funnelbridge.rules.python` and
:mod:`funnelbridge.rules.ibis`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, field_validator

from funnelbridge.domain.durations import parse_duration

__all__ = ["AllOf", "AnyOf", "Condition", "FieldCondition", "Node", "NotOf", "Op", "leaves", "parse_condition"]


class Op(StrEnum):
    """Comparison operators of a leaf."""

    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    MATCHES = "matches"
    EXISTS = "exists"
    NOT_EXISTS = "not_exists"
    IS_FREE_EMAIL = "is_free_email"
    DOMAIN_IN = "domain_in"


_FROZEN = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class FieldCondition(BaseModel):
    """A leaf: compare one field (or an event aggregate) with a value."""

    model_config = _FROZEN

    field: str
    op: Op
    value: Any = None
    case_sensitive: bool = False
    event: str | None = None
    where: Condition | None = None
    within: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _dates_as_iso(cls, value: Any) -> Any:
        """YAML reads an unquoted ``2025-06-01`` as a date: keep it as ISO text, as the compilers expect."""
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, list | tuple):
            return [v.isoformat() if isinstance(v, date) else v for v in value]
        return value

    @field_validator("within")
    @classmethod
    def _check_within(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class AllOf(BaseModel):
    """True when every child is true (true when empty)."""

    model_config = _FROZEN
    all: tuple[Condition, ...]


class AnyOf(BaseModel):
    """True when at least one child is true (false when empty)."""

    model_config = _FROZEN
    any: tuple[Condition, ...]


class NotOf(BaseModel):
    """Negation of its child."""

    model_config = _FROZEN
    not_: Condition = Field(alias="not")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("all", "any", "not"):
            if key in value:
                return key
        return "field"
    kinds: dict[type, str] = {AllOf: "all", AnyOf: "any", NotOf: "not"}
    return kinds.get(type(value), "field")


Condition = Annotated[
    Union[  # noqa: UP007
        Annotated[FieldCondition, Tag("field")],
        Annotated[AllOf, Tag("all")],
        Annotated[AnyOf, Tag("any")],
        Annotated[NotOf, Tag("not")],
    ],
    Discriminator(_kind),
]

for _model in (FieldCondition, AllOf, AnyOf, NotOf):
    _model.model_rebuild()

_ADAPTER: TypeAdapter[FieldCondition | AllOf | AnyOf | NotOf] = TypeAdapter(Condition)


def parse_condition(data: Any) -> FieldCondition | AllOf | AnyOf | NotOf:
    """Validate a plain dict (from YAML) into a condition."""
    return _ADAPTER.validate_python(data)


Node = FieldCondition | AllOf | AnyOf | NotOf


def leaves(node: Node | None, *, into_where: bool = False) -> Iterator[FieldCondition]:
    """Every leaf of a condition (and, with ``into_where``, the leaves of ``events.*`` where filters)."""
    if node is None:
        return
    if isinstance(node, FieldCondition):
        yield node
        if into_where and node.where is not None:
            yield from leaves(node.where, into_where=True)
    elif isinstance(node, AllOf | AnyOf):
        for child in node.all if isinstance(node, AllOf) else node.any:
            yield from leaves(child, into_where=into_where)
    else:
        yield from leaves(node.not_, into_where=into_where)
