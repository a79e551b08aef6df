"""The LODO report drawn by a real browser: every chart has visible marks.

Runs in the `browser` nox session, which installs Debian's chromium package.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from lodo_helpers import TinyLogistic, planted_data

from pm_core.lodo import run_lodo
from pm_core.lodo.report import write_report

pytestmark = pytest.mark.browser

PLOTS = {"per-dataset", "roc", "gap", "confusion"}

# Measures, after layout, how many marks of each chart have a non-empty box on screen.
MEASURE = """
<script>
const counts = {};
for (const svg of document.querySelectorAll("svg.pm-plot")) {
  const box = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll(".pm-mark")].filter(mark => {
    const b = mark.getBBox();
    return b.width > 0 || b.height > 0;
  });
  counts[svg.dataset.plot] = {marks: marks.length, width: box.width, height: box.height};
}
const out = document.createElement("pre");
out.id = "pm-check";
out.textContent = JSON.stringify(counts);
document.body.appendChild(out);
</script>
"""

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium found; `nox -s browser` installs Debian's chromium package")


def test_report_plots_drawn_in_chromium(tmp_path) -> None:
    browser = chromium()
    X, y, datasets = planted_data()
    result = run_lodo(X, y, datasets, TinyLogistic(), npmi_top_k=4)
    _, html_path = write_report(result, tmp_path / "report")
    page = html_path.read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", MEASURE + "</body>"))

    command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", probe.as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    match = re.search(r'<pre id="pm-check">(.*?)</pre>', dom, re.DOTALL)
    assert match, f"the measuring script did not run; DOM starts {dom[:300]!r}"
    counts = json.loads(match.group(1).replace("&quot;", '"'))

    assert set(counts) == PLOTS
    for plot, measured in counts.items():
        assert measured["marks"] > 0, f"chart {plot} drew no marks"
        assert measured["width"] > 100, f"chart {plot} is {measured['width']} px wide"
        assert measured["height"] > 50, f"chart {plot} is {measured['height']} px high"

    screenshot = tmp_path / "report.png"
    subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={screenshot}", "--window-size=1200,2400", html_path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert screenshot.stat().st_size > 10_000
