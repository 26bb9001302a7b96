"""Generate the reference docs (docs/reference/cli.md, docs/reference/settings.md) from the code itself, so every
command, option and setting is documented; a test checks the committed files are current.

Regenerate with ``python -m funnelbridge.cli.reference``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from funnelbridge.settings import SETTINGS

__all__ = ["render_cli_reference", "render_settings_reference", "write_reference"]


def _walk(cmd: Any, path: str) -> list[tuple[str, Any]]:
    found = [(path, cmd)]
    commands = getattr(cmd, "commands", None) or {}
    for name in sorted(commands):
        found += _walk(commands[name], f"{path} {name}")
    return found


def _param_line(param: Any) -> str:
    if param.param_type_name == "option":
        flags = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        help_text = param.help or ""
        return f"- {flags}: {help_text}".rstrip(": ")
    help_text = getattr(param, "help", None) or ""
    return f"- `{(param.name or '').upper()}` (argument): {help_text}".rstrip(": ")


def render_cli_reference(app: typer.Typer) -> str:
    root = typer.main.get_command(app)
    lines = ["# CLI reference", "", "Generated from the code by `python -m funnelbridge.cli.reference`.", ""]
    for path, cmd in _walk(root, "funnelbridge"):
        lines += [f"## `{path}`", "", (cmd.help or "").strip().split("\n\n")[0], ""]
        params = [p for p in cmd.params if p.name != "help"]
        lines += [_param_line(p) for p in params]
        lines += [""] if params else []
    return "\n".join(lines).rstrip() + "\n"


def render_settings_reference() -> str:
    lines = [
        "# Settings reference",
        "",
        "Each setting is read from `FUNNELBRIDGE_<NAME>` in the environment, else from `funnelbridge.toml` "
        "(or the file named by `FUNNELBRIDGE_CONFIG`), else its default.",
        "",
        "| name | environment variable | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        lines.append(
            f"| `{s.name}` | `FUNNELBRIDGE_{s.name.upper()}` | {s.type.__name__} | `{s.default!r}` | {s.help} |"
        )
    return "\n".join(lines) + "\n"


def write_reference(root: Path) -> None:
    from funnelbridge.cli import app

    (root / "reference").mkdir(parents=True, exist_ok=True)
    (root / "reference" / "cli.md").write_text(render_cli_reference(app), encoding="utf-8")
    (root / "reference" / "settings.md").write_text(render_settings_reference(), encoding="utf-8")


if __name__ == "__main__":
    write_reference(Path(__file__).resolve().parents[3] / "docs")
