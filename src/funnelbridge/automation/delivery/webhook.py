"""Webhook delivery: a JSON POST signed with HMAC-SHA256, over reused keep-alive connections (``http.client``).

Headers: ``Content-Type: application/json``, ``Idempotency-Key: <outbox key>`` (receivers deduplicate on it),
``X-Funnelbridge-Signature: sha256=<hex HMAC of the body with the webhook secret>``. ``format: slack`` sends a
Slack-compatible ``{"text": ...}`` body instead of the full event. 2xx is success; 408, 425, 429 and 5xx are
retried; any other 4xx is permanent (dead-lettered).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from funnelbridge.automation.delivery.templates import headline, lead_link
from funnelbridge.errors import ConfigError, DeliveryError
from funnelbridge.store.outbox import OutboxRow

__all__ = ["WebhookDeliverer", "sign", "webhook_body"]

_RETRYABLE = {408, 425, 429}


def sign(body: bytes, secret: str) -> str:
    """The ``X-Funnelbridge-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(row: OutboxRow, base_url: str) -> dict[str, Any]:
    """The JSON document posted for ``row`` (full event, or Slack's ``{"text": ...}``)."""
    payload: Mapping[str, Any] = row.payload
    lead = dict(payload.get("lead") or {})
    link = lead_link(base_url, lead.get("id"))
    if payload.get("format") == "slack":
        people = ", ".join(str(p.get("name") or p.get("email")) for p in payload.get("to") or [])
        text = f"{headline(payload)} <{link}|Open lead>" + (f" (for {people})" if people else "")
        return {"text": text}
    lead["url"] = link
    return {
        "id": row.idempotency_key,
        "type": payload.get("trigger"),
        "rule": payload.get("rule"),
        "at": payload.get("at"),
        "stage": payload.get("stage"),
        "pipeline": payload.get("pipeline"),
        "deal_id": payload.get("deal_id"),
        "recipients": payload.get("to") or [],
        "data": payload.get("data") or {},
        "lead": lead,
        "headline": headline(payload),
    }


@dataclass
class WebhookDeliverer:
    """Posts ``webhook`` outbox rows to the action's ``url`` or the default one."""

    default_url: str
    secret: str
    base_url: str
    timeout: float = 10.0
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _all: list[http.client.HTTPConnection] = field(default_factory=list, repr=False)

    @property
    def _pool(self) -> dict[tuple[str, str, int], http.client.HTTPConnection]:
        """This thread's keep-alive connections (the worker delivers from several threads)."""
        pool: dict[tuple[str, str, int], http.client.HTTPConnection] | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        return pool

    def _connection(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        key = (scheme, host, port)
        conn = self._pool.get(key)
        if conn is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = self._pool[key] = cls(host, port, timeout=self.timeout)
            self._all.append(conn)
        return conn

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"webhook URL {url!r} is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        for fresh in (False, True):  # a kept-alive connection the server closed gets one immediate retry
            conn = self._connection(parts.scheme, parts.hostname, port)
            try:
                conn.request("POST", target, body=body, headers=headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop(parts.scheme, parts.hostname, port)
                if fresh:
                    raise DeliveryError(f"webhook {url}: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop(parts.scheme, parts.hostname, port)
                raise DeliveryError(f"webhook {url}: {exc}") from exc
        raise AssertionError("unreachable")

    def _drop(self, scheme: str, host: str, port: int) -> None:
        conn = self._pool.pop((scheme, host, port), None)
        if conn is not None:
            conn.close()

    def deliver(self, row: OutboxRow) -> None:
        url = str(row.payload.get("url") or self.default_url or "")
        if not url:
            raise ConfigError("no webhook URL: set `url` on the action or the webhook_url setting")
        body = json.dumps(webhook_body(row, self.base_url), separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": row.idempotency_key,
            "X-Funnelbridge-Signature": sign(body, self.secret),
            "User-Agent": "funnelbridge-webhook/1",
        }
        status, answer = self._post(url, body, headers)
        if 200 <= status < 300:
            return
        detail = answer[:200].decode(errors="replace")
        if status in _RETRYABLE or status >= 500:
            raise DeliveryError(f"webhook {url} answered {status}: {detail}")
        raise ConfigError(f"webhook {url} refused the action with {status}: {detail}")

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._local = threading.local()
