"""Leave-one-dataset-out evaluation of a classifier, next to a random split of the same data.

Each fold leaves one dataset (after merges) out, fits a clone of the classifier on the
rest, chooses its threshold from cross-validated scores of those training rows, and
scores the held-out rows. The held-out rows' labels stay in the parent process: the
fitting step receives the training labels and the held-out features only, and the
metrics are computed afterwards. The same steps run once on a seeded, stratified
random split, which shows the in-distribution score that LODO is compared with, and
once on all rows for the final model.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import attrs
import numpy as np

from pm_core.lodo.folds import plan_folds, random_split
from pm_core.lodo.metrics import aggregate_folds, fold_metrics, roc_points
from pm_core.lodo.npmi import npmi_scores, stability_report, top_k
from pm_core.lodo.result import FoldResult, LodoResult, compute_gap
from pm_core.lodo.thresholds import ThresholdChoice, ThresholdStrategy, choose_threshold

logger = logging.getLogger(__name__)

RANDOM_SPLIT = "random_split"
FINAL = "final"


@attrs.frozen
class _Settings:
    """Task settings other than the data, sent once to each worker process."""

    prototype: Any
    strategy: ThresholdStrategy
    seed: int
    cv_splits: int
    npmi_top_k: int | None
    npmi_select: bool
    npmi_min_active: int


@attrs.frozen
class _Task:
    name: str
    train: np.ndarray
    test: np.ndarray


@attrs.frozen
class _TaskOutput:
    name: str
    threshold: ThresholdChoice
    train_scores: np.ndarray
    test_scores: np.ndarray
    npmi: np.ndarray | None
    selected_features: np.ndarray | None
    model: Any


def _run_task(X, y: np.ndarray, groups: np.ndarray, settings: _Settings, task: _Task) -> _TaskOutput:
    """Fit on `task.train` and score both sides; only training labels are read."""
    X_train = X[task.train]
    y_train = y[task.train]
    groups_train = groups[task.train]
    X_test = X[task.test]

    scores = selected = None
    if settings.npmi_top_k:
        scores = npmi_scores(X_train, y_train, min_active=settings.npmi_min_active)
        if settings.npmi_select:
            selected = np.sort(top_k(scores, settings.npmi_top_k))
            X_train, X_test = X_train[:, selected], X_test[:, selected]

    threshold = choose_threshold(
        settings.strategy, settings.prototype, X_train, y_train, groups_train, settings.seed, settings.cv_splits,
    )
    model = settings.prototype.clone()
    model.fit(X_train, y_train, groups=groups_train)
    train_scores = np.asarray(model.predict_scores(X_train), dtype=np.float64)
    test_scores = np.asarray(model.predict_scores(X_test), dtype=np.float64) if len(task.test) else np.array([])
    return _TaskOutput(
        name=task.name,
        threshold=threshold,
        train_scores=train_scores,
        test_scores=test_scores,
        npmi=scores,
        selected_features=selected,
        model=model if task.name == FINAL else None,
    )


_worker_state: tuple | None = None


def _init_worker(X, y, groups, settings) -> None:
    global _worker_state
    _worker_state = (X, y, groups, settings)


def _run_task_in_worker(task: _Task) -> _TaskOutput:
    return _run_task(*_worker_state, task)


def _run_tasks(X, y, groups, settings: _Settings, tasks: list[_Task], n_jobs: int | None) -> list[_TaskOutput]:
    """Run tasks serially for `n_jobs` 1 or None, else in that many processes (-1: one per CPU)."""
    workers = (os.cpu_count() or 1) if n_jobs == -1 else (n_jobs or 1)
    workers = max(1, min(workers, len(tasks)))
    if workers == 1:
        return [_run_task(X, y, groups, settings, task) for task in tasks]
    # Spawned workers start without the parent's threads and locks, unlike forked ones.
    # The initializer pickles the data once per worker, not once per task.
    # NOTE: each worker keeps its own copy of X, so peak memory grows with n_jobs.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(X, y, groups, settings)) as executor:
        return list(executor.map(_run_task_in_worker, tasks))


def _make_prototype(classifier: Any) -> Any:
    if not isinstance(classifier, type) and hasattr(classifier, "clone") and hasattr(classifier, "fit"):
        return classifier
    if callable(classifier):
        return classifier()
    msg = f"classifier must be a Classifier or a factory that returns one; got {type(classifier).__name__}"
    raise TypeError(msg)


def run_lodo(
    X,
    y: np.ndarray,
    datasets: np.ndarray,
    classifier: Any | Callable[[], Any],
    threshold: str | ThresholdStrategy = "constant",
    merge: dict[str, str] | None = None,
    min_size: int = 10,
    small_group: str | None = None,
    n_jobs: int | None = 1,
    seed: int = 0,
    random_test_fraction: float = 0.2,
    cv_splits: int = 5,
    npmi_top_k: int | None = None,
    npmi_select: bool = False,
    npmi_min_active: int = 5,
    roc_max_points: int = 101,
) -> LodoResult:
    """Evaluate `classifier` leaving each dataset out in turn; see the module docstring.

    Args:
        X: (n_prompts, n_features) dense array or scipy.sparse CSR matrix.
        y: 0/1 labels, 1 meaning malicious.
        datasets: the source dataset name of each row.
        classifier: an unfitted Classifier used as a prototype (`clone()` per fit), or a
            picklable factory that returns one.
        threshold: a `ThresholdStrategy` or its text (`constant`, `target_precision:0.95`, `max_f1`).
        merge, min_size, small_group: fold grouping, see `plan_folds`.
        n_jobs: worker processes for the folds; 1 or None runs them in this process.
        seed: seeds the random split and the cross-validation that picks thresholds. Results
            are identical for a seed when the classifier itself is deterministic.
        npmi_top_k: compute NPMI per fold and report the stability of each fold's top k features.
        npmi_select: also train each fit on its own top `npmi_top_k` features only.
    """
    started = time.perf_counter()
    y = np.asarray(y).astype(np.int8)
    strategy = threshold if isinstance(threshold, ThresholdStrategy) else ThresholdStrategy.parse(threshold)
    if npmi_select and not npmi_top_k:
        msg = "npmi_select=True needs npmi_top_k, the number of features to keep"
        raise ValueError(msg)
    if X.shape[0] != len(y) or len(y) != len(datasets):
        msg = f"X, y and datasets must have one row per prompt; got {X.shape[0]}, {len(y)} and {len(datasets)} rows"
        raise ValueError(msg)
    plan = plan_folds(datasets, merge=merge, min_size=min_size, small_group=small_group)
    settings = _Settings(_make_prototype(classifier), strategy, seed, cv_splits, npmi_top_k, npmi_select,
                         npmi_min_active)

    folds: dict[str, FoldResult] = {}
    tasks = []
    for name in plan.held_out:
        test = np.flatnonzero(plan.groups == name)
        train = np.flatnonzero(plan.groups != name)
        if len(np.unique(y[train])) < 2:
            logger.warning("fold %r skipped: its training rows hold a single class", name)
            folds[name] = FoldResult(name, plan.members[name], "skipped", "single_class_train",
                                     train_indices=train, test_indices=test)
            continue
        tasks.append(_Task(name, train, test))
    random_train, random_test = random_split(plan.groups, y, random_test_fraction, seed)
    tasks.append(_Task(RANDOM_SPLIT, random_train, random_test))
    tasks.append(_Task(FINAL, np.arange(len(y)), np.array([], dtype=np.int64)))

    logger.info("lodo: %d folds, random split and final model, %d prompts, n_jobs=%s",
                len(tasks) - 2, len(y), n_jobs)
    outputs = {output.name: output for output in _run_tasks(X, y, plan.groups, settings, tasks, n_jobs)}

    def finish(task: _Task, datasets_of_fold: list[str]) -> FoldResult:
        output = outputs[task.name]
        labels = y[task.test]
        return FoldResult(
            name=task.name,
            datasets=datasets_of_fold,
            status="ok",
            metrics=fold_metrics(labels, output.test_scores, output.threshold.threshold),
            threshold=output.threshold,
            roc=roc_points(labels, output.test_scores, roc_max_points),
            train_indices=task.train,
            test_indices=task.test,
            train_scores=output.train_scores,
            test_scores=output.test_scores,
            selected_features=output.selected_features,
        )

    for task in tasks[:-2]:
        folds[task.name] = finish(task, plan.members[task.name])
    ordered = [folds[name] for name in plan.held_out]
    evaluated = [fold for fold in ordered if fold.status == "ok"]
    aggregate = aggregate_folds(
        [fold.metrics for fold in evaluated],
        [y[fold.test_indices] for fold in evaluated],
        [fold.test_scores for fold in evaluated],
    )
    random_result = finish(tasks[-2], sorted(plan.members))

    stability = None
    if npmi_top_k:
        stability = stability_report(
            {name: outputs[name].npmi for name in plan.held_out if name in outputs},
            npmi_top_k, all_scores=outputs[FINAL].npmi, X=X, datasets=plan.groups,
        )

    settings_record = {
        "classifier": _describe_classifier(settings.prototype),
        "threshold": str(strategy),
        "merge": dict(merge or {}),
        "min_size": min_size,
        "small_group": small_group,
        "seed": seed,
        "random_test_fraction": random_test_fraction,
        "cv_splits": cv_splits,
        "npmi_top_k": npmi_top_k,
        "npmi_select": npmi_select,
        "npmi_min_active": npmi_min_active,
        "n_prompts": int(len(y)),
        "n_features": int(X.shape[1]),
    }
    result = LodoResult(
        folds=ordered,
        aggregate=aggregate,
        random_split=random_result,
        gap=compute_gap(random_result.metrics, aggregate["pooled"]),
        final_model=outputs[FINAL].model,
        final_threshold=outputs[FINAL].threshold,
        final_features=outputs[FINAL].selected_features,
        skipped=plan.skipped,
        settings=settings_record,
        npmi=stability,
    )
    pooled_auc = (aggregate["pooled"] or {}).get("auc")
    logger.info("lodo: done in %.1fs, pooled auc %s, random-split auc %s", time.perf_counter() - started,
                pooled_auc, random_result.metrics["auc"])
    return result


def _describe_classifier(classifier: object) -> str:
    """Return the classifier's class and options, without fitted state, for the report header."""
    options = getattr(classifier, "options", None)
    if options is None:
        return type(classifier).__name__
    if attrs.has(type(options)):
        options = attrs.asdict(options)
    return f"{type(classifier).__name__}({options})"
