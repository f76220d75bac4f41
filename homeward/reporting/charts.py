"""The progress-against-targets chart as a self-contained SVG that reads on any page.

Prefect shows a markdown artifact's image on its light or its dark theme, and a chart file
opens in whatever a manager's viewer paints behind it; so the chart paints its own card (an
explicit background) and gives every text and shape its own colour, chosen for contrast on
that card (text 15:1, bars and target marks above 4.5:1, as WCAG asks of text). Labels are
wrapped, never cut; each target is drawn as a mark on its bar with its number beside it, since
an ``<img>`` never shows an SVG ``<title>``. Hidden counts (``<k``, ``x``) are drawn as no bar
and their label said in words. A target mark carries a white outline: it stays apart from the
bar it crosses when the target is passed.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from html import escape

from homeward.reporting.tables import Label, Report

CARD = "#ffffff"
BORDER = "#8c959f"
INK = "#1f2328"  # every text, on the card
TRACK = "#eaeef2"
ACHIEVED = "#0b5cad"
TARGET = "#b42318"
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"

WIDTH, LEFT, RIGHT_COLUMN = 760, 270, 150
BAR_H, LINE_H, GAP = 22, 15, 16
LABEL_CHARS, TITLE_CHARS = 30, 62  # what fits the label column / the card at these sizes


@dataclass(frozen=True)
class Bar:
    """One indicator as drawn: its label, target, and achieved count (a number or a label)."""

    label: str
    target: int
    achieved: Label


def bars_of(report: Report) -> list[Bar]:
    """The indicators of a targets report that have a target, in the report's order."""
    return [
        Bar(label, target, achieved)
        for label, (target, achieved, _share) in report.tables[0].rows
        if isinstance(target, int) and target > 0
    ]


def wrapped(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, every word kept (long ones split)."""
    return textwrap.wrap(" ".join(text.split()), width, break_long_words=True) or [""]


def _text(
    x: float, y: float, lines: list[str], *, step: int = LINE_H, css: str = "", **attrs: str
) -> str:
    extra = f' class="{css}"' if css else ""
    extra += "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    spans = "".join(
        f'<tspan x="{x}" dy="{0 if i == 0 else step}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text x="{x}" y="{y}" fill="{INK}"{extra}>{spans}</text>'


def _rect(x: float, y: float, w: float, h: float, fill: str, css: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return (
        f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" '
        f'height="{h:.1f}" fill="{fill}"{extra}/>'
    )


def _achieved_text(bar: Bar) -> str:
    if not isinstance(bar.achieved, int | float):
        return f"{bar.achieved} (hidden)" if bar.achieved not in (None, "") else "none"
    share = round(100 * bar.achieved / bar.target)
    return f"{bar.achieved} of {bar.target} ({share}%)"


def _row(bar: Bar, y: int, span: float) -> tuple[list[str], int]:
    """The shapes of one indicator from ``y``; and the height it took."""
    lines = wrapped(bar.label, LABEL_CHARS)
    height = max(len(lines) * LINE_H, BAR_H + LINE_H + 4)
    achieved = bar.achieved if isinstance(bar.achieved, int | float) else 0
    scale = max(bar.target, achieved)
    mark_x = LEFT + span * bar.target / scale
    parts = [
        _text(12, y + 15, lines, css="label"),
        _rect(LEFT, y, span, BAR_H, TRACK, "track", stroke=BORDER, stroke_width="1"),
        _rect(LEFT, y + 3, span * achieved / scale, BAR_H - 6, ACHIEVED, "achieved"),
        _rect(mark_x - 2, y - 3, 4, BAR_H + 6, TARGET, "target-mark", stroke=CARD),
        f'<text class="target-number" x="{mark_x:.1f}" y="{y + BAR_H + 14}" fill="{TARGET}" '
        f'font-size="11" text-anchor="{"end" if mark_x > LEFT + span / 2 else "start"}">'
        f"target {bar.target}</text>",
        _text(LEFT + span + 10, y + 15, [_achieved_text(bar)], css="achieved-number"),
    ]
    return parts, height


def _legend(y: float, k: int) -> list[str]:
    return [
        _rect(12, y - 9, 14, 10, ACHIEVED, "legend"),
        _text(30, y, ["achieved"]),
        _rect(106, y - 11, 4, 14, TARGET, "legend"),
        _text(116, y, ["target"]),
        _text(176, y, [f"<{k}: fewer than {k} cases, not drawn (small-cell suppression)"]),
    ]


def progress_svg(report: Report, width: int = WIDTH) -> str:
    """A horizontal bar chart of achieved against target, on its own card (see the module)."""
    span = width - LEFT - RIGHT_COLUMN
    title = wrapped(report.title, TITLE_CHARS)
    y = 30 + len(title) * 19
    body = _legend(y, report.k)
    y += 22
    for bar in bars_of(report):
        shapes, height = _row(bar, y, span)
        body += shapes
        y += height + GAP
    height = y + 4
    summary = "; ".join(
        f"{b.label}: {_achieved_text(b)}, target {b.target}" for b in bars_of(report)
    )
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="{FONT}" font-size="12">',
        f"<title>{escape(report.title)}</title><desc>{escape(summary)}</desc>",
        _rect(0.5, 0.5, width - 1, height - 1, CARD, "background", stroke=BORDER, rx="8"),
        _text(12, 26, title, step=19, css="title", font_size="16", font_weight="bold"),
    ]
    return "\n".join([*head, *body, "</svg>"])
