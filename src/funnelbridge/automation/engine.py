"""The automation engine: for an occurrence, run the matching playbook rules' actions inside the caller's
transaction. Internal actions (assign, task, enroll, unenroll) change the store directly; external ones (email,
webhook) and stage moves go to the outbox for the worker."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from funnelbridge.automation import nurture
from funnelbridge.automation.actions import Action, ActionKind, parse_action
from funnelbridge.automation.batch import Lookups, Scope, Writes
from funnelbridge.automation.conditions import ConditionChecker
from funnelbridge.automation.notify import notification_payload
from funnelbridge.automation.outbox import enqueue
from funnelbridge.automation.routing import assign_lead
from funnelbridge.automation.triggers import Occurrence, matching_rules
from funnelbridge.domain.business_hours import BusinessCalendar
from funnelbridge.errors import PlaybookError
from funnelbridge.playbook.schema import AutomationRule
from funnelbridge.runtime import Runtime
from funnelbridge.store.outbox import insert_ignore
from funnelbridge.store.tables import contacts, tasks

__all__ = ["Engine", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    """What one action did: its idempotency key, kind and a short description."""

    key: str
    kind: str
    detail: str


@dataclass
class Engine:
    """Runs automation rules for one Runtime (holds the compiled-condition cache, and the open batch's
    :class:`~funnelbridge.automation.batch.Scope` inside :meth:`batched`)."""

    rt: Runtime
    checker: ConditionChecker = field(default_factory=ConditionChecker)
    scope: Scope | None = None

    @contextmanager
    def batched(self, conn: Connection, facts: Mapping[int, Any] | None = None) -> Iterator[Scope]:
        """Within the block, actions' outbox rows and timers are buffered and stored when it ends, users and
        routing state are read once, and conditions may be answered from ``facts`` (the leads' facts now, by
        contact) — see :mod:`funnelbridge.automation.batch`. Nested blocks join the open one."""
        if self.scope is not None:
            yield self.scope
            return
        scope = self.scope = Scope(facts=facts or {})
        self.checker.seed(scope.facts)
        try:
            yield scope
            scope.writes.flush(conn)
        finally:
            self.scope = None
            self.checker.seed({})

    @property
    def writes(self) -> Writes | None:
        return None if self.scope is None else self.scope.writes

    @property
    def lookups(self) -> Lookups | None:
        return None if self.scope is None else self.scope.lookups

    def run(
        self, conn: Connection, occ: Occurrence, rules: list[tuple[int, AutomationRule]] | None = None
    ) -> list[Outcome]:
        """Run every matching rule whose ``when`` holds; returns what was done."""
        self.checker.forget_all()  # facts may have changed since the last occurrence, even at the same time
        done: list[Outcome] = []
        for index, rule in matching_rules(self.rt.playbook, occ) if rules is None else rules:
            if not self.checker.holds(conn, rule.when, occ.contact_id, occ.at):
                continue
            for position, spec in enumerate(rule.do):
                key = f"{occ.key}|r{index}.{position}"
                try:  # parsing and the track check fail before any write: no savepoint needed
                    done.extend(self._execute(conn, occ, parse_action(spec), key, rule.name))
                except PlaybookError as exc:  # a playbook mistake must not block the lead's stage move
                    done.append(self._invalid(conn, occ, spec, key, str(exc)))
        return done

    def _invalid(self, conn: Connection, occ: Occurrence, spec: object, key: str, error: str) -> Outcome:
        """Record an action the playbook got wrong as a dead-on-arrival outbox row (``outbox --failed``)."""
        payload = {"error": error, "action": spec, "trigger": occ.trigger.value, "contact_id": occ.contact_id}
        enqueue(conn, key=key, kind="invalid", payload=payload, at=self.rt.clock.now(), into=self.writes)
        return Outcome(key, "invalid", error)

    def _execute(self, conn: Connection, occ: Occurrence, action: Action, key: str, rule: str | None) -> list[Outcome]:
        at = occ.at
        if action.kind is ActionKind.ASSIGN:
            got = assign_lead(conn, self.rt.playbook, occ.contact_id, at, self.checker, self.lookups)
            return [Outcome(key, "assign", "no available rep" if got is None else f"{got.email} ({got.method})")]
        if action.kind is ActionKind.NOTIFY:
            payload = notification_payload(conn, occ, action, rule, self.lookups)
            payload["stage_title"] = self._stage_title(occ)
            new = enqueue(conn, key=key, kind=action.via, payload=payload, at=self.rt.clock.now(), into=self.writes)
            return [Outcome(key, action.via, "queued" if new else "already queued")]
        if action.kind is ActionKind.TASK:
            return [self._task(conn, occ, action, key)]
        if action.kind is ActionKind.ENROLL:
            got_id = nurture.enroll(conn, self.rt.playbook, occ.contact_id, str(action.target), at, self.writes)
            return [Outcome(key, "enroll", "already enrolled" if got_id is None else f"enrollment {got_id}")]
        if action.kind is ActionKind.UNENROLL:
            track = None if action.target in (None, "all") else action.target
            n = nurture.remove(conn, occ.contact_id, track, at, self.writes)
            return [Outcome(key, "unenroll", f"{n} removed")]
        return [self._move(conn, occ, action, key)]

    def _stage_title(self, occ: Occurrence) -> str | None:
        """The stage's display name (``MQL``, a label, or the id), for messages."""
        pipelines = self.rt.playbook.pipelines
        pipe = pipelines.get(occ.pipeline or "") or self.rt.playbook.main
        if occ.stage is None or occ.stage not in pipe.stage_ids:
            return occ.stage
        return pipe.stage(occ.stage).title

    def _due(self, at: datetime, action: Action) -> datetime:
        """When a task is due: ``due`` after ``at``, in working time with ``business_hours: true``."""
        if not action.business_hours:
            return at + action.due
        pb = self.rt.playbook
        return BusinessCalendar.from_hours(pb.business_hours, pb.timezone).add(at, action.due)

    def _move(self, conn: Connection, occ: Occurrence, action: Action, key: str) -> Outcome:
        request: dict[str, Any] = {
            "contact_id": occ.contact_id,
            "to": action.target,
            "reason": action.reason,
            "pipeline": occ.pipeline,
            "trigger": occ.trigger.value,
        }
        new = enqueue(conn, key=key, kind="move", payload=request, at=self.rt.clock.now(), into=self.writes)
        return Outcome(key, "move", "queued" if new else "already queued")

    def _task(self, conn: Connection, occ: Occurrence, action: Action, key: str) -> Outcome:
        lookups = self.lookups
        if lookups is not None:
            owner = lookups.owner_id(conn, occ.contact_id)
        else:
            owner = conn.execute(select(contacts.c.owner_id).where(contacts.c.id == occ.contact_id)).scalar()
        values = {
            "contact_id": occ.contact_id,
            "owner_id": owner,
            "title": action.target or "Follow up",
            "due_at": self._due(occ.at, action),
            "created_at": occ.at,
            "idempotency_key": key,
        }
        new = insert_ignore(conn, tasks, [values], "idempotency_key")
        return Outcome(key, "task", "created" if new else "exists")
