"""README stays true: its newcomer commands, the demo it promises, the diagram it shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from sqlmodel import col, select

from homeward.base.models import AuditEntry, Case, CaseEvent, ChecklistItem, StaffMember
from notifications.sink import LocalSmtpServer, RecordingHandler
from statemachines.diagram import mermaid
from tests import factories

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def test_the_two_newcomer_commands_come_first():
    install, tests = bash_blocks()[:2]
    assert "pip install -c constraints.txt -e '.[dev]'" in install
    assert install.strip().endswith("homeward demo")
    assert tests.strip() == "pytest -q"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q -c constraints.txt -e '.[dev]'" in ci and "pytest -q" in ci


def test_the_readme_demo_command_runs_its_three_cases_to_closure(tmp_path):
    homeward = Path(sys.executable).parent / "homeward"
    env = {**os.environ, "HOMEWARD_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"}
    done = subprocess.run(
        [str(homeward), "demo"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("final stage closed") == 3
    for title in ("adult with her child", "minor", "internal (Cluj)"):
        assert f"{title}: case RT-" in done.stdout
    assert "Demo" not in done.stdout  # the made-up people's names never print
    assert not (tmp_path / "unused.db").exists()  # the demo never touches the real database


def test_readme_diagram_is_generated_from_the_transition_table():
    block = re.search(
        r"<!-- diagram:start -->\n```mermaid\n(.*?)\n```\n<!-- diagram:end -->", README, flags=re.S
    )
    assert block, "README lost its diagram markers"
    assert block.group(1) == mermaid(), "run `homeward case diagram` and paste it into README"


EXAMPLE_REF = "RT-7KQ2-M9"
ITEM_ID = re.compile(r"(\bitems (?:done|skip|show|handoff|accept|reject|assign|reopen|due) )(\d+)")


def using_it_lines() -> list[str]:
    """The command lines of the bash block in README's "Using it" section."""
    section = README.split("\n## Using it\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert block, "README's Using it section lost its bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _item_ids(case_ref: str) -> list[int]:
    with factories.admin_read() as s:
        case = s.exec(select(Case).where(Case.case_ref == case_ref)).one()
        query = select(ChecklistItem.id).where(ChecklistItem.case_id == case.id)
        return sorted(i for i in s.exec(query) if i is not None)


README_SMTP_PORT = "HOMEWARD_SMTP_PORT=8025"


def _as_run(line: str, db_url: str, case_ref: str | None, smtp_port: int) -> str:
    """The README line with this test's database and mail server, and the real case_ref and
    item ids (the README's item N is the case's N-th item: the same numbers on a fresh
    database)."""
    if line.startswith("export HOMEWARD_DATABASE_URL="):
        return f"export HOMEWARD_DATABASE_URL={db_url}"
    line = line.replace(README_SMTP_PORT, f"HOMEWARD_SMTP_PORT={smtp_port}")
    if case_ref is None:
        return line
    ids = _item_ids(case_ref)
    line = ITEM_ID.sub(lambda m: m.group(1) + str(ids[int(m.group(2)) - 1]), line)
    return line.replace(EXAMPLE_REF, case_ref)


def _code_mailed(mailbox: RecordingHandler, seen: int) -> str:
    """The code of the sign-in email after the first ``seen``, as a person reads it."""
    deadline = time.monotonic() + 60
    while len(mailbox.received) <= seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(mailbox.received) > seen, "no sign-in email arrived"
    body = mailbox.received[seen].parsed().get_body(("plain",))
    assert body is not None
    found = re.search(r"sign-in code is (\d{4} \d{4})", body.get_content())
    assert found, "no code in the sign-in email"
    return found.group(1)


def _run_line(script: str, env: dict[str, str], mailbox: RecordingHandler) -> tuple[int, str]:
    """Run one README line in bash; a ``homeward login`` is answered with the emailed code,
    typed at its prompt as a person would."""
    seen = len(mailbox.received)
    with subprocess.Popen(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        typed = _code_mailed(mailbox, seen) + "\n" if "homeward login " in script else ""
        out, err = process.communicate(typed, timeout=120)
    return process.returncode, out + err


def test_the_using_it_walk_through_runs_as_written(db_url, tmp_path):
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEWARD_SMTP_")}
    env |= {"HOME": str(tmp_path), "HOMEWARD_KEY_FILE": str(tmp_path / "keys.json")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    saved, case_ref, mailbox = tmp_path / "env", None, RecordingHandler()
    with LocalSmtpServer(mailbox) as server:
        for line in using_it_lines():
            script = f"{_as_run(line, db_url, case_ref, server.port)}\n"
            script += f"status=$?; env -0 > {saved}; exit $status"
            status, output = _run_line(script, env, mailbox)
            assert status == 0, f"{line}\n{output}"
            env = dict(v.split("=", 1) for v in saved.read_text().split("\0") if "=" in v)
            if " case start " in line:
                case_ref = re.search(r"case (RT-\S+) opened", output).group(1)  # type: ignore[union-attr]
    assert case_ref is not None
    assert [r.rcpt_tos for r in mailbox.received] == [  # one code each time, to the person
        ("mara@iom-ro.example.org",),
        ("ana@iom-it.example.org",),
        ("ion@adpare.example.org",),
        ("ana@iom-it.example.org",),
    ]
    with factories.admin_read() as s:
        case = s.exec(select(Case).where(Case.case_ref == case_ref)).one()
        assert case.phase == "consent_obtained"  # the walk-through really moved the case
        proofs = s.exec(select(CaseEvent.proof).where(CaseEvent.case_id == case.id)).all()
        assert proofs and all(p and p.startswith("session ") for p in proofs)
        admin = s.exec(select(StaffMember).where(StaffMember.role == "platform_admin")).one()
        directory = select(AuditEntry).where(col(AuditEntry.action).startswith("cmd:org add"))
        added = select(AuditEntry).where(col(AuditEntry.action).startswith("cmd:staff add"))
        changes = [*s.exec(directory), *s.exec(added)]  # the walk-through's four, by the admin
        assert len(changes) == 4 and {e.actor_id for e in changes} == {admin.id}
