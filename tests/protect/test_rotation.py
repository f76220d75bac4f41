"""Master-key rotation killed five times mid-run still ends with every case key re-wrapped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from homeward.base.db import get_engine, read_session, system_scope, write_session
from homeward.crypt.keys import load_keyring
from homeward.protection import vault
from statemachines.cases import CaseIn, get_case, start_case
from tests import factories as f

CASES = 300


def _moved(engine, key_file: Path) -> tuple[int, str | None]:
    ring = json.loads(key_file.read_text())
    if len(ring["master_keys"]) < 2:
        return 0, None
    with engine.connect() as conn, system_scope(conn):
        count = conn.execute(
            text("SELECT count(*) FROM case_key WHERE master_key_id = :k"), {"k": ring["active"]}
        ).scalar()
    return count or 0, ring["active"]


def _rotate_process(db_url: str, key_file: Path) -> subprocess.Popen[bytes]:
    homeward = Path(sys.executable).parent / "homeward"
    env = {**os.environ, "HOMEWARD_DATABASE_URL": db_url, "HOMEWARD_KEY_FILE": str(key_file)}
    return subprocess.Popen(
        [str(homeward), "keys", "rotate", "--batch", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_rotation_killed_five_times_finishes_under_the_new_key_only(db_url, clock, own_keyring):
    f.seed()
    with write_session() as s:
        refs = [
            start_case(
                s, actor=f.actor(s), case_in=CaseIn(), person=f.CANARY, now=clock.now()
            ).case_ref
            for _ in range(CASES)
        ]
    original = load_keyring().active
    engine = get_engine()
    kills_mid_run = 0
    for target in (20, 70, 120, 170, 220):
        proc = _rotate_process(db_url, own_keyring)
        # Until the rotation has moved ``target`` keys (or ended): a guard against a hang, not
        # a speed check. 60 s for the start and the keys, then 30 s for the rest: a loaded
        # machine's slow rotation could end in TimeoutExpired instead of a verdict.
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            moved, _ = _moved(engine, own_keyring)
            if moved >= target:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        proc.wait(timeout=300)
        moved, _ = _moved(engine, own_keyring)
        kills_mid_run += proc.returncode == -signal.SIGKILL and 0 < moved < CASES
    assert kills_mid_run >= 3, "the kills should land while rotation is under way"
    final = _rotate_process(db_url, own_keyring)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    keyring = load_keyring()
    assert keyring.active != original and list(keyring.master_keys) == [keyring.active]
    with engine.connect() as conn, system_scope(conn):
        ids = set(conn.execute(text("SELECT master_key_id FROM case_key")).scalars())
    assert ids == {keyring.active}
    with read_session() as s:
        for ref in refs[:: CASES // 30]:
            case = get_case(s, case_ref=ref, actor=f.actor(s))
            assert (
                vault.read_person(s, case=case, actor=f.actor(s), now=clock.now())["family_name"]
                == "Canarycanary"
            )
