"""Stage moves asked for by automation (``{move: recycled|disqualified|advance, reason: ...}``), made through the
lifecycle's rules in their own transaction, with the outbox key as the transition's idempotency key."""

from __future__ import annotations

from dataclasses import dataclass

from funnelbridge.errors import ConfigError, ConflictError, DeliveryError, DomainError
from funnelbridge.runtime import Runtime
from funnelbridge.store.outbox import OutboxRow

__all__ = ["MoveDeliverer"]


@dataclass
class MoveDeliverer:
    rt: Runtime

    def deliver(self, row: OutboxRow) -> None:
        try:
            self._move(row)
        except ConflictError as exc:
            raise DeliveryError(f"move of contact {row.payload.get('contact_id')}: {exc}") from exc
        except DomainError as exc:  # an illegal move stays illegal: dead-letter it with the reason
            raise ConfigError(f"move of contact {row.payload.get('contact_id')}: {exc}") from exc

    def _move(self, row: OutboxRow) -> None:
        from funnelbridge.lifecycle import SYSTEM, advance, disqualify
        from funnelbridge.lifecycle.engine import MoveRequest, apply_move, require_state, table_of
        from funnelbridge.lifecycle.table import Move
        from funnelbridge.store.transitions import by_key

        contact_id, to = int(row.payload["contact_id"]), str(row.payload.get("to") or "advance")
        pipeline = row.payload.get("pipeline") or self.rt.playbook.main_name
        reason = row.payload.get("reason")
        if to == "disqualified":
            disqualify(self.rt, contact_id, SYSTEM, reason or "bad_data", idempotency_key=row.idempotency_key)
            return
        with self.rt.db.transaction() as conn:
            if to != "recycled":
                advance(self.rt, conn, contact_id, pipeline)
                return
            if by_key(conn, row.idempotency_key) is not None:
                return
            state = require_state(conn, contact_id, pipeline)
            rule = table_of(self.rt, pipeline).find(Move.RECYCLE_STALLED, state.stage)
            request = MoveRequest(SYSTEM, self.rt.clock.now(), reason or "stalled", "automation", row.idempotency_key)
            apply_move(self.rt, conn, state, rule, request, contact_id=contact_id, pipeline=pipeline)

    def close(self) -> None:
        return None
