"""The CLI end to end on a real database: happy paths, and every user error as one line."""

from __future__ import annotations

import json

import pytest

from tests import factories as f
from tests.cli.runner import run_cli

ADMIN = ("--as", f.PLATFORM_ADMIN)  # directory changes are a signed-in administrator's
PERSON = json.dumps({"given_name": "Zenobia", "family_name": "Canarycanary", "phone": "+40 7"})


@pytest.fixture
def cli(db_url, capsys, monkeypatch):
    def run(*args: str, stdin: str = ""):
        return run_cli(capsys, monkeypatch, *args, stdin=stdin)

    return run


@pytest.fixture
def seeded(cli):
    f.seed()
    return cli


def test_org_and_staff_roundtrip(cli):
    first = ["--org", "iom-ro", "--org-name", "IOM Romania", "--kind", "iom_mission"]
    first += ["--country", "RO", "--name", "Mara Ene", "--email", f.PLATFORM_ADMIN]
    assert cli("admin", "init", *first).code == 0
    assert (
        cli(
            *ADMIN,
            "org",
            "add",
            "--slug",
            "iom-it",
            "--name",
            "IOM Italy",
            "--kind",
            "iom_mission",
            "--country",
            "it",
        ).code
        == 0
    )
    assert (
        cli(
            *ADMIN,
            "staff",
            "add",
            "--org",
            "iom-it",
            "--name",
            "Ana Pop",
            "--email",
            "Ana@IOM-it.example.org",
            "--role",
            "coordinator",
            "--language",
            "ro",
        ).code
        == 0
    )
    orgs = cli("org", "list")
    assert "iom-it" in orgs.out and "IOM Italy" in orgs.out and " IT " in orgs.out
    staff = cli("staff", "list", "--org", "iom-it")
    assert "ana@iom-it.example.org" in staff.out and "coordinator" in staff.out


def test_case_journey_through_the_cli(seeded):
    as_coord = ("--as", f.COORD)
    started = seeded(*as_coord, "case", "start", "--person", "-", stdin=PERSON)
    assert started.code == 0, started.err
    ref = started.out.split()[1]
    assert ref.startswith("RT-") and "identified_abroad" in started.out
    for item in f.items(ref, stage="identified_abroad"):
        assert seeded("--as", f.COORD, "items", "done", str(item.id)).code == 0
    moved = seeded(
        *as_coord,
        "case",
        "advance",
        ref,
        "record_consent",
        "--set",
        "method=signed",
        "--set",
        "language=RO",
        "--set",
        "interpreter=true",
    )
    assert moved.code == 0, moved.err
    assert "consent_obtained" in moved.out
    shown = seeded(*as_coord, "case", "show", ref)
    assert "Return risk and security assessment" in shown.out
    assert "next: complete_assessment" in shown.out
    history = seeded(*as_coord, "case", "history", ref)
    assert "record_consent" in history.out and "item_done" in history.out
    listed = seeded(*as_coord, "case", "list", "--stage", "consent_obtained")
    assert ref in listed.out
    case = f.load_case(ref)
    assert (case.phase, case.consent_language, case.interpreter_used) == (
        "consent_obtained",
        "ro",
        True,
    )


def test_personal_data_only_on_request_and_only_for_the_owner(seeded):
    ref = seeded("--as", f.COORD, "case", "start", "--person", "-", stdin=PERSON).out.split()[1]
    outputs = [
        seeded("--as", f.COORD, "case", "show", ref).out,
        seeded("--as", f.COORD, "case", "list").out,
        seeded("--as", f.COORD, "case", "history", ref).out,
        seeded("--as", f.COORD, "items", "list").out,
    ]
    assert all("Canarycanary" not in out for out in outputs)
    assert "Canarycanary" in seeded("--as", f.COORD, "case", "show", ref, "--personal").out
    adpare = seeded("--as", "cw@adpare.example.org", "case", "show", ref, "--personal")
    assert adpare.code == 3 and "Canarycanary" not in adpare.out + adpare.err


def test_items_handoff_accept_and_list_filters(seeded, clock):
    ref = f.open_case(clock)
    item = f.items(ref, stage="identified_abroad")[0]
    handed = seeded("--as", f.COORD, "items", "handoff", str(item.id), "--to", "adpare")
    assert handed.code == 0, handed.err
    assert seeded("--as", "cw@adpare.example.org", "items", "accept", str(item.id)).code == 0
    mine = seeded("--as", "cw@adpare.example.org", "items", "list", "--mine")
    assert ref in mine.out and "Presumed victim identified" in mine.out
    overdue = seeded("--as", f.COORD, "items", "list", "--overdue")  # due dates are in January
    assert ref in overdue.out and "OVERDUE" in overdue.out


def test_case_transfer_through_the_cli(seeded, clock):
    ref = f.open_case(clock)
    assert seeded("--as", f.COORD, "case", "handoff", ref, "--to", "iom-ro").code == 0
    assert seeded("--as", "coord@iom-ro.example.org", "case", "accept", ref).code == 0
    assert "iom-ro" in seeded("--as", f.COORD, "case", "show", ref).out


# (description, argv, stdin, exit code, words the one-line error must contain)
BAD_INPUT = [
    (
        "bad slug",
        [*ADMIN, "org", "add", "--slug", "X", "--name", "n", "--kind", "ngo", "--country", "RO"],
        "",
        2,
        ["slug"],
    ),
    (
        "bad kind",
        [
            *ADMIN,
            "org",
            "add",
            "--slug",
            "abc",
            "--name",
            "nn",
            "--kind",
            "bank",
            "--country",
            "RO",
        ],
        "",
        2,
        ["kind", "ngo"],
    ),
    (
        "bad country",
        [
            *ADMIN,
            "org",
            "add",
            "--slug",
            "abc",
            "--name",
            "nn",
            "--kind",
            "ngo",
            "--country",
            "ROU",
        ],
        "",
        2,
        ["country"],
    ),
    (
        "duplicate org",
        [
            *ADMIN,
            "org",
            "add",
            "--slug",
            "adpare",
            "--name",
            "nn",
            "--kind",
            "ngo",
            "--country",
            "RO",
        ],
        "",
        5,
        ["adpare", "already exists"],
    ),
    (
        "bad email",
        [
            *ADMIN,
            "staff",
            "add",
            "--org",
            "adpare",
            "--name",
            "nn",
            "--email",
            "nope",
            "--role",
            "caseworker",
        ],
        "",
        2,
        ["email"],
    ),
    (
        "unknown org",
        [
            *ADMIN,
            "staff",
            "add",
            "--org",
            "nowhere",
            "--name",
            "nn",
            "--email",
            "a@b.example.org",
            "--role",
            "caseworker",
        ],
        "",
        3,
        ["nowhere"],
    ),
    (
        "bad role",
        [
            *ADMIN,
            "staff",
            "add",
            "--org",
            "adpare",
            "--name",
            "nn",
            "--email",
            "a@b.example.org",
            "--role",
            "boss",
        ],
        "",
        2,
        ["role"],
    ),
    (
        "bad language",
        [
            *ADMIN,
            "staff",
            "add",
            "--org",
            "adpare",
            "--name",
            "nn",
            "--email",
            "a@b.example.org",
            "--role",
            "caseworker",
            "--language",
            "fr",
        ],
        "",
        2,
        ["language"],
    ),
    ("signed out", ["case", "list"], "", 12, ["session:", "homeward login"]),
    ("not staff", ["--as", "ghost@x.example.org", "case", "list"], "", 12, ["session:"]),
    ("no person", ["--as", f.COORD, "case", "start"], "", 2, ["--person"]),
    (
        "bad person json",
        ["--as", f.COORD, "case", "start", "--person", "-"],
        "{not json",
        2,
        ["--person"],
    ),
    (
        "person missing name",
        ["--as", f.COORD, "case", "start", "--person", "-"],
        '{"given_name": "A"}',
        2,
        ["family_name"],
    ),
    (
        "person unknown field",
        ["--as", f.COORD, "case", "start", "--person", "-"],
        '{"given_name": "A", "family_name": "B", "eyes": "blue"}',
        2,
        ["eyes"],
    ),
    (
        "unknown participant org",
        ["--as", f.COORD, "case", "start", "--with", "ngo=nowhere", "--person", "-"],
        PERSON,
        3,
        ["nowhere"],
    ),
    (
        "participant of wrong kind",
        ["--as", f.COORD, "case", "start", "--with", "ngo=iom-ro", "--person", "-"],
        PERSON,
        2,
        ["participants.ngo"],
    ),
    (
        "unknown participant role",
        ["--as", f.COORD, "case", "start", "--with", "bank=adpare", "--person", "-"],
        PERSON,
        2,
        ["participants"],
    ),
    (
        "unknown process",
        ["--as", f.COORD, "case", "start", "--process-version", "v9", "--person", "-"],
        PERSON,
        2,
        ["v9"],
    ),
    (
        "manager opens case",
        ["--as", "mgr@iom-it.example.org", "case", "start", "--person", "-"],
        PERSON,
        4,
        ["manager"],
    ),
    ("unknown case", ["--as", f.COORD, "case", "show", "RT-AAAA-AA"], "", 3, ["RT-AAAA-AA"]),
    ("not a case_ref", ["--as", f.COORD, "case", "show", "Ana Pop"], "", 2, ["case_ref"]),
    # the refusal names the field, never what was typed (it may be anything a person typed)
    ("unknown trigger", ["--as", f.COORD, "case", "advance", "{ref}", "fly"], "", 2, ["trigger"]),
    (
        "wrong stage",
        ["--as", f.COORD, "case", "advance", "{ref}", "depart"],
        "",
        4,
        ["depart", "identified_abroad", "record_consent"],
    ),
    (
        "malformed --set",
        ["--as", f.COORD, "case", "advance", "{ref}", "record_consent", "--set", "method"],
        "",
        2,
        ["--set"],
    ),
    (
        "consent without language",
        ["--as", f.COORD, "case", "advance", "{ref}", "record_consent", "--set", "method=signed"],
        "",
        2,
        ["language"],
    ),
    (
        "consent bad method",
        [
            "--as",
            f.COORD,
            "case",
            "advance",
            "{ref}",
            "record_consent",
            "--set",
            "method=nod",
            "--set",
            "language=ro",
        ],
        "",
        2,
        ["method"],
    ),
    (
        "blocking items open",
        [
            "--as",
            f.COORD,
            "case",
            "advance",
            "{ref}",
            "record_consent",
            "--set",
            "method=signed",
            "--set",
            "language=ro",
        ],
        "",
        4,
        ["victim_identified", "skip"],
    ),
    (
        "stale version",
        [
            "--as",
            f.COORD,
            "case",
            "advance",
            "{ref}",
            "suspend",
            "--set",
            "reason=safety_incident",
            "--expect-version",
            "7",
        ],
        "",
        5,
        ["version"],
    ),
    (
        "caseworker steers",
        [
            "--as",
            "cw@iom-it.example.org",
            "case",
            "advance",
            "{ref}",
            "suspend",
            "--set",
            "reason=safety_incident",
        ],
        "",
        4,
        ["caseworker"],
    ),
    (
        "outsider steers",
        [
            "--as",
            "cw@fmb.example.org",
            "case",
            "advance",
            "{ref}",
            "suspend",
            "--set",
            "reason=safety_incident",
        ],
        "",
        3,
        ["not found"],
    ),
    ("unknown item", ["--as", f.COORD, "items", "done", "99999"], "", 3, ["#99999"]),
    (
        "other org's item",
        ["--as", "cw@fmb.example.org", "items", "done", "{item}"],
        "",
        3,
        ["not found"],
    ),
    (
        "outcome not taken",
        ["--as", f.COORD, "items", "done", "{item}", "--outcome", "high"],
        "",
        2,
        ["outcome"],
    ),
    (
        "skip without reason",
        ["--as", f.COORD, "items", "skip", "{item}", "--reason", "no"],
        "",
        2,
        ["reason"],
    ),
    (
        "handoff to nowhere",
        ["--as", f.COORD, "items", "handoff", "{item}", "--to", "nowhere"],
        "",
        3,
        ["nowhere"],
    ),
    (
        "accept nothing",
        ["--as", "cw@adpare.example.org", "items", "accept", "{item}"],
        "",
        3,
        ["handoff"],
    ),
    (
        "unknown stage filter",
        ["--as", f.COORD, "case", "list", "--stage", "flying"],
        "",
        2,
        ["state"],
    ),
    (
        "unknown status filter",
        ["--as", f.COORD, "items", "list", "--status", "lost"],
        "",
        2,
        ["status"],
    ),
    ("missing option", ["org", "add", "--slug"], "", 2, ["--slug"]),
    ("unknown command", ["fly"], "", 2, ["fly"]),
]


@pytest.mark.parametrize(
    ("argv", "stdin", "code", "words"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_user_errors_are_one_line_and_change_nothing(seeded, clock, argv, stdin, code, words):
    ref = f.open_case(clock)
    item = f.items(ref, stage="identified_abroad")[0]
    argv = [a.format(ref=ref, item=item.id) for a in argv]
    before = f.db_snapshot()
    result = seeded(*argv, stdin=stdin)
    assert result.code == code, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.err + result.out
    assert f.db_snapshot() == before


def test_items_can_be_assigned_to_a_staff_member_of_the_owner(seeded, clock):
    ref = f.open_case(clock)
    item = f.items(ref, stage="identified_abroad")[0]
    assigned = seeded(
        "--as", f.COORD, "items", "assign", str(item.id), "--to", "cw@iom-it.example.org"
    )
    assert assigned.code == 0 and "assigned to cw@iom-it.example.org" in assigned.out
    assert f.items(ref, stage="identified_abroad")[0].assignee_id is not None
    outsider = seeded(
        "--as", f.COORD, "items", "assign", str(item.id), "--to", "cw@adpare.example.org"
    )
    assert outsider.code == 4 and "hand the item off first" in outsider.err


def test_a_name_typed_where_a_case_ref_belongs_is_not_echoed(seeded):
    for argv in (["case", "show", "Ana Pop"], ["case", "history", " ana pop "]):
        result = seeded("--as", f.COORD, *argv)
        assert result.code == 2 and "case_ref" in result.err
        assert "ana" not in result.err.lower(), result.err
