"""Evaluating stage entry criteria (``enter_when``) for one lead, through the rules' Python compiler."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from funnelbridge.playbook.schema import Pipeline
from funnelbridge.rules.facts import LeadFacts, load_lead_facts
from funnelbridge.rules.python import compile_predicate

__all__ = ["LeadCriteria"]

_COMPILED: dict[int, tuple[object, Callable[[Any], bool]]] = {}


def _predicate(condition: object) -> Callable[[Any], bool]:
    hit = _COMPILED.get(id(condition))
    if hit is None or hit[0] is not condition:
        if len(_COMPILED) > 256:
            _COMPILED.clear()
        hit = _COMPILED[id(condition)] = (condition, compile_predicate(condition))  # type: ignore[arg-type]
    return hit[1]


@dataclass
class LeadCriteria:
    """One lead's stage criteria at ``as_of``; its facts are loaded once, on the first question that needs them,
    unless they are handed in (``facts``: the activity flow passes what scoring already read)."""

    conn: Connection
    pipe: Pipeline
    contact_id: int
    as_of: datetime
    facts: LeadFacts | None = field(default=None, repr=False)

    def holds(self, stage: str) -> bool:
        """True when ``stage`` has entry criteria and they hold (a stage without criteria never holds)."""
        condition = self.pipe.stage(stage).enter_when
        if condition is None:
            return False
        if self.facts is None:
            self.facts = load_lead_facts(self.conn, self.contact_id, self.as_of)
        return _predicate(condition)(self.facts)

    def first(self, candidates: Sequence[str]) -> str | None:
        """The first of ``candidates`` (in order of preference) whose criteria hold."""
        return next((stage for stage in candidates if self.holds(stage)), None)
