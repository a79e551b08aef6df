"""Inline SVG charts for the LODO report, drawn by hand so the page needs no script or network.

Every chart is one `<svg class="pm-plot" data-plot="NAME">` element. Bars and cells are
`<rect class="pm-mark">` and curves are `<path class="pm-mark">`, so a browser test can
count what was drawn. Coordinates are in SVG user units (pixels at scale 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#3b6ea5", "#d9822b", "#4f9a56", "#b5454b", "#7d5ba6", "#8c6d3f", "#c46aa8", "#6b6b6b")
MISSING_COLOUR = "#9a9a9a"

WIDTH = 640
HEIGHT = 300
MARGIN_LEFT = 48
MARGIN_RIGHT = 150
MARGIN_TOP = 28
MARGIN_BOTTOM = 56


#: Styles a chart carries itself when it is saved as its own .svg file rather than placed in the report page.
STANDALONE_STYLE = (
    "<style>text{font:11px sans-serif}.pm-title{font-weight:bold}.pm-grid{stroke:#dddddd;stroke-width:1}</style>"
)


def _open(name: str, title: str, width: int = WIDTH, height: int = HEIGHT, standalone: bool = False) -> list[str]:
    namespace = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    parts = [
        f'<svg{namespace} class="pm-plot" data-plot="{escape(name)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
    ]
    if standalone:
        parts.append(STANDALONE_STYLE)
    parts.append(f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" class="pm-title">{escape(title)}</text>')
    return parts


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    parts = []
    for index, name in enumerate(names):
        top = y + index * 18
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18:.1f}" y="{top + 10:.1f}">{escape(name)}</text>')
    return parts


def _y_axis(bottom: float, top: float, left: float, right: float) -> list[str]:
    """Draw gridlines and labels for values 0 to 1."""
    parts = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - tick * (bottom - top)
        parts.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" class="pm-grid"/>')
        parts.append(f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    return parts


def bar_chart(
    name: str,
    title: str,
    categories: Sequence[str],
    series: dict[str, Sequence[float | None]],
    standalone: bool = False,
) -> str:
    """Draw grouped bars of values in [0, 1]: one group per category, one bar per series.

    A None value is drawn as a grey "n/a" label at the baseline instead of a bar, so an
    undefined metric never looks like a zero. `standalone` makes the chart a valid .svg file.
    """
    parts = _open(name, title, standalone=standalone)
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    parts += _y_axis(bottom, top, left, right)
    group_width = (right - left) / max(len(categories), 1)
    bar_width = group_width * 0.8 / max(len(series), 1)
    for group, category in enumerate(categories):
        start = left + group * group_width + group_width * 0.1
        for index, (series_name, values) in enumerate(series.items()):
            value = values[group]
            x = start + index * bar_width
            label = f"{category} {series_name}: {'n/a' if value is None else format(value, '.3f')}"
            if value is None:
                parts.append(f'<text x="{x + bar_width / 2:.1f}" y="{bottom - 4:.1f}" text-anchor="middle" '
                             f'fill="{MISSING_COLOUR}" class="pm-missing">n/a<title>{escape(label)}</title></text>')
                continue
            height = max(min(value, 1.0), 0.0) * (bottom - top)
            colour = PALETTE[index % len(PALETTE)]
            parts.append(f'<rect class="pm-mark" x="{x:.1f}" y="{bottom - height:.1f}" width="{bar_width * 0.9:.1f}" '
                         f'height="{height:.1f}" fill="{colour}"><title>{escape(label)}</title></rect>')
        label_x, label_y = start + group_width * 0.4, bottom + 16
        # Many datasets leave too little room for level names, so they are slanted.
        slant = f' transform="rotate(-30 {label_x:.1f} {label_y:.1f})"' if len(categories) > 6 else ""
        anchor = "end" if slant else "middle"
        parts.append(f'<text x="{label_x:.1f}" y="{label_y:.1f}" text-anchor="{anchor}"{slant}>'
                     f'{escape(category)}</text>')
    parts += _legend(list(series), right + 12, top)
    parts.append("</svg>")
    return "\n".join(parts)


def curve_chart(name: str, title: str, curves: dict[str, tuple[Sequence[float], Sequence[float]]],
                x_label: str, y_label: str, diagonal: bool = True) -> str:
    """Draw one path per curve on the unit square, such as ROC curves (x = FPR, y = TPR)."""
    parts = _open(name, title)
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    parts += _y_axis(bottom, top, left, right)

    def point(x: float, y: float) -> str:
        return f"{left + x * (right - left):.1f},{bottom - y * (bottom - top):.1f}"

    if diagonal:
        parts.append(f'<path d="M{point(0, 0)} L{point(1, 1)}" class="pm-diagonal"/>')
    for index, (curve_name, (xs, ys)) in enumerate(curves.items()):
        if not len(xs):
            continue
        steps = " L".join(point(x, y) for x, y in zip(xs, ys, strict=True))
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<path class="pm-mark" d="M{steps}" fill="none" stroke="{colour}" stroke-width="2">'
                     f'<title>{escape(curve_name)}</title></path>')
    parts.append(f'<text x="{(left + right) / 2:.1f}" y="{bottom + 32:.1f}" text-anchor="middle">'
                 f'{escape(x_label)}</text>')
    parts.append(f'<text x="12" y="{(top + bottom) / 2:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {(top + bottom) / 2:.1f})">{escape(y_label)}</text>')
    parts += _legend(list(curves), right + 12, top)
    parts.append("</svg>")
    return "\n".join(parts)


def confusion_chart(name: str, title: str, confusions: dict[str, dict[str, int]]) -> str:
    """Draw a 2x2 confusion matrix per fold; each cell's shade is its share of the fold's prompts."""
    cell = 34
    block = 2 * cell + 40
    columns = max(min(len(confusions), 6), 1)
    rows = (len(confusions) + columns - 1) // columns
    width = max(columns * block + 40, 320)
    height = MARGIN_TOP + rows * (block + 30) + 20
    parts = _open(name, title, width, height)
    layout = (("tn", 0, 0), ("fp", 0, 1), ("fn", 1, 0), ("tp", 1, 1))
    for index, (fold_name, confusion) in enumerate(confusions.items()):
        x0 = 20 + (index % columns) * block
        y0 = MARGIN_TOP + 20 + (index // columns) * (block + 30)
        total = max(sum(confusion.values()), 1)
        parts.append(f'<text x="{x0 + cell:.0f}" y="{y0 - 6}" text-anchor="middle">{escape(fold_name)}</text>')
        for key, row, column in layout:
            count = confusion[key]
            correct = key in ("tn", "tp")
            shade = 0.15 + 0.85 * count / total
            colour = "#3b6ea5" if correct else "#b5454b"
            x, y = x0 + column * cell, y0 + row * cell
            parts.append(f'<rect class="pm-mark" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                         f'fill="{colour}" fill-opacity="{shade:.2f}"><title>{escape(fold_name)} {key}: {count}'
                         f'</title></rect>')
            parts.append(f'<text x="{x + cell / 2 - 1:.0f}" y="{y + cell / 2 + 4:.0f}" text-anchor="middle">'
                         f'{count}</text>')
    parts.append(f'<text x="20" y="{height - 6}">rows: true benign, malicious; columns: predicted benign, '
                 "malicious</text>")
    parts.append("</svg>")
    return "\n".join(parts)
