"""Playbook planning: replay history under a proposed playbook (``plan``), propose point values learned from
the outcomes (``suggest``) and activate a playbook with a full rescore (``apply``). See docs/planning.md."""

from funnelbridge.planning.replay import LeadReplay, PlanReport, PlaybookOutcome, plan_playbook

__all__ = ["LeadReplay", "PlanReport", "PlaybookOutcome", "plan_playbook"]
