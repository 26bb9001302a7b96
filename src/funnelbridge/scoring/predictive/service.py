"""Use cases of predictive scoring: train from a CSV export and save; explain rows of a CSV with a saved model."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from funnelbridge.errors import InputError, ModelError, NotFoundError
from funnelbridge.scoring.predictive.explain import Explanation, explain
from funnelbridge.scoring.predictive.registry import DEFAULT_MODELS_DIR, SavedModel, load_model, save_model
from funnelbridge.scoring.predictive.report import TrainingReport
from funnelbridge.scoring.predictive.train import TrainConfig, train

__all__ = ["ExplainOutcome", "TrainOutcome", "explain_csv", "read_leads_csv", "train_leads"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainOutcome:
    """The saved model and its report (with ``model_version`` set)."""

    saved: SavedModel
    report: TrainingReport


@dataclass(frozen=True)
class ExplainOutcome:
    """Explanations of rows under one model version."""

    version: str
    explanations: tuple[Explanation, ...]


def _delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_leads_csv(path: Path) -> pd.DataFrame:
    """Read a CSV export as text columns (blanks as ``""``); the feature plan decides each column's kind."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", record=str(path))
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            with path.open(encoding=encoding, newline="") as handle:
                sep = _delimiter(handle.read(8192))
            return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            raise InputError(f"cannot read as CSV: {str(exc).strip().splitlines()[0]}", record=str(path)) from None
    raise InputError("cannot decode the file as UTF-8 or Latin-1", record=str(path))  # pragma: no cover


def train_leads(
    csv_path: Path | None,
    config: TrainConfig,
    models_dir: Path = DEFAULT_MODELS_DIR,
    progress: Progress | None = None,
) -> TrainOutcome:
    """Train on a CSV of leads with an outcome column, save the model, return the versioned report."""
    if csv_path is None:
        raise ModelError(
            "train_leads trains on a CSV export; to train from the store use "
            "funnelbridge.scoring.predictive.store_train.train_from_store (`funnelbridge model train`)"
        )
    say = progress or (lambda _msg: None)
    say(f"reading {csv_path}")
    result = train(read_leads_csv(csv_path), config, say)
    say(f"saving the model to {models_dir}")
    saved = save_model(result.trained, result.report, models_dir)
    return TrainOutcome(saved, replace(result.report, model_version=saved.version))


def _select(frame: pd.DataFrame, saved: SavedModel, row_id: str | None) -> pd.DataFrame:
    if row_id is None:
        return frame
    id_column = saved.trained.id_column
    if id_column is None:
        raise InputError(f"model {saved.version} was trained without --id-column; cannot look up --id {row_id}")
    if id_column not in frame.columns:
        raise InputError(f"id column {id_column!r} not found in the CSV")
    chosen = frame[frame[id_column].astype(str) == row_id]
    if chosen.empty:
        raise NotFoundError(f"no row with {id_column} = {row_id!r}")
    return chosen


def explain_csv(
    csv_path: Path,
    models_dir: Path = DEFAULT_MODELS_DIR,
    version: str | None = None,
    row_id: str | None = None,
    limit: int = 10,
    top: int = 5,
) -> ExplainOutcome:
    """Explain the row with ``row_id`` (or the first ``limit`` rows) of a CSV with a saved model."""
    saved = load_model(models_dir, version)
    rows = _select(read_leads_csv(csv_path), saved, row_id)
    return ExplainOutcome(saved.version, tuple(explain(saved.trained, rows.head(limit), top)))
