"""The marketing department's books: the campaigns (one per channel and theme) and what each costs per day.

A campaign's daily cost is its fixed spend (content, booth, webinar platform) scaled to the market's size plus a
noisy cost per visit it brought that day, so cost per lead and CAC come out realistic per channel.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from funnelbridge.demo import catalog as cat

__all__ = ["CAMPAIGN_COLUMNS", "COST_COLUMNS", "CostRow", "campaign_rows", "day_costs", "write_csv"]

CAMPAIGN_COLUMNS = ("key", "name", "channel", "source", "medium", "started_on")
COST_COLUMNS = ("campaign", "day", "amount", "currency")


def campaign_rows(start: date) -> list[dict[str, str]]:
    """One import row per campaign of :data:`~funnelbridge.demo.catalog.CAMPAIGNS`, all running from ``start``."""
    return [
        {
            "key": c.key,
            "name": c.name,
            "channel": c.channel,
            "source": c.source,
            "medium": c.medium,
            "started_on": start.isoformat(),
        }
        for c in cat.CAMPAIGNS
    ]


@dataclass(frozen=True)
class CostRow:
    campaign: str
    day: date
    amount: float
    currency: str = "USD"

    def as_row(self) -> dict[str, str]:
        return {
            "campaign": self.campaign,
            "day": self.day.isoformat(),
            "amount": f"{self.amount:.2f}",
            "currency": "USD",
        }


def day_costs(arrivals: Mapping[str, int], day: int, start: date, *, scale: float, seed: int) -> list[CostRow]:
    """The spend of every campaign on simulated ``day`` (``scale``: market size relative to the default demo)."""
    r = random.Random(f"cost-{seed}-{day}")
    when = start + timedelta(days=day)
    rows = []
    for c in cat.CAMPAIGNS:
        visits = arrivals.get(c.key, 0)
        amount = c.fixed_daily * scale * r.uniform(0.8, 1.2) + visits * c.cost_per_visit * r.lognormvariate(0, 0.2)
        if amount > 0:
            rows.append(CostRow(c.key, when, round(amount, 2)))
    return rows


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[Mapping[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return path
