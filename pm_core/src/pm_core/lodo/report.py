"""Write a LODO result as `lodo.json` and as a self-contained `report.html`.

The HTML page has no scripts, stylesheets, fonts or images from elsewhere: its charts
are inline SVG from `pm_core.lodo.plots`, so it opens offline and can be mailed as one file.
"""

from __future__ import annotations

import json
import logging
from html import escape
from pathlib import Path
from typing import Any

from pm_core.lodo import plots
from pm_core.lodo.result import LodoResult

logger = logging.getLogger(__name__)

TABLE_METRICS = ("n", "n_pos", "n_neg", "threshold", "accuracy", "precision", "recall", "f1", "auc", "pr_auc",
                 "detection_rate", "false_positive_rate", "reason")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 72rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.pm-plot { display: block; margin: 1rem 0; font-size: 11px; width: 100%; max-width: 60rem; height: auto; }
.pm-plot .pm-title { font-size: 13px; font-weight: bold; }
.pm-grid { stroke: #e4e4e4; }
.pm-diagonal { stroke: #aaa; stroke-dasharray: 4 4; fill: none; }
.shortcut { background: #fbe9e9; }
"""


def write_json(result: LodoResult, path: Path) -> Path:
    """Write `result.to_dict()` to `path`; NaN cannot appear, because undefined numbers are null."""
    path = Path(path)
    path.write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    return path


def load_json(path: Path) -> dict[str, Any]:
    """Read a `lodo.json` written by `write_json`."""
    return json.loads(Path(path).read_text())


def _cell(value: Any) -> str:
    if value is None:
        return '<td class="undefined">n/a</td>'
    if isinstance(value, float):
        return f"<td>{value:.3f}</td>"
    return f"<td>{escape(str(value))}</td>"


def _table(header: list[str], rows: list[list[Any]], row_classes: list[str] | None = None) -> str:
    lines = ["<table>", "<tr>" + "".join(f"<th>{escape(name)}</th>" for name in header) + "</tr>"]
    for index, row in enumerate(rows):
        css = f' class="{row_classes[index]}"' if row_classes and row_classes[index] else ""
        lines.append(f"<tr{css}>" + "".join(_cell(value) for value in row) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _fold_table(data: dict[str, Any]) -> str:
    rows = []
    for fold in data["folds"] + [data["random_split"]]:
        metrics = fold["metrics"] or {}
        name = fold["name"] if fold["status"] == "ok" else f"{fold['name']} (skipped: {fold['reason']})"
        rows.append([name, ", ".join(fold["datasets"])] + [metrics.get(key) for key in TABLE_METRICS])
    return _table(["fold", "datasets", *TABLE_METRICS], rows)


def _aggregate_table(aggregate: dict[str, Any]) -> str:
    pooled = aggregate.get("pooled") or {}
    rows = []
    for name, summary in aggregate.get("per_metric", {}).items():
        defined = f"{summary['n_defined']} of {summary['n_folds']}"
        rows.append([name, pooled.get(name), summary["macro"], summary["weighted"], defined])
    return _table(["metric", "pooled", "macro", "prompt-weighted", "folds defined"], rows)


def _stability_section(npmi: dict[str, Any]) -> str:
    share = npmi["shortcut_share"]
    share_text = "n/a" if share is None else f"{share:.0%}"
    header = ["feature", "status", "npmi (all)", "rank (all)", *[f"npmi without {name}" for name in npmi["folds"]],
              "folds in top k", "sign flip", "needs datasets", "top dataset", "top dataset share"]
    rows, classes = [], []
    for feature in npmi["features"]:
        rows.append([
            feature["feature"], feature["status"], feature["npmi_all"], feature["rank_all"],
            *[feature["npmi_by_fold"][name] for name in npmi["folds"]],
            feature["n_top_k"], str(feature["sign_flip"]).lower(), ", ".join(feature["needs_datasets"]) or "-",
            feature["top_dataset"], feature["top_dataset_share"],
        ])
        classes.append(feature["status"])
    return "\n".join([
        "<h2>Feature stability (NPMI)</h2>",
        f"<p>Top {npmi['k']} features by |NPMI| with the malicious label, computed on each fold's training rows. "
        f"{npmi['n_stable']} stable, {npmi['n_shortcut']} shortcut; {share_text} of the all-data top {npmi['k']} "
        "are shortcuts. A shortcut leaves the top k, or flips sign, when a dataset it needs is held out.</p>",
        _table(header, rows, classes),
    ])


def _plots(data: dict[str, Any]) -> list[str]:
    evaluated = [fold for fold in data["folds"] if fold["status"] == "ok"]
    names = [fold["name"] for fold in evaluated]
    per_dataset = plots.bar_chart(
        "per-dataset", "Held-out accuracy and ROC-AUC per dataset", names,
        {"accuracy": [fold["metrics"]["accuracy"] for fold in evaluated],
         "auc": [fold["metrics"]["auc"] for fold in evaluated]},
    )
    curves = {fold["name"]: (fold["roc"]["fpr"], fold["roc"]["tpr"]) for fold in evaluated if fold["roc"]}
    if data["random_split"]["roc"]:
        curves["random split"] = (data["random_split"]["roc"]["fpr"], data["random_split"]["roc"]["tpr"])
    roc = plots.curve_chart("roc", "ROC curve of each held-out dataset", curves, "false-positive rate",
                            "true-positive rate")
    pooled = data["aggregate"]["pooled"] or {}
    random_metrics = data["random_split"]["metrics"] or {}
    gap = plots.bar_chart(
        "gap", "Random split against leave-one-dataset-out (pooled)", ["auc", "accuracy", "f1"],
        {"random split": [random_metrics.get(key) for key in ("auc", "accuracy", "f1")],
         "LODO pooled": [pooled.get(key) for key in ("auc", "accuracy", "f1")]},
    )
    confusion = plots.confusion_chart(
        "confusion", "Confusion matrix per held-out dataset",
        {fold["name"]: fold["metrics"]["confusion"] for fold in evaluated},
    )
    return [per_dataset, roc, gap, confusion]


def render_html(result: LodoResult, title: str = "Leave-one-dataset-out evaluation") -> str:
    """Return the report page as one HTML string."""
    data = result.to_dict()
    gap = data["gap"]
    pooled_auc = (data["aggregate"]["pooled"] or {}).get("auc")
    random_auc = (data["random_split"]["metrics"] or {}).get("auc")

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Classifier <code>{escape(data['settings']['classifier'])}</code>, threshold "
        f"<code>{escape(data['settings']['threshold'])}</code>, {data['settings']['n_prompts']} prompts. "
        f"Pooled LODO ROC-AUC {number(pooled_auc)} against {number(random_auc)} on a random split "
        f"(gap {number(gap['auc'])}).</p>",
        *_plots(data),
        "<h2>Per held-out dataset</h2>",
        _fold_table(data),
        "<h2>Across folds</h2>",
        _aggregate_table(data["aggregate"]),
    ]
    if data["skipped"]:
        body.append("<h2>Datasets without a fold</h2>")
        body.append(_table(["group", "datasets", "prompts", "reason"],
                           [[item["group"], ", ".join(item["datasets"]), item["n"], item["reason"]]
                            for item in data["skipped"]]))
    if data["npmi"] is not None:
        body.append(_stability_section(data["npmi"]))
    body.append("<h2>Settings</h2>")
    body.append(_table(["setting", "value"], [[key, json.dumps(value)] for key, value in data["settings"].items()]))
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        *body,
        "</body>",
        "</html>",
    ]) + "\n"


def write_report(result: LodoResult, out_dir: Path) -> tuple[Path, Path]:
    """Write `lodo.json` and `report.html` into `out_dir`, creating it; return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = write_json(result, out_dir / "lodo.json")
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(result))
    logger.info("lodo report written to %s and %s", json_path, html_path)
    return json_path, html_path
