"""Campaigns and their daily costs into the store: through the ingest import (``import_file`` of kinds
``campaigns`` and ``costs``) when it is available, else through the campaign repository in one transaction."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from funnelbridge.demo.marketing import CAMPAIGN_COLUMNS, COST_COLUMNS, CostRow, write_csv
from funnelbridge.runtime import Runtime

__all__ = ["record_campaigns", "record_costs"]


def _import_file() -> Any:
    try:
        return importlib.import_module("funnelbridge.ingest").import_file
    except AttributeError:
        return None


def record_campaigns(rt: Runtime, rows: Sequence[dict[str, str]], workdir: Path) -> None:
    importer = _import_file()
    if importer is not None:
        importer(rt, "campaigns", write_csv(workdir / "campaigns.csv", CAMPAIGN_COLUMNS, rows))
        return
    from funnelbridge.store.campaigns import insert_campaign

    now = rt.clock.now()
    with rt.db.transaction() as conn:
        for row in rows:
            values = {**row, "started_on": date.fromisoformat(row["started_on"]), "created_at": now}
            insert_campaign(conn, values)


def record_costs(rt: Runtime, rows: Sequence[CostRow], workdir: Path) -> None:
    if not rows:
        return
    importer = _import_file()
    if importer is not None:
        importer(rt, "costs", write_csv(workdir / "costs.csv", COST_COLUMNS, [r.as_row() for r in rows]))
        return
    from funnelbridge.store.campaigns import ids_by_keys, set_cost

    with rt.db.transaction() as conn:
        ids = ids_by_keys(conn, (r.campaign for r in rows))
        for r in rows:
            set_cost(conn, ids[r.campaign], r.day, Decimal(f"{r.amount:.2f}"), r.currency, exists=False)
