"""Campaigns and their daily costs into the store, the way a marketing team would load them: CSV files through
the ingest import (``import_file`` of kinds ``campaigns`` and ``costs``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from funnelbridge.demo.marketing import CAMPAIGN_COLUMNS, COST_COLUMNS, CostRow, write_csv
from funnelbridge.errors import InputError
from funnelbridge.ingest import ImportSummary, import_file
from funnelbridge.runtime import Runtime

__all__ = ["record_campaigns", "record_costs"]


def _checked(summary: ImportSummary) -> ImportSummary:
    if summary.rejected:
        first = summary.rejections[0] if summary.rejections else None
        raise InputError(f"the demo's {summary.kind} import rejected {summary.rejected} rows: {first}")
    return summary


def record_campaigns(rt: Runtime, rows: Sequence[dict[str, str]], workdir: Path) -> ImportSummary:
    path = write_csv(workdir / "campaigns.csv", CAMPAIGN_COLUMNS, rows)
    return _checked(import_file(rt, "campaigns", path))


def record_costs(rt: Runtime, rows: Sequence[CostRow], workdir: Path) -> ImportSummary | None:
    if not rows:
        return None
    path = write_csv(workdir / "costs.csv", COST_COLUMNS, [r.as_row() for r in rows])
    return _checked(import_file(rt, "costs", path))
