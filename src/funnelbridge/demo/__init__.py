"""The demo company: a seeded simulator of a B2B market that drives the real engine through its service API.

:func:`run_demo` is the main job behind ``funnelbridge demo`` and ``make run``; see ``docs/demo.md``.
"""

from funnelbridge.demo.runner import DEFAULT_START, DemoResult, Progress, run_demo
from funnelbridge.demo.world import Market

__all__ = ["DEFAULT_START", "DemoResult", "Market", "Progress", "run_demo"]
