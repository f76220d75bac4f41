"""README stays true: its newcomer commands, the demo it promises, the diagram it shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from statemachines.diagram import mermaid

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


def test_the_readme_demo_command_runs_both_cases_to_closure(tmp_path):
    homeward = Path(sys.executable).parent / "homeward"
    env = {**os.environ, "HOMEWARD_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"}
    done = subprocess.run(
        [str(homeward), "demo"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("final stage closed") == 2
    assert "adult: case RT-" in done.stdout and "minor: case RT-" in done.stdout
    assert "Demo" not in done.stdout  # the made-up people's names never print
    assert not (tmp_path / "unused.db").exists()  # the demo never touches the real database


def test_readme_diagram_is_generated_from_the_transition_table():
    block = re.search(
        r"<!-- diagram:start -->\n```mermaid\n(.*?)\n```\n<!-- diagram:end -->", README, flags=re.S
    )
    assert block, "README lost its diagram markers"
    assert block.group(1) == mermaid(), "run `homeward case diagram` and paste it into README"
