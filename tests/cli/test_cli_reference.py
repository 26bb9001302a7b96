"""Every setting and every CLI command is documented, and the reference docs are current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from funnelbridge.cli import app
from funnelbridge.cli.reference import render_cli_reference, render_settings_reference
from funnelbridge.settings import SETTINGS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"
FIX = "regenerate with `python -m funnelbridge.cli.reference`"


def test_cli_reference_is_current() -> None:
    assert (DOCS / "cli.md").read_text(encoding="utf-8") == render_cli_reference(app), FIX


def test_settings_reference_is_current() -> None:
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    assert text == render_settings_reference(), FIX
    for setting in SETTINGS:
        assert f"FUNNELBRIDGE_{setting.name.upper()}" in text


def test_every_command_has_help() -> None:
    def walk(cmd: Any, path: str) -> None:
        assert (cmd.help or "").strip(), f"{path} has no help text"
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "funnelbridge")
