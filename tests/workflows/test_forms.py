"""One typed form per action (issue 18, point 1): every form the Prefect UI shows for Homeward
asks exactly its fields, typed (dates, dropdowns of codes and of the directory's
organisations), and the server refuses a run whose parameters do not fit, so nothing typed
outside the lists creates a run. On a real Prefect server (the session's harness)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from prefect import flow, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.client.schemas.objects import StateType
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import PrefectHTTPStatusError

from homeward.base.choices import code_of, offered
from homeward.base.clock import SimulatedClock, local_date
from statemachines.steps import ConsentMethod
from tests import factories
from tests.factories import COORD
from tests.signin import assertion_for
from tests.workflows.helpers import log_of, reason, run, run_named
from workflows.deployments import build_deployments
from workflows.forms import Language, outcome_codes, takes_codes
from workflows.runtime import now as flows_now
from workflows.stage_forms import arrange_travel, record_consent

pytestmark = pytest.mark.usefixtures("homeward")

FORMS = {
    "start-return", "record-consent", "move-stage", "arrange-travel", "record-departure",
    "confirm-arrival", "suspend-case", "change-status", "withdraw-consent", "close-case",
    "reopen-case", "wait-for-closure", "record-checklist-item", "handoff-item",
}  # fmt: skip
GOOD: dict[str, dict[str, Any]] = {
    "record-consent": {"case_ref": "RT-7KQ2-M9", "method": "signed", "language": "ro"},
    "arrange-travel": {
        "case_ref": "RT-7KQ2-M9",
        "document_kind": "passport",
        "document_expires_on": "2031-01-31",
        "departure_on": "2030-06-01",
    },
    "start-return": {"host_country": "IT", "ngo": "adpare", "destination_county": "RO-BV"},
    "handoff-item": {
        "item_id": 3,
        "action": "propose",
        "assertion": "aaaa.bbbb.cccc",
        "to_org": "fmb",
    },
}


def _forms() -> dict[str, RunnerDeployment]:
    return {d.name: d for d in build_deployments() if d.name in FORMS}


def _schema(deployment: RunnerDeployment) -> dict[str, Any]:
    return deployment._parameter_openapi_schema.model_dump()


def test_the_ui_serves_one_form_per_kind_of_step_and_no_free_text_form() -> None:
    served = {d.name for d in build_deployments()}
    assert FORMS <= served and "advance-case" not in served  # trigger and data as free text


@pytest.mark.parametrize("name", sorted(FORMS))
def test_every_field_is_titled_and_typed_no_field_takes_free_text(name: str) -> None:
    schema = _schema(_forms()[name])
    definitions = schema["definitions"]
    for field, prop in schema["properties"].items():
        assert prop["title"] and "_" not in prop["title"], f"{name}.{field}: {prop['title']}"
        assert (
            "anyOf" not in prop
            and prop.get("type") not in ("object", "array", None)
            or ("$ref" in prop)
        ), f"{name}.{field} is not one plain field"
        if "$ref" in prop:  # each code offered with its meaning: "Signed (signed)"
            offered = definitions[prop["$ref"].rsplit("/", 1)[-1]]["enum"]
            assert offered and all(code_of(o) != o for o in offered), offered
        elif prop["type"] == "string":
            assert "enum" in prop or "pattern" in prop, f"{name}.{field} takes any text"


def test_dates_are_dates_and_codes_are_dropdowns() -> None:
    travel = _schema(_forms()["arrange-travel"])["properties"]
    assert travel["departure_on"]["format"] == "date" and travel["departure_on"]["pattern"]
    assert travel["document_issued_on"]["format"] == "date"  # optional, still a plain date
    consent = _schema(_forms()["record-consent"])
    assert "Romanian (ro)" in consent["definitions"]["Language"]["enum"]
    item = _schema(_forms()["record-checklist-item"])["properties"]
    assert [code_of(o) for o in item["outcome"]["enum"]] == outcome_codes()
    assert "Low (low)" in item["outcome"]["enum"]
    assert (
        "#" in item["item_id"]["description"] and "homeward" not in item["item_id"]["description"]
    )


def test_organisations_are_dropdowns_of_the_directory_by_kind() -> None:
    start = _schema(_forms()["start-return"])["properties"]
    names = {slug: name for slug, name, *_ in factories.ORGS}
    assert start["ngo"]["enum"] == [f"{names['adpare']} (adpare)", f"{names['fmb']} (fmb)"]
    assert [code_of(o) for o in start["s_iom"]["enum"]] == ["iom-it", "iom-ro"]
    assert [code_of(o) for o in start["dgaspc"]["enum"]] == ["dgaspc-bv"]
    assert "DGASPC" in start["dgaspc"]["title"]
    assert "enum" not in start["le"]  # no police in the directory: the slug's shape only
    countries = start["host_country"]["enum"]
    assert countries[0] == "Afghanistan (AF)"  # by name
    assert "Italy (IT)" in countries and not any(code_of(c) == "XX" for c in countries)
    assert "Brașov (RO-BV)" in start["destination_county"]["enum"]
    assert start["destination_country"]["default"] == "Romania (RO)"
    hand = _schema(_forms()["handoff-item"])["properties"]
    assert {code_of(o) for o in hand["to_org"]["enum"]} == {o[0] for o in factories.ORGS}


async def _apply(names: list[str]) -> dict[str, Any]:
    forms = _forms()
    return {name: await forms[name].apply() for name in names}


async def _create(deployment_id: Any, parameters: dict[str, Any]) -> Any:
    """A run of the deployment, each code given as the label its form offers (as the UI and
    the web workspace give them)."""
    async with get_client() as client:
        schema = (await client.read_deployment(deployment_id)).parameter_openapi_schema
        chosen = offered(schema, parameters)
        return await client.create_flow_run_from_deployment(deployment_id, parameters=chosen)


async def _runs_of(deployment_id: Any) -> list[Any]:
    async with get_client() as client:
        found = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
        return await client.read_flow_runs(flow_run_filter=found)


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("record-consent", "case_ref", "Ana Pop"),
        ("record-consent", "language", "Romanian, via her cousin"),
        ("arrange-travel", "departure_on", "next Tuesday"),
        ("start-return", "host_country", "XX"),
        ("start-return", "ngo", "somebody-else"),
        ("handoff-item", "to_org", "the-police"),
        ("handoff-item", "item_id", 0),
    ],
)
def test_the_server_refuses_a_run_whose_value_does_not_fit(
    name: str, field: str, value: object
) -> None:
    async def scenario() -> tuple[int, list[Any], Any]:
        ids = await _apply([name])
        before = {r.id for r in await _runs_of(ids[name])}  # an earlier test's, if any
        with pytest.raises(PrefectHTTPStatusError) as refused:
            await _create(ids[name], {**GOOD[name], field: value})
        good = await _create(ids[name], GOOD[name])  # the same form filled in well: a run
        runs = [r for r in await _runs_of(ids[name]) if r.id not in before]
        async with get_client() as client:
            await client.delete_flow_run(good.id)  # nobody serves it here
        return refused.value.response.status_code, runs, good

    status, runs, good = asyncio.run(scenario())
    assert status == 409
    assert [r.id for r in runs] == [good.id]


@pytest.mark.parametrize(
    "language",
    [
        "Qwopperton",
        # free text dressed as a label: its "(ro)" is a code, but no form offers this label
        # (security review: it passed as "ro" and stayed in Prefect as typed)
        "Zyx Qwopperton, Str. Lunga 5 (ro)",
    ],
)
def test_a_python_call_that_does_not_fit_is_refused_naming_the_field_and_scrubbed(
    clock: SimulatedClock, language: str
) -> None:
    ref = factories.open_case(clock)
    before = factories.db_snapshot()
    token = assertion_for(COORD, "record-consent")
    typed = {"method": "signed", "language": language}
    said = run(record_consent(case_ref=ref, **typed, assertion=token))
    assert reason(said) == "language: choose one of " + ", ".join(Language)
    assert factories.db_snapshot() == before
    # ends refused (issue 18 point 2), its parameters scrubbed before it ended (point 3)
    refused = asyncio.run(run_named(f"case-{ref}/record_consent", state="Refused"))
    assert refused.state_type == StateType.COMPLETED
    assert refused.parameters["language"] == "(refused)" and refused.parameters["case_ref"] == ref
    assert "Qwopperton" not in str(refused.state.message if refused.state else "")
    logs = asyncio.run(log_of(refused.id))
    assert not any("Qwopperton" in m or "Traceback" in m for _, m in logs)


def test_a_typed_form_moves_the_case(clock: SimulatedClock) -> None:
    ref = factories.open_case(clock)
    for trigger in factories.HAPPY_PATH[:2]:
        factories.complete_stage(ref, clock)
        factories.advance(ref, trigger, clock)
    factories.complete_stage(ref, clock)
    today = local_date(flows_now())
    result = run(
        arrange_travel(
            case_ref=ref.lower(),
            document_kind="passport",
            document_expires_on=f"{today + timedelta(days=400)}",
            departure_on=f"{today + timedelta(days=7)}",
            assertion=assertion_for(COORD, "arrange-travel"),
        )
    )
    assert result["state"] == "travel_arranged" and result["case_ref"] == ref
    assert asyncio.run(run_named(f"case-{ref}/arrange_travel")).state_name == "Completed"


def test_a_step_the_engine_refuses_ends_the_form_s_run_refused(clock: SimulatedClock) -> None:
    """Issue 18 point 2 on the typed forms: Completed, named Refused, one warning, no traceback."""
    ref = factories.open_case(clock)  # its stage's blocking items are open
    token = assertion_for(COORD, "record-consent")
    said = run(record_consent(case_ref=ref, method="signed", language="ro", assertion=token))
    assert "blocking items" in reason(said)
    refused = asyncio.run(run_named(f"case-{ref}/record_consent", state="Refused"))
    assert refused.state_type == StateType.COMPLETED
    logs = asyncio.run(log_of(refused.id))
    assert [lv for lv, m in logs if m.startswith("Refused: ")] == [logging.WARNING]
    assert not any("Traceback" in m for _, m in logs)


def _consent(language: Language, method: ConsentMethod | None = None) -> tuple[object, object]:
    return language, method


def test_the_flow_s_body_gets_the_codes_its_chosen_labels_carry() -> None:
    """The UI sends ``Romanian (ro)``; Prefect calls the flow with its parameters by position
    (a served run) or by name (a Python call): either way the body reads the code."""
    made = takes_codes(flow(name="labels-probe")(_consent))
    by_position = made.fn("Romanian (ro)", "Signed (signed)")
    by_name = made.fn(language="Romanian (ro)", method="signed")
    assert by_position == by_name == (Language.RO, ConsentMethod.SIGNED)
    assert made.fn("Klingon (tlh)") == ("tlh", None)  # no such code: the run's check refuses it
