"""Every setting, declared once: name, type, default and help.

Values come, lowest precedence first, from the defaults, a ``funnelbridge.toml`` in the working directory (or the
file named by ``FUNNELBRIDGE_CONFIG``), and environment variables ``FUNNELBRIDGE_<NAME>``. Only entry points (CLI,
API app factory) call :func:`load_settings`; library code takes a :class:`Settings` or plain values as arguments.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from funnelbridge.errors import ConfigError

__all__ = ["SETTINGS", "Setting", "Settings", "load_settings"]


@dataclass(frozen=True)
class Setting:
    """One declared setting."""

    name: str
    type: type
    default: Any
    help: str


def _s(name: str, typ: type, default: Any, help: str) -> Any:
    return field(default=default, metadata={"setting": Setting(name, typ, default, help)})


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`load_settings`, or directly in tests."""

    database_url: str = _s(
        "database_url",
        str,
        "sqlite:///funnelbridge.db",
        "SQLAlchemy URL of the store; a SQLite file in the working directory by default.",
    )
    playbook: str = _s(
        "playbook", str, "playbook.yaml", "Path of the active playbook YAML (written by `funnelbridge init`)."
    )
    engine: str = _s(
        "engine",
        str,
        "store",
        "Default analytics engine: store (the store's own database), duckdb, sqlite, postgres, spark.",
    )
    timezone: str = _s(
        "timezone",
        str,
        "",
        "Override of the playbook's time zone (IANA name); empty means use the playbook's.",
    )
    smtp_host: str = _s("smtp_host", str, "127.0.0.1", "SMTP server for email notifications.")
    smtp_port: int = _s("smtp_port", int, 25, "SMTP port.")
    smtp_sender: str = _s("smtp_sender", str, "funnelbridge@localhost", "From address of notification emails.")
    webhook_secret: str = _s("webhook_secret", str, "", "HMAC-SHA256 secret that signs outgoing webhooks.")
    webhook_url: str = _s(
        "webhook_url", str, "", "Default URL of webhook notifications whose playbook action names no `url`."
    )
    base_url: str = _s("base_url", str, "http://127.0.0.1:8000", "Public URL of the dashboard, used in links.")
    host: str = _s("host", str, "127.0.0.1", "Address `funnelbridge serve` listens on.")
    port: int = _s("port", int, 8000, "Port `funnelbridge serve` listens on.")
    secret_key: str = _s("secret_key", str, "", "Key that signs dashboard sessions; random per process if empty.")
    worker_batch: int = _s("worker_batch", int, 100, "Outbox rows a worker claims per batch.")
    max_attempts: int = _s("max_attempts", int, 8, "Delivery attempts before an outbox action is dead-lettered.")
    max_body_bytes: int = _s("max_body_bytes", int, 1_048_576, "Largest request body the API accepts (bytes).")
    max_batch_bytes: int = _s(
        "max_batch_bytes", int, 16_777_216, "Largest body of a batch event-intake request (bytes)."
    )
    ingest_rate: float = _s(
        "ingest_rate", float, 500.0, "Requests per second an ingest-only API key may make (token bucket)."
    )
    ingest_burst: int = _s("ingest_burst", int, 1000, "Burst size of the ingest rate limit (requests).")
    drain_interval: float = _s(
        "drain_interval",
        float,
        0.25,
        "Seconds between the API server's passes over queued activity (scoring and lifecycle); 0 turns it off.",
    )


SETTINGS: tuple[Setting, ...] = tuple(f.metadata["setting"] for f in fields(Settings))


def _coerce(setting: Setting, raw: Any, origin: str) -> Any:
    if isinstance(raw, setting.type) and not (setting.type is int and isinstance(raw, bool)):
        return raw
    try:
        return setting.type(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin}: {setting.name} must be {setting.type.__name__}, got {raw!r}") from None


def load_settings(env: Mapping[str, str] | None = None, config_file: Path | None = None) -> Settings:
    """Resolve settings from defaults, the TOML file and the environment."""
    env = os.environ if env is None else env
    path = config_file or Path(env.get("FUNNELBRIDGE_CONFIG", "funnelbridge.toml"))
    values: dict[str, Any] = {}
    known = {s.name: s for s in SETTINGS}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        for key, raw in data.get("funnelbridge", data).items():
            if key not in known:
                raise ConfigError(f"{path}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
            values[key] = _coerce(known[key], raw, str(path))
    for name, setting in known.items():
        var = f"FUNNELBRIDGE_{name.upper()}"
        if var in env:
            values[name] = _coerce(setting, env[var], var)
    return Settings(**values)
