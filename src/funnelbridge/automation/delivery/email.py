"""Email delivery over SMTP (``smtplib``), one connection reused across a batch.

The ``Message-ID`` is derived from the outbox idempotency key (and the key is also sent as
``X-Funnelbridge-Key``), so a retried send is recognisably the same message to any receiver that deduplicates.
"""

from __future__ import annotations

import hashlib
import smtplib
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from funnelbridge.automation.delivery.templates import render
from funnelbridge.errors import ConfigError, DeliveryError
from funnelbridge.store.outbox import OutboxRow

__all__ = ["SmtpDeliverer", "build_messages", "message_id"]


def message_id(key: str, index: int = 0) -> str:
    """A stable RFC 5322 Message-ID for the ``index``-th recipient of an outbox action."""
    digest = hashlib.sha256(f"{key}#{index}".encode()).hexdigest()[:40]
    return f"<{digest}@funnelbridge>"


def build_messages(row: OutboxRow, sender: str, base_url: str) -> list[EmailMessage]:
    """One message per recipient (each gets their own greeting)."""
    recipients = list(row.payload.get("to") or [])
    if not recipients:
        raise ConfigError(f"no recipient: {row.payload.get('missing') or 'the action names nobody'}")
    messages = []
    for index, person in enumerate(recipients):
        rendered = render(row.payload, str(person.get("name") or person["email"]), base_url)
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = formataddr((" ".join(str(person.get("name") or "").split()), str(person["email"])))
        msg["Subject"] = " ".join(rendered.subject.split())  # imported names must not break the header
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = message_id(row.idempotency_key, index)
        msg["X-Funnelbridge-Key"] = row.idempotency_key
        msg.set_content(rendered.body)
        messages.append(msg)
    return messages


@dataclass
class SmtpDeliverer:
    """Sends ``email`` outbox rows through ``host:port``."""

    host: str
    port: int
    sender: str
    base_url: str
    timeout: float = 10.0
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _all: list[smtplib.SMTP] = field(default_factory=list, repr=False)

    def _connection(self) -> smtplib.SMTP:
        """This thread's SMTP session (the worker delivers from several threads)."""
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        if smtp is None:
            smtp = self._local.smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            self._all.append(smtp)
        return smtp

    def deliver(self, row: OutboxRow) -> None:
        messages = build_messages(row, self.sender, self.base_url)
        try:
            for msg in messages:
                self._connection().send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ConfigError(f"SMTP refused the recipients: {exc.recipients}") from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from exc

    def _drop(self) -> None:
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        if smtp is not None:
            self._local.smtp = None
            smtp.close()

    def close(self) -> None:
        for smtp in self._all:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
        self._all.clear()
        self._local = threading.local()
