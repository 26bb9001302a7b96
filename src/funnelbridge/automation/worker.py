"""The outbox worker: fire due timers, claim a batch of due actions, deliver them, record the outcome.

Exactly-once to the receiver = at-least-once transport + an idempotent receiver: a row is marked done only after
delivery, so a worker killed mid-batch leaves its leased rows to be delivered again after the lease; each delivery
carries the row's idempotency key, which the receiver uses to drop the repeat. Failures are retried with
exponential backoff and jitter; after ``max_attempts`` (or at once for a permanent error) the row is dead-lettered
until ``funnelbridge outbox --retry ID``.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from funnelbridge.activity import drain
from funnelbridge.automation.delivery import Deliverer
from funnelbridge.automation.delivery.email import SmtpDeliverer
from funnelbridge.automation.delivery.move import MoveDeliverer
from funnelbridge.automation.delivery.webhook import WebhookDeliverer
from funnelbridge.automation.engine import Engine
from funnelbridge.automation.inactivity import scan_inactive
from funnelbridge.automation.outbox import Backoff
from funnelbridge.automation.timers import fire_due_timers
from funnelbridge.errors import ConfigError, InputError
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store.outbox import OutboxRow, claim_due, mark_dead, mark_done, mark_retry

__all__ = [
    "BatchResult",
    "WorkerConfig",
    "WorkerSummary",
    "default_deliverers",
    "process_batch",
    "run_worker",
    "scoring_pause",
]


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker runs. ``seed`` makes backoff jitter reproducible."""

    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    batch: int = 100
    max_attempts: int = 8
    lease: timedelta = timedelta(seconds=60)
    poll: float = 0.2
    scan_every: float = 60.0
    timers_every: float = 1.0
    concurrency: int = 8
    share: float = 0.5
    """On SQLite, the share of the time the worker may spend scoring queued activity while more is queued: after
    each batch it pauses so that other writers (the API's intake) get the single write lock. SQLite's busy
    handler sleeps a waiting writer in growing steps, so a worker that starts its next transaction at once can hold
    the lock almost all the time (intake fell to ~60-250 requests/s beside it)."""
    backoff: Backoff = field(default_factory=Backoff)
    seed: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> WorkerConfig:
        base = cls(batch=settings.worker_batch, max_attempts=settings.max_attempts)
        return replace(base, **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True)
class BatchResult:
    claimed: int
    delivered: int
    retried: int
    dead: int


@dataclass
class WorkerSummary:
    """Totals of a worker run."""

    batches: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    timers_fired: int = 0
    inactive_leads: int = 0
    activity_scored: int = 0

    def add(self, result: BatchResult) -> None:
        self.batches += 1
        self.delivered += result.delivered
        self.retried += result.retried
        self.dead += result.dead


def default_deliverers(rt: Runtime, settings: Settings) -> dict[str, Deliverer]:
    """The real channels: SMTP email, signed webhooks, lifecycle moves."""
    return {
        "email": SmtpDeliverer(settings.smtp_host, settings.smtp_port, settings.smtp_sender, settings.base_url),
        "webhook": WebhookDeliverer(settings.webhook_url, settings.webhook_secret, settings.base_url),
        "move": MoveDeliverer(rt),
    }


def _outcome(row: OutboxRow, deliverers: Mapping[str, Deliverer]) -> tuple[bool, str | None, bool]:
    """(delivered, error, permanent)."""
    if row.kind == "invalid":  # queued by the engine for a playbook mistake: never deliverable
        return False, str(row.payload.get("error", "invalid action")), True
    deliverer = deliverers.get(row.kind)
    if deliverer is None:
        return False, f"no deliverer for kind {row.kind!r}", True
    try:
        deliverer.deliver(row)
    except (ConfigError, InputError) as exc:
        return False, str(exc), True
    except Exception as exc:  # transient by default: the worker must survive any one bad delivery
        return False, f"{type(exc).__name__}: {exc}", False
    return True, None, False


def process_batch(
    rt: Runtime,
    deliverers: Mapping[str, Deliverer],
    config: WorkerConfig,
    rng: random.Random,
    pool: ThreadPoolExecutor | None = None,
) -> BatchResult:
    """Claim one batch, deliver it (concurrently on ``pool``), and record every outcome (one transaction to claim,
    one to record)."""
    with rt.db.transaction() as conn:
        rows = claim_due(conn, worker=config.worker_id, now=rt.clock.now(), lease=config.lease, limit=config.batch)
    if not rows:
        return BatchResult(0, 0, 0, 0)
    done: list[int] = []
    failed: list[tuple[OutboxRow, str, bool]] = []
    if pool is not None and len(rows) > 1:
        outcomes = list(pool.map(lambda r: _outcome(r, deliverers), rows))
    else:
        outcomes = [_outcome(r, deliverers) for r in rows]
    for row, (ok, error, permanent) in zip(rows, outcomes, strict=True):
        if ok:
            done.append(row.id)
        else:
            failed.append((row, error or "failed", permanent or row.attempts >= config.max_attempts))
    with rt.db.transaction() as conn:
        now = rt.clock.now()
        mark_done(conn, done, now)
        for row, error, dead in failed:
            if dead:
                mark_dead(conn, row.id, worker=config.worker_id, error=f"attempt {row.attempts}: {error}")
            else:
                retry_at = now + config.backoff.delay(row.attempts, rng)
                mark_retry(
                    conn,
                    row.id,
                    worker=config.worker_id,
                    available_at=retry_at,
                    error=f"attempt {row.attempts}: {error}",
                )
    dead_count = sum(1 for _, _, d in failed if d)
    return BatchResult(len(rows), len(done), len(failed) - dead_count, dead_count)


@dataclass
class _CommitWatch:
    """Tells an idle worker whether anything was committed since it last looked, without a transaction.

    On SQLite every transaction takes the write lock (BEGIN IMMEDIATE), so an idle worker polling with claims would
    compete with the writers it is waiting for; ``PRAGMA data_version`` on a raw connection (no BEGIN) changes when
    another connection commits. Elsewhere (PostgreSQL) claims are cheap and do not block writers: always look."""

    rt: Runtime
    every: float = 1.0  # look anyway this often (retries come due without a commit)
    _raw: Any = None
    _version: Any = None
    _last: float = 0.0

    def __post_init__(self) -> None:
        if self.rt.db.is_sqlite:
            self._raw = self.rt.db.engine.raw_connection()

    def should_look(self) -> bool:
        if self._raw is None:
            return True
        version = self._raw.cursor().execute("PRAGMA data_version").fetchone()[0]
        due = time.monotonic() - self._last >= self.every
        if version == self._version and not due:
            return False
        self._version, self._last = version, time.monotonic()
        return True

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()


def scoring_pause(seconds: float, share: float, *, sqlite: bool) -> float:
    """How long to pause after a scoring batch that took ``seconds`` so that scoring uses ``share`` of the time
    (SQLite only: PostgreSQL writers do not wait for each other's transactions)."""
    if not sqlite or share >= 1.0:
        return 0.0
    return seconds * (1.0 - share) / max(share, 0.01)


def run_worker(
    rt: Runtime,
    settings: Settings | None = None,
    *,
    once: bool = False,
    config: WorkerConfig | None = None,
    deliverers: Mapping[str, Deliverer] | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[WorkerSummary], None] | None = None,
) -> WorkerSummary:
    """Deliver the outbox until ``stop`` is set (or, with ``once``, until nothing is due)."""
    settings = settings or Settings()
    config = config or WorkerConfig.from_settings(settings)
    channels = dict(deliverers) if deliverers is not None else default_deliverers(rt, settings)
    rng = random.Random(config.seed)
    engine, summary, next_scan, next_timers = Engine(rt), WorkerSummary(), 0.0, 0.0
    stop = stop or threading.Event()
    pool = ThreadPoolExecutor(config.concurrency, "outbox") if config.concurrency > 1 else None
    watch, idle = _CommitWatch(rt), False
    try:
        while not stop.is_set():
            if time.monotonic() >= next_scan:
                summary.inactive_leads += scan_inactive(rt, engine=engine).leads
                next_scan = time.monotonic() + config.scan_every
            if time.monotonic() >= next_timers or once:
                summary.timers_fired += fire_due_timers(rt, engine=engine)
                next_timers = time.monotonic() + config.timers_every
            if idle and not once and not watch.should_look():
                stop.wait(config.poll)
                continue
            started = time.monotonic()
            drained = drain(rt, batch=config.batch, max_batches=1).contacts  # deferred intake: score and advance
            if drained and not once:
                stop.wait(scoring_pause(time.monotonic() - started, config.share, sqlite=rt.db.is_sqlite))
            summary.activity_scored += drained
            result = process_batch(rt, channels, config, rng, pool)
            summary.add(result)
            if progress is not None:
                progress(summary)
            idle = result.claimed == 0 and drained == 0
            if idle:
                if once:
                    break
                stop.wait(config.poll)
    finally:
        watch.close()
        if pool is not None:
            pool.shutdown()
        for channel in channels.values():
            channel.close()
    return summary
