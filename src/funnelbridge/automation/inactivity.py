"""The inactivity scan: run ``on: inactive`` rules for leads without activity for the rule's ``after`` (default: the
stage's ``stall_after``).

Each quiet spell triggers once (a marker row in ``timers`` records it), and each scan only looks at leads that fell
quiet since the previous scan of the rule (its time is kept in a ``timers`` row too), so a scan's work follows the
number of leads going quiet, not the size of the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select, update

from funnelbridge.automation.engine import Engine
from funnelbridge.automation.triggers import Occurrence
from funnelbridge.domain.clock import as_utc
from funnelbridge.domain.durations import parse_duration
from funnelbridge.playbook.schema import AutomationRule, Playbook, Trigger
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import pipeline_states, timers
from funnelbridge.store.timers import insert_timer

__all__ = ["InactivityScan", "scan_inactive"]


@dataclass(frozen=True)
class InactivityScan:
    leads: int
    actions: int


def scan_inactive(rt: Runtime, *, engine: Engine | None = None) -> InactivityScan:
    """Run the playbook's ``inactive`` rules once; returns how many leads triggered and the actions taken."""
    engine = engine or Engine(rt)
    leads = actions = 0
    for index, rule in enumerate(rt.playbook.automation):
        if rule.on is not Trigger.INACTIVE:
            continue
        with rt.db.transaction() as conn:
            now = rt.clock.now()
            since = _previous_scan(conn, _scan_key(index, rule), now)
            for occ in _quiet_leads(conn, rt.playbook, index, rule, since, now):
                if insert_timer(
                    conn, key=occ.key, kind="inactive", due_at=now, contact_id=occ.contact_id, fired_at=now
                ):
                    leads += 1
                    actions += len(engine.run(conn, occ, [(index, rule)]))
    return InactivityScan(leads, actions)


def _scan_key(index: int, rule: AutomationRule) -> str:
    return f"inactive-scan:r{index}:{rule.pipeline}:{rule.stage}:{rule.after}"


def _previous_scan(conn: Connection, key: str, now: datetime) -> datetime | None:
    """When this rule was last scanned (None: never), and record ``now`` as the latest scan."""
    previous = conn.execute(select(timers.c.due_at).where(timers.c.key == key)).scalar()
    if previous is None:
        insert_timer(conn, key=key, kind="scan_marker", due_at=now, fired_at=now)
        return None
    conn.execute(update(timers).where(timers.c.key == key).values(due_at=now))
    return as_utc(previous)


def _limits(playbook: Playbook, rule: AutomationRule) -> Iterator[tuple[str, str, timedelta]]:
    """(pipeline, stage, quiet limit) for every stage the rule watches."""
    for name, pipe in playbook.pipelines.items():
        if rule.pipeline is not None and name != rule.pipeline:
            continue
        stages = (rule.stage,) if rule.stage is not None else (*pipe.stage_ids, *pipe.detours)
        for stage in stages:
            limit = parse_duration(rule.after) if rule.after is not None else pipe.stall_limit(stage)
            if limit is not None:
                yield name, stage, limit


def _quiet_leads(
    conn: Connection, playbook: Playbook, index: int, rule: AutomationRule, since: datetime | None, now: datetime
) -> list[Occurrence]:
    ps = pipeline_states.c
    last = func.coalesce(ps.last_activity_at, ps.entered_at)
    found = []
    for pipeline, stage, limit in _limits(playbook, rule):
        query = select(ps.contact_id, ps.journey, last.label("last")).where(
            ps.pipeline == pipeline, ps.stage == stage, last <= now - limit
        )
        if since is not None:  # quiet before the previous scan: that scan saw them already
            query = query.where(last > since - limit)
        for row in conn.execute(query.order_by(ps.contact_id)):
            quiet_since = as_utc(row.last).isoformat()
            key = f"inactive:r{index}:{pipeline}:{row.contact_id}:{row.journey}:{stage}:{quiet_since}"
            found.append(Occurrence(Trigger.INACTIVE, int(row.contact_id), now, key, pipeline, stage))
    return found
