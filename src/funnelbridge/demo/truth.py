"""The ground-truth file: each simulated person's hidden fit, interest, buying window and propensity.

Written next to the demo database (never into it), so a scoring model can be evaluated against what the simulator
really knew. Rows are streamed in chunks, so a million people never sit in memory as Python objects.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from funnelbridge.demo.behaviour import anonymous_id
from funnelbridge.demo.world import Kind, World, account_domain, email_of

__all__ = ["TRUTH_COLUMNS", "TruthFile", "write_truth"]

TRUTH_COLUMNS = (
    "person_id",
    "email",
    "anonymous_id",
    "kind",
    "account_domain",
    "arrival_day",
    "fit",
    "interest",
    "in_market",
    "market_start_day",
    "market_end_day",
    "propensity",
)


@dataclass(frozen=True)
class TruthFile:
    path: Path
    rows: int


def _rows(world: World, lo: int, hi: int) -> list[list[object]]:
    fit, interest, prop = (
        np.round(a[lo:hi].astype(np.float64), 4).tolist() for a in (world.fit, world.interest, world.propensity)
    )
    out: list[list[object]] = []
    for i, pid in enumerate(range(lo, hi)):
        account = int(world.account[pid])
        domain = account_domain(world, account) if int(world.kind[pid]) == Kind.BUSINESS else ""
        out.append(
            [
                pid,
                email_of(world, pid),
                anonymous_id(pid),
                Kind.NAMES[int(world.kind[pid])],
                domain,
                int(world.arrival[pid]),
                fit[i],
                interest[i],
                int(bool(world.in_market[pid])),
                int(world.market_start[pid]),
                int(world.market_end[pid]),
                prop[i],
            ]
        )
    return out


def write_truth(world: World, path: Path, *, chunk: int = 50_000) -> TruthFile:
    """Write one CSV row per person (header :data:`TRUTH_COLUMNS`) and return where and how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(TRUTH_COLUMNS)
        for lo in range(0, world.n_people, chunk):
            writer.writerows(_rows(world, lo, min(world.n_people, lo + chunk)))
    return TruthFile(path, world.n_people)
