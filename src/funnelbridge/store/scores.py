"""Repository: stored scores, one row per (contact, score group). Never commits."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Connection, Text, bindparam, cast, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from funnelbridge.scoring.results import GroupScore, RulePoints
from funnelbridge.store.bulk import execute_many
from funnelbridge.store.tables import contacts, scores

__all__ = [
    "SCORE_COLUMNS",
    "distribution",
    "drop_merged_scores",
    "explanation_json",
    "insert_rows_json_text",
    "json_text",
    "load_scores",
    "main_scores",
    "predictions",
    "replace_group_scores",
    "score_row",
    "upsert_scores",
]

SCORE_COLUMNS = (
    "contact_id", "score_group", "fit", "engagement", "negative", "total", "grade", "temperature", "quadrant",
    "mql_eligible", "explanation", "as_of", "playbook_version", "updated_at",
)  # fmt: skip


_LINE_FIELDS = tuple(f.name for f in fields(RulePoints))
_OPTIONAL = tuple(name for name in _LINE_FIELDS if name not in ("rule", "kind", "points"))
_LINES: dict[int, tuple[RulePoints, dict[str, Any]]] = {}
_LINES_MAX = 4096


def _line_json(item: RulePoints) -> dict[str, Any]:
    """One line as JSON data; remembered per line object (an attribute rule's line is one object shared by every
    lead it holds for; the entry keeps the object alive, so its id is not reused). Never mutate the result."""
    hit = _LINES.get(id(item))
    if hit is not None and hit[0] is item:
        return hit[1]
    out: dict[str, Any] = {"rule": item.rule, "kind": item.kind, "points": item.points}
    for name in _OPTIONAL:
        value = getattr(item, name)
        if value is not None:
            out[name] = value
    if None in (item.rule, item.kind, item.points):  # not by the types; kept as the generic form had it
        out = {k: v for k, v in out.items() if v is not None}
    if len(_LINES) >= _LINES_MAX:
        _LINES.clear()
    _LINES[id(item)] = (item, out)
    return out


def explanation_json(items: Iterable[RulePoints]) -> list[dict[str, Any]]:
    """``GroupScore.explanation_json`` without ``dataclasses.asdict``'s deep copies (every line is flat); the
    lines' dicts may be shared between calls (never mutate them)."""
    return [_line_json(item) for item in items]


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its default settings, calling the C encoder directly (``json.dumps`` builds a new one
    every call, which costs as much as encoding a score's explanation); ``json.dumps`` where there is none."""
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has the C encoder
        return json.dumps
    plain = json.JSONEncoder()
    # The arguments ``JSONEncoder.iterencode`` passes for the defaults (no circular check: the data is acyclic).
    encode = make(None, plain.default, encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


_dumps = _json_encoder()


def json_text(value: Any) -> str:
    """The JSON text ``json.dumps(value)`` gives (default settings), for acyclic data — cheaper."""
    return _dumps(value)


def score_row(score: GroupScore, updated_at: datetime, *, as_text: bool = False) -> dict[str, Any]:
    """The ``scores`` row of a group score (``as_text``: its explanation as JSON text, as SQLite stores it — for
    :func:`upsert_scores` on SQLite)."""
    explanation = explanation_json(score.explanation)
    return {
        "contact_id": score.contact_id,
        "score_group": score.group,
        "fit": score.fit,
        "engagement": score.engagement,
        "negative": score.negative,
        "total": score.total,
        "grade": score.grade,
        "temperature": score.temperature,
        "quadrant": score.quadrant,
        "mql_eligible": score.mql_eligible,
        "explanation": json_text(explanation) if as_text else explanation,
        "as_of": score.as_of,
        "playbook_version": score.playbook_version,
        "updated_at": updated_at,
    }


def upsert_scores(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace score rows (keyed by contact and group), in one executemany. When the rows carry a
    ``state`` key (every row then), the incremental scorer's state is written too; otherwise it is kept. On SQLite
    the parameters skip SQLAlchemy's per-row processing (:func:`~funnelbridge.store.bulk.execute_many`), and
    ``explanation`` / ``state`` may be given as JSON text already (:func:`json_text`; stored as is)."""
    if not rows:
        return
    execute_many(conn, _upsert(conn.dialect.name, "state" in rows[0]), rows)


@lru_cache(maxsize=8)
def _upsert(dialect_name: str, with_state: bool = False) -> Any:
    """The upsert statement, built once per dialect (it runs after every event of every lead)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(scores)
    columns = (*SCORE_COLUMNS, "state") if with_state else SCORE_COLUMNS
    keep = {c: stmt.excluded[c] for c in columns if c not in ("contact_id", "score_group")}
    return stmt.on_conflict_do_update(index_elements=["contact_id", "score_group"], set_=keep)


def load_scores(conn: Connection, contact_id: int) -> dict[str, dict[str, Any]]:
    """``{group: row}`` of one contact's stored scores."""
    rows = conn.execute(select(scores).where(scores.c.contact_id == contact_id))
    return {r.score_group: dict(r._mapping) for r in rows}


def main_scores(conn: Connection, group: str = "main") -> dict[int, tuple[float, float, str]]:
    """``{contact_id: (engagement, total, temperature)}`` of every stored score of ``group``."""
    query = select(scores.c.contact_id, scores.c.engagement, scores.c.total, scores.c.temperature).where(
        scores.c.score_group == group
    )
    return {r[0]: (r[1], r[2], r[3]) for r in conn.execute(query)}


def predictions(conn: Connection) -> dict[int, tuple[float, str | None]]:
    """``{contact_id: (probability, model_version)}`` of the main rows that carry a predictive probability."""
    query = select(scores.c.contact_id, scores.c.probability, scores.c.model_version).where(
        scores.c.score_group == "main", scores.c.probability.is_not(None)
    )
    return {r[0]: (r[1], r[2]) for r in conn.execute(query)}


def replace_group_scores(conn: Connection, groups: Iterable[str]) -> None:
    """Delete every stored score of ``groups`` (a batch rescore then inserts them afresh)."""
    conn.execute(delete(scores).where(scores.c.score_group.in_(list(groups))))


def drop_merged_scores(conn: Connection) -> None:
    """Delete the stored scores of contacts merged away (a rescore keeps rows of live leads only)."""
    merged = select(contacts.c.id).where(contacts.c.merged_into.is_not(None))
    conn.execute(delete(scores).where(scores.c.contact_id.in_(merged)))


def insert_rows_json_text(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk insert score rows whose ``explanation`` is already JSON text (the batch path encodes it once); rows
    may carry ``probability`` and ``model_version`` (kept from the predictive scorer)."""
    if not rows:
        return
    rows = [{"probability": None, "model_version": None, **row} for row in rows]
    values: dict[str, Any] = {c: bindparam(c) for c in (*SCORE_COLUMNS, "probability", "model_version")}
    text = bindparam("explanation", type_=Text)
    # SQLite stores JSON as text already (and CAST(... AS JSON) there would mean numeric affinity).
    values["explanation"] = text if conn.dialect.name == "sqlite" else cast(text, JSON)
    conn.execute(scores.insert().values(values), list(rows))


def distribution(conn: Connection, group: str = "main") -> dict[tuple[str, str], int]:
    """``{(grade, temperature): leads}`` of the stored scores of ``group``."""
    query = (
        select(scores.c.grade, scores.c.temperature, func.count())
        .where(scores.c.score_group == group)
        .group_by(scores.c.grade, scores.c.temperature)
    )
    return {(r[0], r[1]): int(r[2]) for r in conn.execute(query)}
