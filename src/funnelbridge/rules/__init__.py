"""Conditions: the AST (``ast``), field catalogue (``fields``), and its two compilers (``python``, ``ibis``)."""

from funnelbridge.rules.ast import AllOf, AnyOf, Condition, FieldCondition, NotOf, Op, parse_condition

__all__ = ["AllOf", "AnyOf", "Condition", "FieldCondition", "NotOf", "Op", "parse_condition"]
