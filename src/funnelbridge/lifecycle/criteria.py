"""Evaluating stage entry criteria (``enter_when``) for one lead, through the rules' Python compiler."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from funnelbridge.playbook.schema import Pipeline
from funnelbridge.rules.facts import load_lead_facts
from funnelbridge.rules.python import compile_predicate

__all__ = ["first_holding"]

_COMPILED: dict[int, tuple[object, Callable[[Any], bool]]] = {}


def _predicate(condition: object) -> Callable[[Any], bool]:
    hit = _COMPILED.get(id(condition))
    if hit is None or hit[0] is not condition:
        if len(_COMPILED) > 256:
            _COMPILED.clear()
        hit = _COMPILED[id(condition)] = (condition, compile_predicate(condition))  # type: ignore[arg-type]
    return hit[1]


def first_holding(
    conn: Connection, pipe: Pipeline, contact_id: int, candidates: Sequence[str], as_of: datetime
) -> str | None:
    """The first of ``candidates`` (ordered by preference) whose entry criteria hold for the lead now.
    Stages without criteria never hold. Facts are loaded once, and only when some candidate has criteria."""
    conditions = [(s, pipe.stage(s).enter_when) for s in candidates]
    if not any(c is not None for _, c in conditions):
        return None
    facts = load_lead_facts(conn, contact_id, as_of)
    for stage, condition in conditions:
        if condition is not None and _predicate(condition)(facts):
            return stage
    return None
