"""Evaluating rule conditions (automation ``when``, routing ``when``) against one lead's facts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from funnelbridge.domain.clock import as_utc
from funnelbridge.errors import NotFoundError
from funnelbridge.rules.ast import Condition, leaves

__all__ = ["ConditionChecker"]


@dataclass
class ConditionChecker:
    """Compiles each condition once (the Python compiler of :mod:`funnelbridge.rules.python`) and evaluates it on
    the lead's facts at a given time. Facts are loaded once per (contact, time), or taken from :meth:`seed`."""

    _compiled: dict[int, tuple[Condition, Callable[[Any], bool]]] = field(default_factory=dict)
    _facts: dict[tuple[int, datetime], Any] = field(default_factory=dict)
    _seeded: dict[int, Any] = field(default_factory=dict)
    _plain: dict[int, Any] = field(default_factory=dict)
    _needs: dict[int, tuple[Condition, frozenset[str] | None]] = field(default_factory=dict)

    def seed(self, facts: Mapping[int, Any]) -> None:
        """Facts the caller already has (the activity flow's, by contact; empty to stop). A condition is answered
        from them, without reading the store, when ``at`` is their ``as_of`` and it reads only contact, account
        and BANT fields and ``events.*`` values the facts carry as aggregates (their ``events`` may be only the
        new ones; their score may lack what the store has). :meth:`forget` drops a lead's."""
        self._seeded, self._plain = dict(facts), {}

    def _event_keys(self, condition: Condition) -> frozenset[str] | None:
        """The aggregate keys of the condition's ``events.*`` leaves; None when it reads other facts (score...)."""
        entry = self._needs.get(id(condition))
        if entry is None or entry[0] is not condition:
            from funnelbridge.rules.python import aggregate_key

            keys: set[str] | None = set()
            for leaf in leaves(condition):
                if leaf.field.startswith("events.") and keys is not None:
                    keys.add(aggregate_key(leaf))
                elif not leaf.field.startswith(("contact.", "account.", "bant.")):
                    keys = None
            entry = self._needs[id(condition)] = (condition, None if keys is None else frozenset(keys))
        return entry[1]

    def _known(self, condition: Condition, contact_id: int, at: datetime) -> Any | None:
        """The seeded facts of the lead when they can answer ``condition`` at ``at`` (see :meth:`seed`)."""
        known = self._seeded.get(contact_id)
        if known is None or known.as_of != at:
            return None
        keys = self._event_keys(condition)
        if keys is None or (keys and not keys <= (known.aggregates or {}).keys()):
            return None
        plain = self._plain.get(contact_id)
        if plain is None:
            plain = self._plain[contact_id] = _plain_facts(known)
        return plain

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

        facts = self._facts.get((contact_id, at)) or self._known(condition, contact_id, at)
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
        if contact_id in self._seeded:
            del self._seeded[contact_id]
            self._plain.pop(contact_id, None)


def _plain_value(value: Any) -> Any:
    """As :func:`funnelbridge.rules.facts.load_lead_facts` gives stored values: numbers as float, times aware."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return as_utc(value)
    return value


def _plain_facts(facts: Any) -> Any:
    contact = {k: _plain_value(v) for k, v in facts.contact.items()}
    account = None if facts.account is None else {k: _plain_value(v) for k, v in facts.account.items()}
    bant = {k: _plain_value(v) for k, v in facts.bant.items()}
    return replace(facts, contact=contact, account=account, bant=bant)
