"""A directory of versioned models: save, list, load by version (or unique prefix) or the latest.

Layout of ``<models_dir>/<version>/``: ``model.txt`` (LightGBM text model) or ``model.joblib`` (scikit-learn
fallback, with its explainer baseline), ``calibrator.json``, ``plan.json`` (feature plan, target coding, id and
time columns), ``base_margin.json`` when the booster starts from a base margin, and ``metadata.json`` (target,
features, metrics, created_at, library versions). The version is a short hash of the model, calibrator, plan and
base margin, so the same training input yields the same version; ``LATEST`` names the version saved last.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import pandas as pd

from funnelbridge.errors import ModelError, NotFoundError
from funnelbridge.scoring.predictive.base_margin import BaseMargin
from funnelbridge.scoring.predictive.calibration import Calibrator
from funnelbridge.scoring.predictive.features import FeaturePlan
from funnelbridge.scoring.predictive.model import Backend, GradientModel
from funnelbridge.scoring.predictive.report import TrainingReport, report_to_json
from funnelbridge.scoring.predictive.target import TargetCoding
from funnelbridge.scoring.predictive.train import TrainedModel

__all__ = ["DEFAULT_MODELS_DIR", "SavedModel", "list_versions", "load_model", "save_model"]

DEFAULT_MODELS_DIR = Path("models")
_LATEST = "LATEST"
_BASE = "base_margin.json"


@dataclass(frozen=True)
class SavedModel:
    """A model in the registry."""

    version: str
    path: Path
    trained: TrainedModel
    metadata: dict[str, Any]


def _model_bytes(model: GradientModel) -> tuple[str, bytes]:
    if model.backend is Backend.LIGHTGBM:
        return "model.txt", str(model.estimator.model_to_string()).encode()
    import joblib

    buffer = io.BytesIO()
    joblib.dump((model.estimator, model.baseline), buffer)
    return "model.joblib", buffer.getvalue()


def _plan_json(trained: TrainedModel) -> str:
    data = {
        "plan": trained.plan.to_dict(),
        "target": asdict(trained.target),
        "id_column": trained.id_column,
        "time_column": trained.time_column,
    }
    return json.dumps(data, indent=2, sort_keys=True)


def _libraries() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("funnelbridge", "numpy", "pandas", "lightgbm", "scikit-learn"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _metadata(version: str, trained: TrainedModel, report: TrainingReport) -> dict[str, Any]:
    return {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": trained.model.backend.value,
        "target": asdict(trained.target),
        "id_column": trained.id_column,
        "time_column": trained.time_column,
        "features": list(trained.plan.feature_names),
        "report": report_to_json(replace(report, model_version=version)),
        "libraries": _libraries(),
    }


def save_model(trained: TrainedModel, report: TrainingReport, directory: Path = DEFAULT_MODELS_DIR) -> SavedModel:
    """Write ``trained`` under its content-hash version; mark it the latest."""
    model_name, model_data = _model_bytes(trained.model)
    plan_text = _plan_json(trained)
    calibrator_text = json.dumps(trained.calibrator.to_dict(), indent=2, sort_keys=True)
    base = trained.model.base
    base_text = json.dumps(base.to_dict(), indent=2, sort_keys=True) if base is not None else ""
    digest = hashlib.sha256(model_data + plan_text.encode() + calibrator_text.encode() + base_text.encode()).hexdigest()
    version = f"m-{digest[:12]}"
    path = Path(directory) / version
    path.mkdir(parents=True, exist_ok=True)
    (path / model_name).write_bytes(model_data)
    (path / "plan.json").write_text(plan_text, encoding="utf-8")
    (path / "calibrator.json").write_text(calibrator_text, encoding="utf-8")
    if base_text:
        (path / _BASE).write_text(base_text, encoding="utf-8")
    meta = _metadata(version, trained, report)
    (path / "metadata.json").write_text(json.dumps(meta, indent=2, allow_nan=False), encoding="utf-8")
    (Path(directory) / _LATEST).write_text(version + "\n", encoding="utf-8")
    return SavedModel(version, path, trained, meta)


def list_versions(directory: Path = DEFAULT_MODELS_DIR) -> list[str]:
    """Saved versions, oldest first (by ``created_at``)."""
    metas = [p for p in Path(directory).glob("*/metadata.json")]
    stamped = [(json.loads(p.read_text(encoding="utf-8"))["created_at"], p.parent.name) for p in metas]
    return [name for _, name in sorted(stamped)]


def _resolve(directory: Path, version: str | None) -> str:
    if version is None or version == "latest":
        pointer = directory / _LATEST
        if pointer.is_file():
            return pointer.read_text(encoding="utf-8").strip()
        versions = list_versions(directory)
        if not versions:
            raise NotFoundError(f"no saved model in {directory}; train one with `funnelbridge model train`")
        return versions[-1]
    matches = [p.name for p in directory.glob(f"{version}*") if (p / "metadata.json").is_file()]
    if len(matches) != 1:
        what = "no model" if not matches else f"{len(matches)} models"
        raise NotFoundError(f"{what} matching version {version!r} in {directory}")
    return matches[0]


def _load_estimator(path: Path) -> GradientModel:
    if (path / "model.txt").is_file():
        try:
            import lightgbm as lgb
        except ImportError:
            raise ModelError(f"{path} is a LightGBM model; install lightgbm (the `ml` extra)") from None

        booster = lgb.Booster(model_str=(path / "model.txt").read_text(encoding="utf-8"))
        base_file = path / _BASE
        base = BaseMargin.from_dict(json.loads(base_file.read_text(encoding="utf-8"))) if base_file.is_file() else None
        return GradientModel(Backend.LIGHTGBM, booster, pd.DataFrame(), base)
    if (path / "model.joblib").is_file():
        import joblib

        estimator, baseline = joblib.load(path / "model.joblib")
        return GradientModel(Backend.SKLEARN, estimator, baseline)
    raise ModelError(f"{path}: no model file (model.txt or model.joblib)")


def load_model(directory: Path = DEFAULT_MODELS_DIR, version: str | None = None) -> SavedModel:
    """Load a version (a unique prefix is enough), or the latest when ``version`` is None or ``latest``."""
    directory = Path(directory)
    name = _resolve(directory, version)
    path = directory / name
    if not (path / "metadata.json").is_file():
        raise NotFoundError(f"model {name!r} not found in {directory}")
    data = json.loads((path / "plan.json").read_text(encoding="utf-8"))
    calibrator = Calibrator.from_dict(json.loads((path / "calibrator.json").read_text(encoding="utf-8")))
    trained = TrainedModel(
        plan=FeaturePlan.from_dict(data["plan"]),
        model=_load_estimator(path),
        calibrator=calibrator,
        target=TargetCoding(**data["target"]),
        id_column=data["id_column"],
        time_column=data["time_column"],
    )
    return SavedModel(name, path, trained, json.loads((path / "metadata.json").read_text(encoding="utf-8")))
