"""Durations as written in playbooks and on the CLI: ``15s``, ``5m``, ``24h``, ``14d``, ``2w``."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``"14d"`` into a timedelta; a bare number is days. Raises ValueError with the reason."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError(f"expected a duration such as 14d, got {text!r}")
    if isinstance(text, int | float):
        return timedelta(days=text)
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(f"expected a duration such as 15s, 5m, 24h, 14d or 2w, got {text!r}")
    amount, unit = float(match.group(1)), match.group(2)
    return timedelta(**{_UNITS[unit]: amount})


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling of ``value`` (``14d``, ``36h``, ``90s``)."""
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
