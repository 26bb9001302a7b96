"""The ``funnelbridge`` command line: a thin shell over the library.

Each ``cli/<domain>.py`` module defines ``register(app)``; the list below wires them in. A command parses its
input, calls one service function and renders the result.
"""

from __future__ import annotations

import importlib

from funnelbridge.cli.app import app, main

__all__ = ["app", "main"]

_COMMAND_MODULES = (
    "setup",
    "playbook",
    "planning",
    "api",
    "model",
    "funnel",
    "demo",
    "ingest",
    "automation",
    "users",
    "lead",
    "deal",
    "queue",
    "score",
    "report",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(f"funnelbridge.cli.{_name}").register(app)
