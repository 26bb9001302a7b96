"""The worker delivers through real channels: a local HTTP receiver and a local SMTP server (aiosmtpd); retries
with backoff, dead-letters, `retry` brings a dead action back."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import timedelta

import pytest
from automation_helpers import SmtpReceiver, WebhookReceiver, World, b2b
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelbridge.automation import (
    Backoff,
    RecordingDeliverer,
    WorkerConfig,
    enqueue,
    list_outbox,
    process_batch,
    retry_outbox,
    run_worker,
)
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.errors import DomainError, NotFoundError
from funnelbridge.settings import Settings
from funnelbridge.store import Database


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    """Channels and retry policy do not depend on the store: SQLite only (claims on PostgreSQL are covered by the
    concurrent-worker test)."""
    return sqlite_db


def _settings(smtp: SmtpReceiver | None = None, hook: WebhookReceiver | None = None) -> Settings:
    return Settings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port if smtp else 1,
        webhook_url=hook.url if hook else "",
        webhook_secret="s3cret",
        base_url="https://funnel.example",
    )


def _lead_with_owner(world: World) -> int:
    boss = world.user("boss@acme.test", team="leadership", role="admin")
    world.user("rep@acme.test", manager=boss)
    return world.contact("lead@corp.test", stage="mal")


def test_mql_email_reaches_the_owner_with_explanation_and_link(world: World, smtp_receiver: SmtpReceiver) -> None:
    cid = _lead_with_owner(world)
    world.enter(cid, "mql", from_stage="mal")
    summary = run_worker(world.rt, _settings(smtp=smtp_receiver), once=True)
    assert summary.delivered == 1
    (msg,) = smtp_receiver.messages
    body = msg.get_content() if hasattr(msg, "get_content") else msg.get_payload()
    assert msg["To"] == "Rep <rep@acme.test>"
    assert "Lead Doe entered MQL" in msg["Subject"]
    assert "+40  pricing page" in body and "+20  senior title" in body
    assert f"https://funnel.example/leads/{cid}" in body
    assert msg["X-Funnelbridge-Key"] == list_outbox(world.rt.db).rows[0].idempotency_key


def test_webhook_is_signed_and_carries_the_idempotency_key(world: World, webhook_receiver: WebhookReceiver) -> None:
    cid = _lead_with_owner(world)
    world.enter(cid, "mql", from_stage="mal")  # SAL's decision clock starts in the queue
    world.clock.advance(timedelta(days=7))
    run_worker(world.rt, _settings(hook=webhook_receiver), once=True, deliverers=None)
    breach = [r for r in webhook_receiver.requests if r["json"]["type"] == "sla_breached"]
    assert len(breach) == 1
    body = breach[0]["body"]
    assert breach[0]["signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert breach[0]["json"]["lead"]["url"] == f"https://funnel.example/leads/{cid}"
    assert breach[0]["key"].startswith("timer:sla:main:")


def test_slack_format_posts_a_text_message(world: World, webhook_receiver: WebhookReceiver) -> None:

    world.rt.playbook = b2b(
        automation=[
            {
                "on": "stage_entered",
                "stage": "mql",
                "do": [{"notify": "owner", "via": "webhook", "format": "slack", "url": webhook_receiver.url}],
            }
        ]
    )
    rep = world.user("rep@acme.test")
    world.enter(world.contact("lead@corp.test", owner=rep), "mql", from_stage="mal")
    run_worker(world.rt, _settings(), once=True)
    (req,) = webhook_receiver.requests
    assert set(req["json"]) == {"text"} and "Lead Doe entered MQL" in req["json"]["text"]


def test_failures_back_off_then_succeed_once(world: World, webhook_receiver: WebhookReceiver) -> None:
    world.rt.playbook = world.rt.playbook  # b2b: score crossing 70 → webhook to the owner
    with world.rt.db.transaction() as conn:
        enqueue(conn, key="k1", kind="webhook", payload={"to": [], "lead": {"id": 1}}, at=world.clock.now())
    webhook_receiver.fail["k1"] = 2
    settings = _settings(hook=webhook_receiver)
    config = WorkerConfig(seed=7)
    for _ in range(3):
        run_worker(world.rt, settings, once=True, config=config)
        world.clock.advance(timedelta(minutes=5))
    assert webhook_receiver.keys == {"k1": 1}
    (row,) = list_outbox(world.rt.db).rows
    assert row.status == "done" and row.attempts == 3


def test_backoff_is_deterministic_with_a_seed_and_grows(world: World) -> None:
    clock: FrozenClock = world.clock
    with world.rt.db.transaction() as conn:
        enqueue(conn, key="k", kind="webhook", payload={}, at=clock.now())
    fake = RecordingDeliverer(fail={"k": 99})
    waits = []
    for _ in range(4):
        before = clock.now()
        process_batch(world.rt, {"webhook": fake}, WorkerConfig(seed=1), random.Random(1))
        row = list_outbox(world.rt.db).rows[0]
        waits.append((row.available_at - before).total_seconds())
        clock.set(row.available_at)
    assert [round(w, 6) for w in waits] == [
        round(Backoff().delay(i, random.Random(1)).total_seconds(), 6) for i in (1, 2, 3, 4)
    ]
    assert waits == sorted(waits)


@settings(deadline=None)  # a loaded CI box must not fail a pure test on time
@given(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=10**6))
def test_backoff_stays_between_half_and_full_capped_exponential(attempt: int, seed: int) -> None:
    policy = Backoff()
    full = min(policy.cap.total_seconds(), policy.base.total_seconds() * 2 ** (attempt - 1))
    assert full / 2 <= policy.delay(attempt, random.Random(seed)).total_seconds() <= full


def test_dead_after_max_attempts_and_retry_brings_it_back(world: World) -> None:
    with world.rt.db.transaction() as conn:
        enqueue(conn, key="k", kind="webhook", payload={}, at=world.clock.now())
    fake = RecordingDeliverer(fail={"k": 3})
    config = WorkerConfig(max_attempts=3, seed=0)
    for _ in range(3):
        run_worker(world.rt, once=True, config=config, deliverers={"webhook": fake})
        world.clock.advance(timedelta(hours=2))
    listing = list_outbox(world.rt.db, failed=True)
    assert [(r.status, r.attempts) for r in listing.rows] == [("dead", 3)]
    assert "attempt 3: OSError: simulated failure" in (listing.rows[0].last_error or "")
    assert listing.counts == {"pending": 0, "done": 0, "dead": 1}
    row = retry_outbox(world.rt.db, listing.rows[0].id, world.clock.now())
    assert (row.status, row.attempts) == ("pending", 0)
    run_worker(world.rt, once=True, config=config, deliverers={"webhook": fake})
    assert fake.delivered == ["k"]
    with pytest.raises(DomainError):
        retry_outbox(world.rt.db, row.id, world.clock.now())
    with pytest.raises(NotFoundError):
        retry_outbox(world.rt.db, 999, world.clock.now())


def test_permanent_errors_are_dead_lettered_at_once(world: World) -> None:

    world.rt.playbook = b2b(automation=[{"on": "stage_entered", "stage": "mql", "do": [{"notify": "owner"}]}])
    world.enter(world.contact("x@corp.test"), "mql", from_stage="mal")  # no owner: nobody to mail
    run_worker(world.rt, _settings(), once=True)
    (row,) = list_outbox(world.rt.db).rows
    assert row.status == "dead" and row.attempts == 1
    assert "no recipient: the lead has no owner" in (row.last_error or "")


def test_a_4xx_answer_is_permanent_and_5xx_is_retried(world: World, webhook_receiver: WebhookReceiver) -> None:
    from funnelbridge.automation.delivery.webhook import WebhookDeliverer
    from funnelbridge.errors import ConfigError, DeliveryError
    from funnelbridge.store.outbox import OutboxRow

    deliverer = WebhookDeliverer(webhook_receiver.url.replace("/hook", "/nothing"), "", "http://x")
    row = OutboxRow(1, "k", "webhook", {}, "pending", 1, world.clock.now(), world.clock.now(), None, None, None, None)
    webhook_receiver.fail["k"] = 1
    with pytest.raises(DeliveryError, match="503"):
        deliverer.deliver(row)
    deliverer.deliver(row)
    bad = WebhookDeliverer("ftp://nowhere", "", "http://x")
    with pytest.raises(ConfigError, match="not an http"):
        bad.deliver(row)
    deliverer.close()
    assert json.loads(webhook_receiver.requests[0]["body"])["id"] == "k"


def test_imported_names_cannot_inject_email_headers() -> None:
    from datetime import UTC, datetime

    from funnelbridge.automation.delivery.email import build_messages, message_id
    from funnelbridge.store.outbox import OutboxRow

    now = datetime.now(UTC)
    payload = {"to": [{"email": "a@b.test", "name": "Eve\r\nBcc: x@y.test"}], "subject": "Hi\r\nBcc: x@y.test"}
    row = OutboxRow(1, "k", "email", payload, "pending", 1, now, now, None, None, None, None)
    (msg,) = build_messages(row, "s@x.test", "http://x")
    assert msg["Subject"] == "Hi Bcc: x@y.test" and msg["Bcc"] is None
    assert msg["Message-ID"] == message_id("k", 0) != message_id("k", 1)
