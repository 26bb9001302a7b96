"""Evaluating rule conditions (automation ``when``, routing ``when``) against one lead's facts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from funnelbridge.errors import NotFoundError
from funnelbridge.rules.ast import Condition

__all__ = ["ConditionChecker"]


@dataclass
class ConditionChecker:
    """Compiles each condition once (the Python compiler of :mod:`funnelbridge.rules.python`) and evaluates it on
    the lead's facts at a given time. Facts are loaded once per (contact, time)."""

    _compiled: dict[int, tuple[Condition, Callable[[Any], bool]]] = field(default_factory=dict)
    _facts: dict[tuple[int, datetime], Any] = field(default_factory=dict)

    def _predicate(self, condition: Condition) -> Callable[[Any], bool]:
        entry = self._compiled.get(id(condition))
        if entry is None or entry[0] is not condition:
            from funnelbridge.rules.python import compile_predicate

            entry = (condition, compile_predicate(condition))
            self._compiled[id(condition)] = entry
        return entry[1]

    def holds(self, conn: Connection, condition: Condition | None, contact_id: int, at: datetime) -> bool:
        """True when ``condition`` is None or holds for the lead at ``at``."""
        if condition is None:
            return True
        from funnelbridge.rules.facts import load_lead_facts

        facts = self._facts.get((contact_id, at))
        if facts is None:
            try:
                facts = self._facts[(contact_id, at)] = load_lead_facts(conn, contact_id, at)
            except NotFoundError:  # e.g. a deal without a contact: no lead facts, so no condition holds
                return False
        return bool(self._predicate(condition)(facts))

    def forget_all(self) -> None:
        """Drop every cached fact (facts are only reused within one occurrence's rules)."""
        self._facts.clear()

    def forget(self, contact_id: int) -> None:
        """Drop cached facts of a lead (after an action changed it, e.g. its owner)."""
        for key in [k for k in self._facts if k[0] == contact_id]:
            del self._facts[key]
