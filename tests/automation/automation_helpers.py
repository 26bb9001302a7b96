"""Helpers shared by the automation tests: a world builder (users, contacts, stage entries) and real
receivers — an HTTP server and an SMTP server on 127.0.0.1 that record every delivery and count it by
idempotency key."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler
from typing import Any

from sqlalchemy import insert, update

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import StageEntered, StageLeft
from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import load_playbook
from funnelbridge.playbook.schema import Playbook
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import accounts, contacts, pipeline_states, scores, users

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def b2b(**changes: Any) -> Playbook:
    """The shipped B2B playbook, with top-level fields replaced (e.g. automation=..., routing=...)."""
    pb = load_playbook(example_path("b2b"))
    return pb.model_validate({**pb.model_dump(by_alias=True), **changes}) if changes else pb


@dataclass
class World:
    """Builds the state automation reacts to, straight in the store (no ingest/lifecycle needed)."""

    rt: Runtime
    clock: FrozenClock

    def user(
        self,
        email: str,
        *,
        team: str = "default",
        manager: int | None = None,
        capacity: int | None = None,
        away: bool = False,
        role: str = "sales",
    ) -> int:
        values = {
            "email": email,
            "name": email.split("@")[0].title(),
            "role": role,
            "team": team,
            "manager_id": manager,
            "capacity_per_week": capacity,
            "away": away,
            "active": True,
            "created_at": self.clock.now(),
        }
        with self.rt.db.transaction() as conn:
            return int(conn.execute(insert(users).values(**values).returning(users.c.id)).scalar_one())

    def contact(
        self,
        email: str,
        *,
        country: str = "US",
        employees: int = 200,
        stage: str | None = "mql",
        owner: int | None = None,
        score: float | None = 80.0,
    ) -> int:
        now = self.clock.now()
        with self.rt.db.transaction() as conn:
            acc = conn.execute(
                insert(accounts)
                .values(
                    domain=email.split("@")[1] + str(now.timestamp()) + email,
                    name="Acme " + email.split("@")[0],
                    industry="software",
                    employees=employees,
                    country=country,
                    created_at=now,
                    updated_at=now,
                )
                .returning(accounts.c.id)
            ).scalar_one()
            cid = int(
                conn.execute(
                    insert(contacts)
                    .values(
                        email=email,
                        first_name=email.split("@")[0].title(),
                        last_name="Doe",
                        title="VP Sales",
                        account_id=acc,
                        owner_id=owner,
                        unsubscribed=False,
                        bounced=False,
                        created_at=now,
                        identified_at=now,
                        updated_at=now,
                        version=1,
                    )
                    .returning(contacts.c.id)
                ).scalar_one()
            )
            if stage is not None:
                conn.execute(
                    insert(pipeline_states).values(
                        contact_id=cid,
                        pipeline="main",
                        stage=stage,
                        entered_at=now,
                        journey=1,
                        version=1,
                    )
                )
            if score is not None:
                conn.execute(
                    insert(scores).values(
                        contact_id=cid,
                        score_group="main",
                        fit=50,
                        engagement=score,
                        negative=0,
                        total=score + 50,
                        grade="A",
                        temperature="hot",
                        quadrant="high_fit_high_interest",
                        mql_eligible=True,
                        explanation=[
                            {"rule": "pricing page", "kind": "engagement", "points": 40},
                            {"rule": "senior title", "kind": "fit", "points": 20},
                        ],
                        as_of=now,
                        playbook_version="test",
                        updated_at=now,
                    )
                )
        return cid

    def enter(self, cid: int, stage: str, *, from_stage: str | None = None, journey: int = 1) -> None:
        """Move the lead into ``stage`` and publish StageLeft/StageEntered in one transaction."""
        now = self.clock.now()
        with self.rt.db.transaction() as conn:
            conn.execute(
                update(pipeline_states).where(pipeline_states.c.contact_id == cid).values(stage=stage, entered_at=now)
            )
            if from_stage is not None:
                self.rt.bus.publish(conn, StageLeft(cid, now, "main", from_stage, stage))
            self.rt.bus.publish(conn, StageEntered(cid, now, "main", stage, from_stage, journey))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WebhookReceiver:
    """Records POSTs; ``fail`` maps an idempotency key to how many 503s it gets first; ``delay`` slows answers."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def keys(self) -> Counter[str]:
        with self.lock:
            return Counter(r["key"] for r in self.requests)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # the body is a second write: avoid Nagle + delayed-ACK stalls

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            key = self.headers.get("Idempotency-Key", "")
            if receiver.delay:
                time.sleep(receiver.delay)
            with receiver.lock:
                failing = receiver.fail.get(key, 0)
                if failing:
                    receiver.fail[key] = failing - 1
                else:
                    receiver.requests.append(
                        {
                            "key": key,
                            "body": body,
                            "json": json.loads(body),
                            "signature": self.headers.get("X-Funnelbridge-Signature"),
                            "at": time.time(),
                        }
                    )
            status = 503 if failing else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


@dataclass
class SmtpReceiver:
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Any] = field(default_factory=list)

    @property
    def ids(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages)


class _SmtpHandler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.receiver.messages.append(message_from_bytes(envelope.content))
        return "250 OK"
