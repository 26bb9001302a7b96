"""Nurture tracks: enroll a lead in a sequence of timed emails, remove it, and send each step when its timer fires.

A step's ``after`` counts from enrollment (``3d``, ``14d``, ``30d`` are days 3, 14 and 30). Each step is a durable
timer; sending writes an email to the outbox in the same transaction. Unsubscribed or bounced leads leave the track
instead of being mailed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from funnelbridge.automation.batch import Writes, cancel_timers, schedule_timer
from funnelbridge.automation.outbox import enqueue
from funnelbridge.domain.clock import as_utc
from funnelbridge.domain.durations import parse_duration
from funnelbridge.errors import PlaybookError
from funnelbridge.playbook.schema import Playbook
from funnelbridge.store.tables import contacts, nurture_enrollments
from funnelbridge.store.timers import TimerRow

__all__ = ["enroll", "fire_step", "remove"]

_E = nurture_enrollments.c
# Statements built once with bind parameters (they run per recycled lead and per fired step).
_ACTIVE = select(_E.id).where(_E.contact_id == bindparam("cid"), _E.removed_at.is_(None), _E.completed_at.is_(None))
_ACTIVE_ON = _ACTIVE.where(_E.track == bindparam("track"))
_ENROLLMENT = select(_E.contact_id, _E.track, _E.enrolled_at).where(_E.id == bindparam("eid"))
_ENROL = insert(nurture_enrollments).returning(_E.id)


def _active(conn: Connection, contact_id: int, track: str | None) -> list[int]:
    if track is None:
        return [int(i) for i in conn.execute(_ACTIVE, {"cid": contact_id}).scalars()]
    return [int(i) for i in conn.execute(_ACTIVE_ON, {"cid": contact_id, "track": track}).scalars()]


def _due(playbook: Playbook, track: str, step: int, enrolled_at: datetime) -> datetime:
    return as_utc(enrolled_at) + parse_duration(playbook.nurture[track][step].after)


def _timer(
    conn: Connection, writes: Writes | None, enrollment: int, lead: tuple[int, str], step: int, due: datetime
) -> None:
    """The step's timer (``lead``: the enrollment's contact and track)."""
    contact_id, track = lead
    payload = {"enrollment_id": enrollment, "track": track, "step": step}
    key = f"nurture:{enrollment}:{step}"
    schedule_timer(conn, writes, key=key, kind="nurture_step", due_at=due, contact_id=contact_id, payload=payload)


def _schedule(conn: Connection, playbook: Playbook, enrollment: int, step: int, writes: Writes | None) -> None:
    row = conn.execute(_ENROLLMENT, {"eid": enrollment}).one()
    due = _due(playbook, row.track, step, row.enrolled_at)
    _timer(conn, writes, enrollment, (row.contact_id, row.track), step, due)
    conn.execute(update(nurture_enrollments).where(_E.id == enrollment).values(step=step, next_step_at=due))


def enroll(
    conn: Connection, playbook: Playbook, contact_id: int, track: str, at: datetime, writes: Writes | None = None
) -> int | None:
    """Start ``track`` for the lead; None when it is on that track already. ``writes``: a batch's buffer for the
    step's timer."""
    if track not in playbook.nurture:
        known = ", ".join(playbook.nurture) or "none defined"
        raise PlaybookError(f"automation: unknown nurture track {track!r} (tracks: {known})")
    if _active(conn, contact_id, track):
        return None
    # The row as it ends up: on its first step (and that step's time) or, for a track without steps, completed.
    due = _due(playbook, track, 0, at) if playbook.nurture[track] else None
    values = {"contact_id": contact_id, "track": track, "step": 0, "enrolled_at": at}
    values.update({"next_step_at": due} if due is not None else {"completed_at": at})
    enrollment = int(conn.execute(_ENROL, values).scalar_one())
    if due is not None:
        _timer(conn, writes, enrollment, (contact_id, track), 0, due)
    return enrollment


def remove(conn: Connection, contact_id: int, track: str | None, at: datetime, writes: Writes | None = None) -> int:
    """Stop the lead's active enrollment in ``track`` (every track when None); returns how many stopped."""
    ids = _active(conn, contact_id, track)
    for enrollment in ids:
        conn.execute(update(nurture_enrollments).where(_E.id == enrollment).values(removed_at=at, next_step_at=None))
        cancel_timers(conn, writes, f"nurture:{enrollment}:", at)
    return len(ids)


def fire_step(
    conn: Connection, playbook: Playbook, timer: TimerRow, at: datetime, writes: Writes | None = None
) -> bool:
    """Send one step (unless the enrollment ended or the lead cannot be mailed) and schedule the next."""
    enrollment_id, step = int(timer.payload["enrollment_id"]), int(timer.payload["step"])
    row = conn.execute(select(nurture_enrollments).where(_E.id == enrollment_id)).first()
    if row is None or row.removed_at is not None or row.completed_at is not None:
        return False
    steps = playbook.nurture.get(row.track, ())
    person = conn.execute(select(contacts).where(contacts.c.id == row.contact_id)).first()
    if step >= len(steps) or person is None or not person.email or person.unsubscribed or person.bounced:
        remove(conn, row.contact_id, row.track, at, writes)
        return False
    spec = steps[step]
    payload = {
        "to": [{"email": person.email, "name": person.first_name or person.email}],
        "template": spec.send,
        "subject": spec.subject or spec.send.replace("_", " ").capitalize(),
        "trigger": "nurture_step",
        "track": row.track,
        "step": step,
        "lead": {"id": row.contact_id, "name": person.first_name, "email": person.email},
        "at": at.isoformat(),
    }
    key = f"nurture:{enrollment_id}:{step}:email"
    enqueue(conn, key=key, kind="email", payload=payload, at=at, into=writes)
    if step + 1 < len(steps):
        _schedule(conn, playbook, enrollment_id, step + 1, writes)
    else:
        conn.execute(update(nurture_enrollments).where(_E.id == enrollment_id).values(step=step + 1, completed_at=at))
    return True
