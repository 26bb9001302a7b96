"""The playbook: YAML schema, loading with precise errors, shipped examples."""

from funnelbridge.playbook.examples import EXAMPLES, example_path, load_example
from funnelbridge.playbook.loader import load_playbook, parse_playbook
from funnelbridge.playbook.schema import Pipeline, Playbook, Stage

__all__ = [
    "EXAMPLES",
    "Pipeline",
    "Playbook",
    "Stage",
    "example_path",
    "load_example",
    "load_playbook",
    "parse_playbook",
]
