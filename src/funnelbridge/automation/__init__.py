"""Automation: playbook rules that react to what happens to a lead (stage moves, score crossings, SLA timers,
inactivity, deals) by assigning owners, notifying people (email, webhook), creating tasks, running nurture tracks
and asking for stage moves — reliably, through a transactional outbox and a worker. See docs/automation.md."""

from funnelbridge.automation.actions import Action, ActionKind, parse_action
from funnelbridge.automation.conditions import ConditionChecker
from funnelbridge.automation.delivery import Deliverer, RecordingDeliverer
from funnelbridge.automation.engine import Engine, Outcome
from funnelbridge.automation.inactivity import InactivityScan, scan_inactive
from funnelbridge.automation.install import AutomationHandler, install
from funnelbridge.automation.outbox import Backoff, OutboxListing, enqueue, list_outbox, purge_outbox, retry_outbox
from funnelbridge.automation.routing import Assignment, assign_lead, choose_owner, week_start
from funnelbridge.automation.timers import fire_due_timers, record_first_touch, sla_clocks, sla_due
from funnelbridge.automation.triggers import Occurrence, matching_rules, occurrence_of
from funnelbridge.automation.worker import BatchResult, WorkerConfig, WorkerSummary, process_batch, run_worker

__all__ = [
    "Action",
    "ActionKind",
    "Assignment",
    "AutomationHandler",
    "Backoff",
    "BatchResult",
    "ConditionChecker",
    "Deliverer",
    "Engine",
    "InactivityScan",
    "Occurrence",
    "OutboxListing",
    "Outcome",
    "RecordingDeliverer",
    "WorkerConfig",
    "WorkerSummary",
    "assign_lead",
    "choose_owner",
    "enqueue",
    "fire_due_timers",
    "install",
    "list_outbox",
    "matching_rules",
    "occurrence_of",
    "parse_action",
    "process_batch",
    "purge_outbox",
    "record_first_touch",
    "retry_outbox",
    "run_worker",
    "scan_inactive",
    "sla_clocks",
    "sla_due",
    "week_start",
]
