"""Prefect's own UI as a coordinator and a manager see it (issue 18, point 6): a real Prefect
server behind ``homeward up``'s gate (``LocalServer``, its UI on), Homeward's deployments on it,
Debian's Chromium on Prefect's dark theme. The default UI (Prefect 3.8's "v2") draws each
form's dropdowns from its schema: they must show human labels (``Romanian (ro)``, ``IOM
Romania (iom-ro)``), never a raw JSON editor, and a value outside the form must be refused
without a run. The progress chart, opened as a manager opens an artifact, must read on the dark
page: its own card, its text in contrast, its labels whole.

One server for the module (its first start migrates its database: the slow part); only the
deployments the tests open are applied. Screenshots (PNG) go to ``tests/.artefacts``.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from homeward.base.choices import LABELLED, code_of
from homeward.edges.prefect_server import LocalServer
from homeward.reporting import charts
from tests.conftest import BACKEND
from tests.prefect_api import sent
from tests.reporting.test_charts import LONG, contrast, luminance, targets_report
from tests.web.browser import darkest, hex_of, require_tools

pytestmark = [
    pytest.mark.browser,
    pytest.mark.prefect_ui,
    # Prefect's UI and Homeward's deployments only (a fixed directory): no Homeward database,
    # so the PostgreSQL run of the suite would repeat the SQLite run's minutes for nothing.
    pytest.mark.skipif(BACKEND == "postgres", reason="no Homeward database: the SQLite run's"),
    pytest.mark.filterwarnings("ignore:Artifact creation outside:FutureWarning"),  # the chart
]

DIRECTORY = {
    "iom_mission": [("iom-it", "IOM Italy", "IT"), ("iom-ro", "IOM Romania", "RO")],
    "ngo": [("adpare", "ADPARE", "RO"), ("fmb", "Micu Bogdan Foundation", "RO")],
}
OPENED = ("record-consent", "suspend-case", "start-return")  # a stage form, a status form
CHART = "homeward-progress-chart-test"
STARTUP_SECONDS = 120.0
NO_TRACKING = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


@dataclass
class PrefectUI:
    server: LocalServer
    deployments: dict[str, UUID]
    chart: UUID

    @property
    def url(self) -> str:
        return self.server.ui_url

    def runs(self) -> int:
        """How many flow runs the server holds."""
        answer = httpx.post(f"{self.server.api_url}/flow_runs/count", json={}, timeout=10)
        answer.raise_for_status()
        return int(answer.json())


def _in_a_thread(work: Callable[[], Any], timeout: float) -> Any:
    """``work()`` in a thread of its own (it may run an event loop; Playwright's holds this
    thread's while a browser test before this one left Chromium open)."""
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=call, name="prefect-ui-setup", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"the Prefect server's setup took over {timeout:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _prepare(api_url: str) -> tuple[dict[str, UUID], UUID]:
    """Apply the deployments the tests open, and publish the progress chart."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from workflows.artifacts import publish_chart
    from workflows.deployments import build_deployments

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        ids = {}
        for deployment in build_deployments(directory=DIRECTORY, names=OPENED):
            ids[deployment.name] = await deployment.apply()
        await publish_chart(targets_report(), CHART)
        async with get_client() as client:
            keyed = ArtifactFilter(key=ArtifactFilterKey(any_=[CHART]))
            (chart,) = await client.read_artifacts(artifact_filter=keyed)
    return ids, chart.id


@pytest.fixture(scope="module")
def prefect_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectUI]:
    """A Prefect server as ``homeward up`` starts it (gate included), with its UI."""
    require_tools()
    mp = pytest.MonkeyPatch()
    for name, value in NO_TRACKING.items():
        mp.setenv(name, value)
    server = LocalServer("127.0.0.1", _free_port(), tmp_path_factory.mktemp("prefect-ui"), 1)
    server.start()
    try:
        _in_a_thread(lambda: asyncio.run(server.wait_healthy(STARTUP_SECONDS)), STARTUP_SECONDS)
        ids, chart = _in_a_thread(lambda: asyncio.run(_prepare(server.api_url)), 120)
        yield PrefectUI(server, ids, chart)
    finally:
        server.stop()
        mp.undo()


@pytest.fixture
def dark_tab(chromium: Any, artefacts: Path) -> Iterator[Any]:
    """A tab on Prefect's dark theme (it follows the browser's colour scheme)."""
    context = chromium.new_context(
        viewport={"width": 1280, "height": 1000}, color_scheme="dark", locale="en-GB"
    )
    context.set_default_timeout(30_000)
    artefacts.mkdir(parents=True, exist_ok=True)
    yield context.new_page()
    context.close()


def shot(tab: Any, artefacts: Path, name: str) -> bytes:
    return bytes(tab.screenshot(path=str(artefacts / f"{name}.png"), full_page=True))


def open_form(tab: Any, ui: PrefectUI, name: str) -> None:
    """The deployment's custom-run page ("Run" > "Custom run"), in the default UI."""
    tab.goto(f"{ui.url}/v2/deployments/deployment/{ui.deployments[name]}/run")
    tab.get_by_text("Parameters", exact=True).wait_for()
    assert tab.evaluate("() => document.documentElement.classList.contains('dark')")
    # the form, not the raw JSON editor: no code editor, a control per field
    assert tab.locator(".cm-editor").count() == 0, "the parameters are a JSON editor"


def dropdown(tab: Any, title: str) -> Any:
    return tab.locator(f'button[aria-label="Select {title}"]')


def options_of(tab: Any, title: str) -> list[str]:
    """Open the dropdown titled ``title``; the options it lists, as a person reads them."""
    tab.get_by_role("option").first.wait_for(state="detached")  # the last list has closed
    dropdown(tab, title).click()
    for _ in range(100):  # the list opens (an animation): read it once it shows options
        found = [str(t).strip() for t in tab.get_by_role("option").all_inner_texts()]
        if found:
            return found
        tab.wait_for_timeout(100)
    raise AssertionError(f"the dropdown {title!r} opened no list")


def choose(tab: Any, title: str, label: str) -> None:
    if not tab.get_by_role("option").count():
        dropdown(tab, title).click()
    tab.get_by_role("option", name=label, exact=True).click()
    assert dropdown(tab, title).inner_text().strip() == label


def human(options: list[str]) -> bool:
    """Every option is words with its code in brackets, none a bare code."""
    return all(LABELLED.match(o) and code_of(o) != o for o in options)


def test_a_stage_form_s_dropdowns_show_names_not_codes(
    prefect_ui: PrefectUI, dark_tab: Any, artefacts: Path
) -> None:
    tab = dark_tab
    open_form(tab, prefect_ui, "record-consent")
    languages = options_of(tab, "Language of the consent")
    assert languages[:3] == ["Romanian (ro)", "English (en)", "Italian (it)"]
    assert "Romani (rom)" in languages and human(languages)
    shot(tab, artefacts, "record-consent-languages")
    choose(tab, "Language of the consent", "Romanian (ro)")
    methods = options_of(tab, "How consent was given")
    assert methods[:2] == ["Signed (signed)", "Oral (oral)"] and human(methods)
    choose(tab, "How consent was given", "Signed (signed)")
    shot(tab, artefacts, "record-consent-chosen")


def test_organisations_and_countries_are_named(
    prefect_ui: PrefectUI, dark_tab: Any, artefacts: Path
) -> None:
    tab = dark_tab
    open_form(tab, prefect_ui, "start-return")
    missions = options_of(tab, "IOM mission where the person was identified (S-IOM)")
    assert missions == ["IOM Italy (iom-it)", "IOM Romania (iom-ro)"]
    shot(tab, artefacts, "start-return-organisations")
    choose(tab, "IOM mission where the person was identified (S-IOM)", "IOM Italy (iom-it)")
    countries = options_of(tab, "Country where the person was identified")
    assert "Italy (IT)" in countries and human(countries) and len(countries) == 249
    tab.get_by_placeholder("Search...").fill("ital")  # the list is searched by name
    assert tab.get_by_role("option").all_inner_texts() == ["Italy (IT)"]
    shot(tab, artefacts, "start-return-country-search")
    tab.keyboard.press("Escape")
    assert dropdown(tab, "Route").inner_text().strip() == "Return (return)"  # its default


def test_a_status_form_refuses_a_value_outside_it_and_no_run_is_made(
    prefect_ui: PrefectUI, dark_tab: Any, artefacts: Path
) -> None:
    tab = dark_tab
    open_form(tab, prefect_ui, "suspend-case")
    reasons = options_of(tab, "Reason")
    assert "Safety incident (safety_incident)" in reasons and human(reasons)
    choose(tab, "Reason", "Safety incident (safety_incident)")
    tab.locator("textarea").first.fill("not a case reference")  # the case_ref field
    before = prefect_ui.runs()
    assert submitted(tab) == 409  # the server's check, before any run
    tab.get_by_text("Error creating flow run").first.wait_for()
    assert "/run" in tab.url  # still on the form
    shot(tab, artefacts, "suspend-case-refused")
    # the form's "Enforce Parameter Schema" switch, turned off: the gate keeps it on
    deployment = prefect_ui.deployments["suspend-case"]
    unenforced = httpx.post(
        f"{prefect_ui.server.api_url}/deployments/{deployment}/create_flow_run",
        json={"parameters": {"case_ref": "RT-AAAA-AA", "reason": "safety_incident"},
              "enforce_parameter_schema": False},
        timeout=10,
    )  # fmt: skip
    assert unenforced.status_code == 409, unenforced.text  # a code, not one the form offers
    assert prefect_ui.runs() == before
    # nor is it turned off on the deployment itself (the UI's edit page)
    edited = sent(
        "PATCH",
        f"{prefect_ui.server.api_url}/deployments/{deployment}",
        {"enforce_parameter_schema": False},
    )
    assert edited.is_success, edited.text
    kept = httpx.get(f"{prefect_ui.server.api_url}/deployments/{deployment}", timeout=10)
    assert kept.json()["enforce_parameter_schema"] is True


def submitted(tab: Any) -> int:
    """Press the form's Submit; the status the server answered the run's creation with."""
    with tab.expect_response(lambda r: "create_flow_run" in r.url) as answer:
        tab.get_by_role("button", name="Submit").click()
    return int(answer.value.status)


SVG_TEXT = "{http://www.w3.org/2000/svg}text"


def test_the_progress_chart_reads_on_prefect_s_dark_theme(
    prefect_ui: PrefectUI, dark_tab: Any, artefacts: Path
) -> None:
    tab = dark_tab
    tab.goto(f"{prefect_ui.url}/v2/artifacts/artifact/{prefect_ui.chart}")
    chart = tab.locator("img[alt='progress against targets']")
    chart.wait_for()
    tab.wait_for_function("() => document.querySelector('img[alt]').complete")
    page = tab.evaluate("() => getComputedStyle(document.body).backgroundColor")
    picture = shot(tab, artefacts, "progress-chart-dark")
    box = chart.bounding_box()
    natural, shown, right = chart.evaluate(
        "i => [i.naturalWidth, i.getBoundingClientRect().width, "
        "i.parentElement.getBoundingClientRect().right]"
    )
    src = str(chart.get_attribute("src"))

    rgb = [int(c) for c in re.findall(r"\d+", page)[:3]]
    dark = hex_of(rgb)
    assert luminance(dark) < 0.05, f"the page is not on the dark theme ({page})"
    assert natural == charts.WIDTH and box["x"] + box["width"] <= right + 1  # whole, not cut
    # the chart's own card is painted over the dark page, its text in contrast with it
    card, band = _pixels(tab, picture, box, shown / natural)
    assert contrast(card, charts.CARD) < 1.1 and contrast(card, dark) > 10
    assert contrast(band, card) >= 7, f"the title reads {band} on {card}"
    svg = ET.fromstring(base64.b64decode(src.split(",", 1)[1]))  # noqa: S314 (our own SVG)
    fills = {t.get("fill") or svg.get("fill") or charts.INK for t in svg.iter(SVG_TEXT)}
    assert all(contrast(fill, charts.CARD) >= 4.5 for fill in fills), fills
    words = " ".join(" ".join(t.itertext()) for t in svg.iter(SVG_TEXT))
    assert " ".join(LONG.split()) in " ".join(words.split())  # the long label whole, wrapped


def _pixels(tab: Any, picture: bytes, box: dict[str, float], scale: float) -> list[str]:
    """From the screenshot: the card's colour (inside its border) and the darkest colour of
    the chart's title band, as drawn on the page."""
    x, y = round(box["x"]), round(box["y"] + tab.evaluate("() => window.scrollY"))
    return darkest(
        tab,
        picture,
        [
            (x + 30, y + round(box["height"]) - 4, 4, 2),
            (x + round(12 * scale), y + round(12 * scale), round(300 * scale), 16),
        ],
    )
