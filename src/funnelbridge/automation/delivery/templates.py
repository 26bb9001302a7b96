"""Message templates (``string.Template``; no template engine needed in the core) and their rendering.

Notification templates get the lead, its score and explanation, the trigger and a link to the lead's page;
nurture templates get the lead's first name and the step's subject. Unknown template names fall back to a
generic message, so a playbook typo never blocks delivery.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

__all__ = ["Rendered", "explanation_lines", "headline", "lead_link", "render"]

NOTIFY = Template(
    """Hello $recipient,

$headline

Lead:     $name <$email>
Title:    $title
Company:  $company
Stage:    $stages
Score:    $total (fit $fit, grade $grade; engagement $engagement, $temperature)

Why this score:
$explanation

Open the lead: $link

-- funnelbridge automation ($rule)
"""
)

NURTURE = {
    "nurture_intro": "Thanks for your interest. Here are three ideas teams use to connect marketing and sales.",
    "nurture_case_study": "Here is how a team like yours cut lead response time from days to hours.",
    "nurture_checkin": "Is improving your funnel still on your radar? Reply and we will find a time.",
}
NURTURE_BODY = Template("Hi $first,\n\n$text\n\n-- The team\n")

_HEADLINES = {
    "stage_entered": "$name entered $stage.",
    "stage_left": "$name left $stage.",
    "score_crossed": "$name's score rose to $new (from $old).",
    "temperature_changed": "$name turned $new (was $old).",
    "inactive": "$name has been inactive in $stage.",
    "sla_warning": "The $sla SLA for $name in $stage runs out at $breach_at: act now.",
    "sla_breached": "The $sla SLA for $name in $stage was breached at $breach_at (escalated).",
    "deal_stage_changed": "$name's deal moved to $stage.",
    "deal_won": "$name's deal was won ($amount).",
    "deal_lost": "$name's deal was lost ($reason).",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def lead_link(base_url: str, lead_id: Any) -> str:
    return f"{base_url.rstrip('/')}/leads/{lead_id}"


def explanation_lines(explanation: Any) -> str:
    """A readable list of the reasons behind a score, whatever shape the scorer stored."""
    if not explanation:
        return "  (no explanation stored)"
    if isinstance(explanation, str):
        explanation = json.loads(explanation) if explanation.startswith(("[", "{")) else [explanation]
    items = explanation.get("reasons", explanation) if isinstance(explanation, Mapping) else explanation
    if isinstance(items, Mapping):
        return "\n".join(f"  {k}: {v}" for k, v in items.items())
    return "\n".join(f"  {_reason(item)}" for item in items)


def _reason(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    label = item.get("rule") or item.get("name") or item.get("reason") or item.get("label") or "?"
    points = item.get("points")
    return f"{points:+g}  {label}" if isinstance(points, int | float) else str(label)


def headline(payload: Mapping[str, Any]) -> str:
    lead = payload.get("lead", {})
    data = {k: v for k, v in (payload.get("data") or {}).items() if v is not None}
    stage = payload.get("stage_title") or payload.get("stage") or ""
    values = {"name": lead.get("name") or "A lead", "stage": stage, **data}
    return Template(_HEADLINES.get(str(payload.get("trigger")), "$name: $stage")).safe_substitute(values)


def _notify(payload: Mapping[str, Any], recipient: str, base_url: str) -> Rendered:
    lead = payload.get("lead", {})
    score = lead.get("score") or {}
    values = {
        "recipient": recipient,
        "headline": headline(payload),
        "name": lead.get("name") or "",
        "email": lead.get("email") or "",
        "title": lead.get("title") or "-",
        "company": lead.get("company") or "-",
        "stages": ", ".join(f"{s} ({p})" for p, s in (lead.get("stages") or {}).items()) or "-",
        "total": score.get("total", "-"),
        "fit": score.get("fit", "-"),
        "grade": score.get("grade", "-"),
        "engagement": score.get("engagement", "-"),
        "temperature": score.get("temperature", "-"),
        "explanation": explanation_lines(score.get("explanation")),
        "link": lead_link(base_url, lead.get("id")),
        "rule": payload.get("rule") or payload.get("trigger") or "",
    }
    subject = payload.get("subject") or f"[funnelbridge] {headline(payload)}"
    return Rendered(str(subject), NOTIFY.safe_substitute(values))


def render(payload: Mapping[str, Any], recipient: str, base_url: str) -> Rendered:
    """Subject and plain-text body of the email ``payload`` describes, for one recipient."""
    template = str(payload.get("template") or "notify")
    if payload.get("trigger") == "nurture_step":
        text = NURTURE.get(template, str(payload.get("subject") or ""))
        body = NURTURE_BODY.safe_substitute(first=recipient, text=text)
        return Rendered(str(payload.get("subject") or template), body)
    return _notify(payload, recipient, base_url)
