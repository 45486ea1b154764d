"""Staff sessions end when idle and at their absolute time-out, and the sign-in page says why (in process)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from visitt import demo
from visitt.store import audit
from visitt.store.models import WebSession, utcnow
from visitt.testing import InProcess

from .test_second_factor import _client, _password

pytestmark = pytest.mark.in_process


@pytest.mark.parametrize(("column", "ago", "ended", "message"), [
    ("last_seen_at", dt.timedelta(minutes=31), "idle", "You were signed out because the page was not used"),
    ("expires_at", dt.timedelta(seconds=1), "expired", "Your session has reached its time limit"),
])
def test_a_timed_out_session_goes_back_to_sign_in_with_a_message(server: InProcess, column: str, ago: dt.timedelta,
                                                                  ended: str, message: str) -> None:
    with _client(server) as client:
        assert _password(client, demo.PEOPLE[0][0]).headers["location"] == "/staff"
        assert client.get("/staff").status_code == 200
        with server.database.session() as session:
            row = session.query(WebSession).one()
            assert row.idle_minutes == 30 and row.expires_at - utcnow() > dt.timedelta(hours=11, minutes=59)
            session.execute(update(WebSession).values({column: utcnow() - ago}))
        sent_back = client.get("/staff")
        assert sent_back.status_code == 303 and sent_back.headers["location"] == f"/staff/login?ended={ended}"
        assert message in client.get(sent_back.headers["location"]).text
        assert client.get("/staff").status_code == 303  # gone for good
    with server.database.session() as session:
        assert session.query(WebSession).count() == 0
        assert [event.detail for event in audit.events(session, action="session_ended")] == [{"reason": ended}]


def test_use_keeps_a_session_alive(server: InProcess) -> None:
    with _client(server) as client:
        _password(client, demo.PEOPLE[0][0])
        with server.database.session() as session:
            session.execute(update(WebSession).values(last_seen_at=utcnow() - dt.timedelta(minutes=29)))
        assert client.get("/staff").status_code == 200  # 29 minutes idle: still good, and seen now
        with server.database.session() as session:
            assert utcnow() - session.query(WebSession).one().last_seen_at < dt.timedelta(minutes=1)
