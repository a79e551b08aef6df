"""Leave-one-dataset-out (LODO) evaluation: folds, thresholds, metrics, NPMI stability and reports."""

from __future__ import annotations

from pm_core.lodo.folds import FoldPlan, plan_folds, random_split
from pm_core.lodo.metrics import aggregate_folds, average_precision, fold_metrics, roc_auc, roc_points
from pm_core.lodo.npmi import StabilityReport, npmi_scores, stability_report, top_k
from pm_core.lodo.protocol import run_lodo
from pm_core.lodo.result import FoldResult, LodoResult
from pm_core.lodo.thresholds import ThresholdChoice, ThresholdStrategy, choose_threshold

__all__ = [
    "FoldPlan",
    "FoldResult",
    "LodoResult",
    "StabilityReport",
    "ThresholdChoice",
    "ThresholdStrategy",
    "aggregate_folds",
    "average_precision",
    "choose_threshold",
    "fold_metrics",
    "npmi_scores",
    "plan_folds",
    "random_split",
    "roc_auc",
    "roc_points",
    "run_lodo",
    "stability_report",
    "top_k",
]
