"""Migration 0022 on a database that holds mail: every address of every message becomes a
recipient row, its delivery or refusal (code and text) taken from the old JSON columns."""

from __future__ import annotations

import json

from sqlalchemy import text

from homeward.base.db import get_engine, read_session
from homeward.base.migrate import head_revision, upgrade
from homeward.base.models import OutboxMessage
from notifications.outbox import recipients_of
from tests.homeward.test_backup import fresh_database

OK, GONE, LATER, SHARED = "ok@x.org", "gone@x.org", "later@x.org", "shared@x.org"
OLD = [  # id, status, to, delivered_to, refused
    (1, "sent", [OK, GONE], [OK], {GONE: "550 5.1.1 no such user"}),
    (2, "queued", [OK, LATER], [OK], {}),
    (3, "dead", [GONE], [], {GONE: "gave up after 8 attempts: 451 later"}),
    (4, "sent", [OK, SHARED], [OK], {SHARED: "dropped: sharing consent for x withdrawn"}),
]


def test_old_mail_gets_one_recipient_row_per_address(db_url, tmp_path, monkeypatch):
    with fresh_database(tmp_path / "old", monkeypatch):
        upgrade(get_engine(), "0017")
        with get_engine().begin() as conn:
            for number, status, to, delivered, refused in OLD:
                conn.execute(
                    text(
                        "INSERT INTO outbox_message (id, key, template, language, to_addrs, "
                        "context, message_id, status, attempts, next_attempt_at, created_at, "
                        "delivered_to, refused) VALUES (:id, :key, 'test', 'en', :to, '{}', "
                        "'<m@x.org>', :status, 2, '2026-01-05 09:00:00+00', "
                        "'2026-01-05 08:00:00+00', :delivered, :refused)"
                    ),
                    {
                        "id": number,
                        "key": f"k{number}",
                        "to": json.dumps(to),
                        "status": status,
                        "delivered": json.dumps(delivered),
                        "refused": json.dumps(refused),
                    },
                )
        assert upgrade(get_engine()) == head_revision()
        with read_session() as s:
            found = {
                number: [(r.address, r.status, r.code, r.reply) for r in recipients_of(s, number)]
                for number, *_ in OLD
            }
            assert s.get(OutboxMessage, 1) is not None
        get_engine().dispose()
    assert found == {
        1: [(OK, "delivered", None, None), (GONE, "dead", 550, "550 5.1.1 no such user")],
        2: [(OK, "delivered", None, None), (LATER, "pending", None, None)],
        3: [(GONE, "dead", None, "gave up after 8 attempts: 451 later")],
        4: [
            (OK, "delivered", None, None),
            (SHARED, "dropped", None, "dropped: sharing consent for x withdrawn"),
        ],
    }
