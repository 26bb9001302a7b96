"""Predictive lead scoring: a calibrated gradient-boosting model trained on any table of leads with an outcome.

``train_leads`` (CSV → saved, versioned model and report) and ``explain_csv`` are the use cases; the modules
below are the parts: ``features`` (feature plan), ``target`` (outcome coercion), ``split`` (validation split and
refusals), ``model`` (LightGBM / scikit-learn), ``calibration``, ``metrics``, ``report``, ``registry`` and
``explain``. Needs the ``ml`` extra (scikit-learn; LightGBM preferred).
"""

from funnelbridge.scoring.predictive.explain import Explanation, FeatureContribution, explain
from funnelbridge.scoring.predictive.features import FeaturePlan, fit_plan, transform
from funnelbridge.scoring.predictive.registry import SavedModel, list_versions, load_model, save_model
from funnelbridge.scoring.predictive.report import TrainingReport, ValidationMetrics, report_to_json
from funnelbridge.scoring.predictive.service import ExplainOutcome, TrainOutcome, explain_csv, train_leads
from funnelbridge.scoring.predictive.train import TrainConfig, TrainedModel, predict_proba, train

__all__ = [
    "ExplainOutcome",
    "Explanation",
    "FeatureContribution",
    "FeaturePlan",
    "SavedModel",
    "TrainConfig",
    "TrainOutcome",
    "TrainedModel",
    "TrainingReport",
    "ValidationMetrics",
    "explain",
    "explain_csv",
    "fit_plan",
    "list_versions",
    "load_model",
    "predict_proba",
    "report_to_json",
    "save_model",
    "train",
    "train_leads",
    "transform",
]
