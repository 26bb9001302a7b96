"""Attribute rules' answers remembered rule by rule.

The incremental scorer remembers every attribute rule's answer for a whole combination of lead fields
(:meth:`~funnelbridge.scoring.incremental.IncrementalScorer._remembered`); leads with known contacts rarely share a
whole combination (title, country, employee count, ...), so each of them evaluated every rule. A rule reads only a
few of those fields, though, and many leads share them: :class:`RuleMemo` remembers each rule's answer by the
values of the fields *it* reads (told apart by type too: 1, 1.0 and True may compare differently). Rules that read
event aggregates, or a field value that cannot be a key (a list, a mapping), are evaluated every time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from funnelbridge.rules.facts import LeadFacts

__all__ = ["MEMO_LIMIT", "RuleMemo"]

MEMO_LIMIT = 4096
"""Answers kept per rule; past it the rule's answers are forgotten and remembered afresh."""

Predicate = Callable[[LeadFacts], Any]
_MISSING = object()


class RuleMemo:
    """Per rule (by group): its predicate and the positions, in the scorer's key of lead field values, of the
    fields it reads (None: evaluated every time)."""

    def __init__(self, rules: Sequence[Sequence[tuple[Predicate, tuple[int, ...] | None]]]) -> None:
        self.rules = tuple(tuple(group) for group in rules)
        self.memo: tuple[tuple[dict[Any, Any], ...], ...] = tuple(tuple({} for _ in group) for group in self.rules)

    @classmethod
    def of(
        cls,
        predicates: Sequence[Sequence[Predicate]],
        dynamic: Sequence[Sequence[bool]],
        reads: Sequence[Sequence[Sequence[str]]],
        fields: Sequence[str],
    ) -> RuleMemo:
        """From each group's predicates, whether each rule reads event aggregates (``dynamic``: evaluated every
        time), the fields each rule reads and the order of the fields in the scorer's key."""
        position = {name: i for i, name in enumerate(fields)}
        return cls(
            [
                [(pred, None if dyn else tuple(position[n] for n in names)) for pred, dyn, names in rules]
                for rules in (zip(*group, strict=True) for group in zip(predicates, dynamic, reads, strict=True))
            ]
        )

    def evaluate(self, key: tuple[Any, ...] | None, facts: Callable[[], LeadFacts]) -> list[list[Any]]:
        """Every rule's answer for a lead whose read fields have the values ``key`` (None: unknown, every rule
        evaluated); ``facts`` makes the lead's facts, called only when a rule must be evaluated."""
        made: list[LeadFacts] = []

        def lead() -> LeadFacts:
            if not made:
                made.append(facts())
            return made[0]

        return [
            [self._answer(pred, where, memo, key, lead) for (pred, where), memo in zip(group, memos, strict=True)]
            for group, memos in zip(self.rules, self.memo, strict=True)
        ]

    @staticmethod
    def _answer(
        pred: Predicate,
        where: tuple[int, ...] | None,
        memo: dict[Any, Any],
        key: tuple[Any, ...] | None,
        lead: Callable[[], LeadFacts],
    ) -> Any:
        if where is None or key is None:
            return pred(lead())
        values = tuple([key[i] for i in where])
        memo_key = (values, tuple(map(type, values)))
        try:
            hit = memo.get(memo_key, _MISSING)
        except TypeError:  # an unhashable value
            return pred(lead())
        if hit is _MISSING:
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            hit = memo[memo_key] = pred(lead())
        return hit
