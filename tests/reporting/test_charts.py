"""The progress chart reads on any page (issue 18, point 4): its own background, every text and
shape with an explicit colour of enough contrast, labels whole (wrapped, never cut), each target
drawn as a mark with its number. Read with a real XML parser; drawn in Chromium by
``tests/web/test_browser_artifacts.py``."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from homeward.reporting import charts
from homeward.reporting.tables import Report, Table

SVG = "{http://www.w3.org/2000/svg}"
LONG = "Victims supported after return with a reintegration plan agreed within one month"


def targets_report(title: str = "TaNGO (Norway Grants): progress against targets") -> Report:
    table = Table("Progress against targets", "Indicator", ["Target", "Achieved", "% of target"])
    table.rows = [
        ("Victims identified", [100, "<11", None]),
        ("Victims assisted to return", [25, 30, 120.0]),
        (LONG, [25, 12, 48.0]),
        ("National workshops", [None, 2, None]),  # no target: not drawn
    ]
    return Report("targets", title, 11, {}, [table])


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def parsed(report: Report) -> ET.Element:
    return ET.fromstring(charts.progress_svg(report))  # noqa: S314 (our own SVG)


def texts(root: ET.Element, css: str) -> list[str]:
    """The texts of class ``css``, their lines (tspans) joined by a space."""
    return [
        " ".join(span.text or "" for span in t.iter(f"{SVG}tspan")) or (t.text or "")
        for t in root.iter(f"{SVG}text")
        if t.get("class") == css
    ]


def test_the_chart_paints_its_own_background_and_colours_every_text() -> None:
    root = parsed(targets_report())

    background = root.find(f"{SVG}rect")
    assert background is not None and background.get("class") == "background"
    assert background.get("fill") == charts.CARD
    assert float(background.get("width", 0)) >= float(root.get("width", 0)) - 1
    assert float(background.get("height", 0)) >= float(root.get("height", 0)) - 1
    fills = {t.get("fill") for t in root.iter(f"{SVG}text")}
    assert None not in fills and fills <= {charts.INK, charts.TARGET}
    assert contrast(charts.INK, charts.CARD) >= 7
    assert contrast(charts.TARGET, charts.CARD) >= 4.5
    assert contrast(charts.ACHIEVED, charts.TRACK) >= 4.5
    assert contrast(charts.ACHIEVED, charts.CARD) >= 4.5


def test_labels_are_whole_and_wrapped_to_their_column() -> None:
    report = targets_report(title="A programme with a name long enough to need two lines " * 2)
    root = parsed(report)

    assert texts(root, "label") == ["Victims identified", "Victims assisted to return", LONG]
    for label in root.iter(f"{SVG}text"):
        if label.get("class") == "label":
            lines = [span.text or "" for span in label.iter(f"{SVG}tspan")]
            assert all(len(line) <= charts.LABEL_CHARS for line in lines)
    [title] = texts(root, "title")
    assert title == " ".join(report.title.split())
    assert len(list(root.find(f"{SVG}text[@class='title']") or [])) > 1  # wrapped


def test_each_target_is_a_mark_with_its_number_and_hidden_counts_draw_no_bar() -> None:
    root = parsed(targets_report())

    marks = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "target-mark"]
    assert len(marks) == 3 and all(r.get("fill") == charts.TARGET for r in marks)
    assert texts(root, "target-number") == ["target 100", "target 25", "target 25"]
    assert texts(root, "achieved-number") == ["<11 (hidden)", "30 of 25 (120%)", "12 of 25 (48%)"]
    bars = [
        float(r.get("width", 0)) for r in root.iter(f"{SVG}rect") if r.get("class") == "achieved"
    ]
    assert bars[0] == 0 and bars[1] > bars[2] > 0
    # passed its target: the mark sits inside the bar, outlined so it stays apart from it
    assert float(marks[1].get("x", 0)) < 270 + bars[1] and marks[1].get("stroke") == charts.CARD


def test_typed_text_in_a_title_or_label_is_text() -> None:
    report = targets_report(title='<script>alert(1)</script> & "quotes"')
    report.tables[0].rows[0] = ("<b>bold</b>", [10, 3, 30.0])

    root = parsed(report)

    assert texts(root, "title") == ['<script>alert(1)</script> & "quotes"']
    assert texts(root, "label")[0] == "<b>bold</b>"
    assert not list(root.iter(f"{SVG}script"))
