"""Automation actions as values: parse the playbook's ``do:`` entries into :class:`Action`.

Forms (bare name or one-key mapping plus options)::

    assign                                   route the lead to an owner (the playbook's routing rules)
    {notify: owner|manager|team|lead|<email>, via: email|webhook, template: <name>, url: <webhook url>,
     format: json|slack, team: <team>, subject: <text>}
    {task: "Call within 1h", due: 1h, business_hours: true}   a follow-up task for the owner
    {enroll: <nurture track>}                start a nurture track
    {unenroll: <nurture track>|all}          stop a nurture track (``remove`` is an alias)
    {move: <stage>, reason: <reason>}        ask the lifecycle to move the lead (delivered by the worker)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from funnelbridge.domain.durations import parse_duration
from funnelbridge.errors import PlaybookError

__all__ = ["Action", "ActionKind", "parse_action"]


class ActionKind(StrEnum):
    ASSIGN = "assign"
    NOTIFY = "notify"
    TASK = "task"
    ENROLL = "enroll"
    UNENROLL = "unenroll"
    MOVE = "move"


_ALIASES = {"remove": ActionKind.UNENROLL}
_OPTIONS: dict[ActionKind, frozenset[str]] = {
    ActionKind.ASSIGN: frozenset(),
    ActionKind.NOTIFY: frozenset({"via", "template", "url", "format", "team", "subject"}),
    ActionKind.TASK: frozenset({"due", "business_hours"}),
    ActionKind.ENROLL: frozenset(),
    ActionKind.UNENROLL: frozenset(),
    ActionKind.MOVE: frozenset({"reason"}),
}


@dataclass(frozen=True)
class Action:
    """One parsed action. ``target`` is the main argument (recipient, task title, track, stage)."""

    kind: ActionKind
    target: str | None = None
    via: str = "email"
    template: str = "notify"
    url: str | None = None
    format: str = "json"
    team: str | None = None
    subject: str | None = None
    due: timedelta = timedelta(hours=24)
    business_hours: bool = False
    reason: str | None = None


def _kind(name: str) -> ActionKind:
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        return ActionKind(name)
    except ValueError:
        known = ", ".join(k.value for k in ActionKind)
        raise PlaybookError(f"automation: unknown action {name!r} (known: {known})") from None


def _check_options(kind: ActionKind, options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - _OPTIONS[kind])
    if unknown:
        raise PlaybookError(f"automation: action {kind.value} does not take {', '.join(unknown)}")
    if options.get("via", "email") not in ("email", "webhook"):
        raise PlaybookError(f"automation: notify via must be email or webhook, not {options['via']!r}")
    if options.get("format", "json") not in ("json", "slack"):
        raise PlaybookError(f"automation: webhook format must be json or slack, not {options['format']!r}")


def parse_action(spec: str | Mapping[str, Any]) -> Action:
    """Parse one ``do:`` entry; raises PlaybookError naming the problem."""
    if isinstance(spec, str):
        kind = _kind(spec)
        if kind is not ActionKind.ASSIGN:
            raise PlaybookError(f"automation: action {spec!r} needs an argument, e.g. {{{spec}: ...}}")
        return Action(kind)
    heads = [k for k in spec if k in {*(a.value for a in ActionKind), *_ALIASES}]
    if len(heads) != 1:
        raise PlaybookError(f"automation: an action needs exactly one action name, got {dict(spec)!r}")
    kind = _kind(heads[0])
    options = {k: v for k, v in spec.items() if k != heads[0]}
    _check_options(kind, options)
    target = spec[heads[0]]
    fields: dict[str, Any] = {k: v for k, v in options.items() if k != "due"}
    if "business_hours" in fields and not isinstance(fields["business_hours"], bool):
        raise PlaybookError("automation: task business_hours must be true or false")
    if "due" in options:
        try:
            fields["due"] = parse_duration(options["due"])
        except ValueError as exc:
            raise PlaybookError(f"automation: task due: {exc}") from None
    return Action(kind, target=None if target is None else str(target), **fields)
