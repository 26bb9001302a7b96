"""``playbook apply``: make a proposed playbook the active one — validated, recorded, every lead rescored.

The file is validated first (nothing changes when it does not load). Its text is then copied over the active
playbook path (``Settings.playbook``), so the next ``open_runtime`` — CLI, API, worker — loads it: keep that path
under git and review the change there like code. The version is recorded and activated in the ``playbooks`` table,
every lead is rescored under it (``rescore_all``, which publishes the threshold crossings it causes, so the
automation reacts as it would to any score change), and when a predictive model is active its probabilities are
stored again (the batch rescore replaces the score rows). Stage positions are not recomputed: the lifecycle moves
leads forward under the new criteria as their next activity arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from funnelbridge.playbook.loader import load_playbook
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.predictive.store_scoring import active_model, score_all_with_model
from funnelbridge.scoring.service import Progress, RescoreSummary, rescore_all
from funnelbridge.store.playbooks import active_version, record_playbook

__all__ = ["ApplyResult", "apply_playbook"]


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` did."""

    version: str
    previous_version: str | None
    written_to: Path
    changed: bool  # False when the proposed playbook was already the active one
    rescore: RescoreSummary
    model_scored: int | None  # leads given a probability again, when a model is active


def apply_playbook(rt: Runtime, source: Path, active_path: Path, progress: Progress | None = None) -> ApplyResult:
    """Validate ``source``, copy it to ``active_path``, record and activate it, rescore every lead."""
    proposed = load_playbook(source)
    text = Path(source).read_text(encoding="utf-8")
    if Path(source).resolve() != Path(active_path).resolve():
        Path(active_path).write_text(text, encoding="utf-8")
    with rt.db.transaction() as conn:
        previous = active_version(conn)
        record_playbook(conn, proposed, text, rt.clock.now(), activate=True)
    new_rt = replace(rt, playbook=proposed)
    summary = rescore_all(new_rt, progress=progress)
    with rt.db.read() as conn:
        has_model = active_model(conn) is not None
    scored = score_all_with_model(new_rt).scored if has_model else None
    return ApplyResult(proposed.version, previous, Path(active_path), previous != proposed.version, summary, scored)
