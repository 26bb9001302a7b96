"""The playbooks shipped with funnelbridge."""

from __future__ import annotations

from pathlib import Path

from funnelbridge.errors import PlaybookError
from funnelbridge.playbook.loader import load_playbook
from funnelbridge.playbook.schema import Playbook

__all__ = ["EXAMPLES", "example_path", "load_example"]

_DIR = Path(__file__).parent / "examples"

EXAMPLES: dict[str, str] = {
    "b2b": "the default B2B funnel: visitor, lead, MAL, MQL, SAL, SQL, opportunity, customer, evangelist",
    "six_stage": "lead, qualified lead, MQL, SAL, SQL, customer",
    "b2c": "a short B2C funnel: visitor, lead, customer",
}


def example_path(name: str) -> Path:
    if name not in EXAMPLES:
        raise PlaybookError(f"no shipped playbook {name!r} (choose from: {', '.join(EXAMPLES)})")
    return _DIR / f"{name}.yaml"


def load_example(name: str = "b2b") -> Playbook:
    return load_playbook(example_path(name))
