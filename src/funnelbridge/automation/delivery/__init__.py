"""Delivery channels of the outbox worker: SMTP email, signed JSON webhooks, and stage moves.

A :class:`Deliverer` takes one outbox row and either returns (delivered), raises ``DeliveryError`` or ``OSError``
(transient: the worker retries with backoff) or raises ``ConfigError`` (permanent: dead-lettered at once, e.g. no
recipient, no webhook URL, a 4xx answer). :class:`RecordingDeliverer` is the in-memory fake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from funnelbridge.store.outbox import OutboxRow

__all__ = ["Deliverer", "RecordingDeliverer"]


class Deliverer(Protocol):
    def deliver(self, row: OutboxRow) -> None:
        """Deliver one action, or raise."""
        ...

    def close(self) -> None:
        """Release connections (called when the worker stops)."""
        ...


@dataclass
class RecordingDeliverer:
    """Fake channel: records delivered keys; ``fail`` maps a key to the number of times it fails first."""

    delivered: list[str] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    error: type[Exception] = OSError

    def deliver(self, row: OutboxRow) -> None:
        left = self.fail.get(row.idempotency_key, 0)
        if left:
            self.fail[row.idempotency_key] = left - 1
            raise self.error(f"simulated failure of {row.idempotency_key}")
        self.delivered.append(row.idempotency_key)

    def close(self) -> None:
        return None
