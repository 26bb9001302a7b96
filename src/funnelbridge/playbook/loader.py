"""Loading a playbook: YAML → list references → pydantic → semantic checks, with ``file:line field: reason``.

Every problem is reported with the file, the line of the offending YAML node, the dotted field path and a
plain-language reason, e.g. ``playbook.yaml:42 scoring.fit[3].points: expected a number, got "ten"``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from funnelbridge.errors import PlaybookError
from funnelbridge.playbook.schema import Playbook
from funnelbridge.rules.ast import FieldCondition, parse_condition
from funnelbridge.rules.fields import check_condition_leaf

__all__ = ["load_playbook", "parse_playbook", "playbook_version"]

_Path = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """YAML 1.2-style booleans: only true/false. (YAML 1.1 reads `on:`, `yes`, `no` as booleans.)"""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _lines(node: yaml.Node, path: _Path, out: dict[_Path, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, str(key.value), "__key__")] = key.start_mark.line + 1
            _lines(value, (*path, str(key.value)), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def _render(path: _Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


class _Locator:
    """Maps a pydantic error location onto the YAML path (dropping union tags) and its line."""

    def __init__(self, data: Any, lines: dict[_Path, int], source: str) -> None:
        self.data, self.lines, self.source = data, lines, source

    def resolve(self, loc: tuple[Any, ...]) -> tuple[_Path, int]:
        node: Any = self.data
        path: _Path = ()
        for i, part in enumerate(loc):
            last = i == len(loc) - 1
            if isinstance(node, dict) and part in node:
                child = node[part]
                if isinstance(child, dict | list) or last:
                    node, path = child, (*path, part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node, path = node[part], (*path, part)
            elif last and isinstance(node, dict) and isinstance(part, str):
                path = (*path, part)  # a missing field: name it, at its parent's line
        return path, self.line(path)

    def line(self, path: _Path) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def problem(self, path: _Path, reason: str, line: int | None = None) -> str:
        return f"{self.source}:{line or self.line(path)} {_render(path)}: {reason}"


def _reason(err: Any) -> str:
    kind, value = err["type"], err.get("input")
    shown = json.dumps(value) if isinstance(value, str) else repr(value)
    if kind in ("float_parsing", "float_type"):
        return f"expected a number, got {shown}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"expected a whole number, got {shown}"
    if kind in ("bool_parsing", "bool_type"):
        return f"expected true or false, got {shown}"
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see the playbook reference)"
    if kind in ("enum", "literal_error"):
        expected = err.get("ctx", {}).get("expected", "")
        return f"expected one of {expected}, got {shown}"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _resolve_lists(data: Any, lists: dict[str, Any], path: _Path, problems: list[tuple[_Path, str]]) -> Any:
    if isinstance(data, dict):
        return {k: _resolve_lists(v, lists, (*path, k), problems) for k, v in data.items()}
    if isinstance(data, list):
        return [_resolve_lists(v, lists, (*path, i), problems) for i, v in enumerate(data)]
    if isinstance(data, str) and data.startswith("$") and len(data) > 1:
        name = data[1:]
        if name not in lists:
            problems.append((path, f"unknown list ${name} (defined lists: {', '.join(sorted(lists)) or 'none'})"))
            return data
        return list(lists[name])
    return data


def _condition_leaves(data: Any, path: _Path, event_level: bool) -> Iterator[tuple[_Path, dict[str, Any], bool]]:
    if isinstance(data, dict):
        if "field" in data and "op" in data:
            yield path, data, event_level
            if isinstance(data.get("where"), dict):
                yield from _condition_leaves(data["where"], (*path, "where"), True)
            return
        for key, value in data.items():
            yield from _condition_leaves(value, (*path, key), event_level or key == "where")
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _condition_leaves(item, (*path, i), event_level)


def _semantic_problems(data: dict[str, Any], pb: Playbook) -> list[tuple[_Path, str]]:
    problems: list[tuple[_Path, str]] = []
    for path, raw, event_level in _condition_leaves(data, (), False):
        leaf = parse_condition(raw)
        assert isinstance(leaf, FieldCondition)
        why = check_condition_leaf(leaf, event_level=event_level)
        if why:
            problems.append((path, why))
    stages = {s for p in pb.pipelines.values() for s in (*p.stage_ids, *p.detours)}
    problems += _action_problems(pb)
    for i, rule in enumerate(pb.automation):
        if rule.stage and rule.stage not in stages:
            problems.append((("automation", i, "stage"), f"unknown stage {rule.stage!r}"))
        for j, action in enumerate(rule.do):
            track = action.get("enroll") if isinstance(action, dict) else None
            if track and track not in pb.nurture:
                problems.append((("automation", i, "do", j, "enroll"), f"unknown nurture track {track!r}"))
    return problems


def _action_problems(pb: Playbook) -> list[tuple[_Path, str]]:
    """Every ``do:`` entry must parse as an automation action (the same parser the engine uses)."""
    from funnelbridge.automation.actions import parse_action

    problems: list[tuple[_Path, str]] = []
    for i, rule in enumerate(pb.automation):
        for j, action in enumerate(rule.do):
            try:
                parse_action(action)
            except PlaybookError as exc:
                problems.append((("automation", i, "do", j), str(exc).removeprefix("automation: ")))
    return problems


def playbook_version(data: dict[str, Any]) -> str:
    """Content hash of the validated playbook (comments and key order do not change it)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def parse_playbook(text: str, source: str = "playbook.yaml") -> Playbook:
    """Parse and validate playbook YAML text; raise PlaybookError listing every problem with its line."""
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise PlaybookError(f"{source}:{line} (yaml): {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise PlaybookError(f"{source}:1 (top level): expected a mapping with name, pipelines, scoring, ...")
    lines: dict[_Path, int] = {}
    if root is not None:
        _lines(root, (), lines)
    loc = _Locator(data, lines, source)
    list_problems: list[tuple[_Path, str]] = []
    lists = data.get("lists") if isinstance(data.get("lists"), dict) else {}
    resolved = _resolve_lists(data, lists or {}, (), list_problems)
    if list_problems:
        raise PlaybookError([loc.problem(p, r) for p, r in list_problems])
    try:
        pb = Playbook.model_validate(resolved)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path, line = loc.resolve(tuple(err["loc"]))
            problems.append(loc.problem(path, _reason(err), line))
        raise PlaybookError(problems) from None
    semantic = _semantic_problems(resolved, pb)
    if semantic:
        raise PlaybookError([loc.problem(p, r) for p, r in semantic])
    dumped = pb.model_dump(mode="json", by_alias=True, exclude={"version"})
    return pb.model_copy(update={"version": playbook_version(dumped)})


def load_playbook(path: str | Path) -> Playbook:
    """Load and validate a playbook file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlaybookError(f"{path}: no such playbook file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookError(f"{path}: cannot read: {exc}") from None
    return parse_playbook(text, source=str(path))
