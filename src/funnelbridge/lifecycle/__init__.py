"""The lifecycle: the transition table (data derived from the playbook), automatic moves, the sales handoff,
deals, stalls, the sales queue and the audit trail with its rebuildable projection. See docs/lifecycle.md."""

from funnelbridge.lifecycle.advance import advance
from funnelbridge.lifecycle.commands import accept, advocate, disqualify, qualify, recycle, reject
from funnelbridge.lifecycle.deals import lose_deal, move_deal, open_deal, recycle_due, win_deal
from funnelbridge.lifecycle.model import SYSTEM, Actor, DealResult, QueueItem, Transition
from funnelbridge.lifecycle.projection import RebuildSummary, rebuild_projection, replay, stage_counts
from funnelbridge.lifecycle.queue import sales_queue
from funnelbridge.lifecycle.stalls import recycle_stalled
from funnelbridge.lifecycle.table import Move, Rule, StageRoles, TransitionTable, build_table, stage_roles

__all__ = [
    "SYSTEM",
    "Actor",
    "DealResult",
    "Move",
    "QueueItem",
    "RebuildSummary",
    "Rule",
    "StageRoles",
    "Transition",
    "TransitionTable",
    "accept",
    "advance",
    "advocate",
    "build_table",
    "disqualify",
    "lose_deal",
    "move_deal",
    "open_deal",
    "qualify",
    "rebuild_projection",
    "recycle",
    "recycle_due",
    "recycle_stalled",
    "reject",
    "replay",
    "sales_queue",
    "stage_counts",
    "stage_roles",
    "win_deal",
]
