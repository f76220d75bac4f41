"""The progress chart as a manager sees it (issue 18, points 4 and 6): the artifact's markdown
image drawn by Debian's Chromium on a dark page and on a light one, as Prefect's two themes
paint behind it. The screenshot's pixels are read back: the chart's own card covers whatever
the page is, its title and labels stand out from it, and each target mark is drawn in its
colour; the same SVG inline shows every label whole inside its column. Screenshots are kept
in ``tests/.artefacts`` (``chart-on-dark.png``, ``chart-on-light.png``)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from homeward.reporting import charts
from tests.reporting.test_charts import LONG, contrast, targets_report
from tests.web.browser import darkest
from workflows.artifacts import chart_markdown

THEMES = {"dark": ("#1a1b1f", "#e6e6e6"), "light": ("#ffffff", "#1f2328")}  # page, page text
IMAGE = re.compile(r"!\[([^\]]*)\]\((data:image/svg\+xml;base64,[A-Za-z0-9+/=]+)\)")


def page_html(markdown: str, page: str, ink: str) -> str:
    """The artifact's markdown as Prefect renders it (a heading, the image), on a page."""
    heading, image = markdown.split("\n\n")[:2]
    alt, src = IMAGE.fullmatch(image.strip()).groups()  # type: ignore[union-attr]
    title = re.sub(r"\\(.)", r"\1", heading.removeprefix("## "))  # markdown's escapes, read
    return (
        f"<!doctype html><html lang='en'><head><title>chart</title><style>body{{margin:0;"
        f"padding:24px;background:{page};color:{ink};font-family:sans-serif}}</style></head>"
        f"<body><h2>{title}</h2><img id='chart' alt='{alt}' src='{src}'>"
        f"<div id='inline'>{charts.progress_svg(targets_report())}</div></body></html>"
    )


def close(a: str, b: str, within: int = 12) -> bool:
    return all(abs(int(a[i : i + 2], 16) - int(b[i : i + 2], 16)) <= within for i in (1, 3, 5))


def first_mark() -> tuple[float, float]:
    root = ET.fromstring(charts.progress_svg(targets_report()))  # noqa: S314 (our own SVG)
    mark = next(r for r in root.iter() if r.get("class") == "target-mark")
    return float(mark.get("x", 0)), float(mark.get("y", 0))


@pytest.mark.parametrize("theme", sorted(THEMES))
def test_the_chart_reads_on_a_dark_and_a_light_page(
    chromium: Any, artefacts: Path, theme: str
) -> None:
    page_colour, ink = THEMES[theme]
    context = chromium.new_context(viewport={"width": 1000, "height": 900})
    tab = context.new_page()
    try:
        tab.set_content(page_html(chart_markdown(targets_report()), page_colour, ink))
        tab.wait_for_function("document.getElementById('chart').complete")
        artefacts.mkdir(parents=True, exist_ok=True)
        shot = tab.screenshot(path=str(artefacts / f"chart-on-{theme}.png"), full_page=True)
        box = tab.locator("#chart").bounding_box()
        x, y = round(box["x"]), round(box["y"])
        mark_x, mark_y = first_mark()
        page, card, title, label, mark = darkest(
            tab,
            shot,
            [
                (2, 2, 4, 4),  # the page itself
                (x + 30, y + round(box["height"]) - 4, 4, 2),  # the chart's card, inside it
                (x + 12, y + 12, 380, 18),  # the title's band
                (x + 12, y + 75, 200, 14),  # the first label's line
                (x + round(mark_x) + 1, y + round(mark_y) + 2, 2, 4),  # the first target mark
            ],
        )
        inline = tab.evaluate(
            """() => [...document.querySelectorAll('#inline text')].map(t => {
                const b = t.getBBox();
                const spans = [...t.querySelectorAll('tspan')].map(s => s.textContent);
                return [t.getAttribute('class'), b.x, b.x + b.width,
                        spans.length ? spans.join(' ') : t.textContent];
            })"""
        )
        width = float(
            tab.evaluate("() => document.querySelector('#inline svg').width.baseVal.value")
        )
    finally:
        context.close()

    assert close(page, page_colour)  # the page really is the theme's
    assert close(card, charts.CARD)  # and the chart paints its own card over it
    assert contrast(title, charts.CARD) >= 7 and contrast(label, charts.CARD) >= 7
    assert close(mark, charts.TARGET, within=24)
    labels = [text for css, _, _, text in inline if css == "label"]
    assert labels == ["Victims identified", "Victims assisted to return", LONG]
    assert all(right <= charts.LEFT - 4 for css, _, right, _ in inline if css == "label")
    assert all(0 <= left and right <= width - 4 for _, left, right, _ in inline)
    targets = [text for css, _, _, text in inline if css == "target-number"]
    assert targets == ["target 100", "target 25", "target 25"]
