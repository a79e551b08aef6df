"""lodo.json and report.html: round trip, no NaN, and one drawn SVG per chart in a standalone page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from lodo_helpers import TinyLogistic, c18_data, planted_data

from pm_core.lodo import run_lodo
from pm_core.lodo.report import load_json, write_report

VOID_ELEMENTS = {"meta", "br", "hr", "img", "input", "link"}
PLOTS = {"per-dataset", "roc", "gap", "confusion"}


class PageChecker(HTMLParser):
    """Collects nesting errors, SVG charts and their drawn marks."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.plots: dict[str, dict[str, int]] = {}
        self.current: str | None = None
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        self.tags.add(tag)
        if tag == "svg":
            assert "pm-plot" in attributes.get("class", "")
            self.current = attributes["data-plot"]
            self.plots[self.current] = {"rect": 0, "path": 0}
        marked = "pm-mark" in (attributes.get("class") or "")
        if self.current and marked and tag == "rect" and float(attributes["height"]) > 0:
            self.plots[self.current]["rect"] += 1
        if self.current and marked and tag == "path" and len(attributes.get("d", "")) > 3:
            self.plots[self.current]["path"] += 1
        if tag not in VOID_ELEMENTS:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_ELEMENTS:
            self.stack.pop()

    def handle_endtag(self, tag) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()
        if tag == "svg":
            self.current = None


@pytest.fixture(scope="module")
def planted_result():
    X, y, datasets = planted_data()
    return run_lodo(X, y, datasets, TinyLogistic(), threshold="max_f1", npmi_top_k=5)


def test_json_round_trips(tmp_path, planted_result) -> None:
    """lodo.json loads back equal to to_dict and contains no NaN or infinity."""
    json_path, _ = write_report(planted_result, tmp_path)

    text = json_path.read_text()
    loaded = load_json(json_path)

    assert loaded == planted_result.to_dict()
    assert not re.search(r"\b(NaN|Infinity)\b", text)
    assert loaded["npmi"]["k"] == 5
    assert loaded["random_split"]["name"] == "random_split"


def test_json_single_class_fold_null(tmp_path) -> None:
    """The single-class fold's AUC is written as null with its reason."""
    X, y, datasets = c18_data()
    result = run_lodo(X, y, datasets, TinyLogistic())

    json_path, _ = write_report(result, tmp_path)

    fold_b = json.loads(json_path.read_text())["folds"][1]
    assert fold_b["name"] == "B"
    assert fold_b["metrics"]["auc"] is None
    assert fold_b["metrics"]["reason"] == "single_class_test"
    assert fold_b["roc"] is None


def test_html_has_one_drawn_svg_per_plot(tmp_path, planted_result) -> None:
    """Every chart is one pm-plot SVG with drawn rects or paths."""
    _, html_path = write_report(planted_result, tmp_path)
    checker = PageChecker()

    checker.feed(html_path.read_text())

    assert set(checker.plots) == PLOTS
    assert html_path.read_text().count("<svg") == len(PLOTS)
    for name in ("per-dataset", "gap", "confusion"):
        assert checker.plots[name]["rect"] > 0, name
    assert checker.plots["roc"]["path"] == 5


def test_html_is_standalone(tmp_path, planted_result) -> None:
    """The page is balanced HTML with no scripts, links or remote addresses."""
    _, html_path = write_report(planted_result, tmp_path)
    text = html_path.read_text()
    checker = PageChecker()

    checker.feed(text)
    checker.close()

    assert text.startswith("<!DOCTYPE html>")
    assert checker.errors == []
    assert checker.stack == []
    assert {"html", "head", "body", "title", "table"} <= checker.tags
    assert "script" not in checker.tags
    assert "link" not in checker.tags
    assert "http" not in text
    assert "Feature stability (NPMI)" in text


def test_html_single_class_fold_shown_as_missing(tmp_path) -> None:
    """An undefined AUC is drawn as an n/a label, not as a bar of height zero."""
    X, y, datasets = c18_data()
    result = run_lodo(X, y, datasets, TinyLogistic())

    _, html_path = write_report(result, tmp_path)

    text = html_path.read_text()
    assert 'class="pm-missing">n/a<title>B auc: n/a</title>' in text
    assert "single_class_test" in text
