"""No-show (001, 002): a few minutes after the start with no knock, the dashboard says "not arrived"
with the patient's number to call, and the no-show can be recorded."""

from __future__ import annotations

import datetime as dt

import pytest

from visitt.store import audit
from visitt.store.models import Appointment, AppointmentState, RoomState, utcnow
from visitt.testing import InProcess

from .peers import book
from .test_web_staff import _client, _csrf, _sign_in


pytestmark = pytest.mark.in_process  # only HTTP: Visitt in process, without a server (tests/conftest.py)


def _started_minutes_ago(server: InProcess, minutes: int) -> int:
    book(server)
    with server.database.session() as session:
        appointment = session.query(Appointment).one()
        appointment.starts_at = utcnow() - dt.timedelta(minutes=minutes)  # as if booked earlier for now
        return appointment.id


def test_not_arrived_is_shown_and_no_show_recorded(server: InProcess) -> None:
    appointment_id = _started_minutes_ago(server, 7)
    with _client(server) as client:
        _sign_in(client)
        page = client.get("/staff").text
        assert "Not arrived – call the patient:" in page
        assert 'href="tel:+4741234567"' in page
        assert '<div class="not-arrived" hidden>' not in page
        response = client.post(f"/staff/appointments/{appointment_id}/no-show", data={"csrf": _csrf(client, "/staff")})
        assert response.status_code == 303
        again = client.post(f"/staff/appointments/{appointment_id}/no-show", data={"csrf": _csrf(client, "/staff")},
                            headers={"Accept": "application/json"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"
    with server.database.session() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None and appointment.state is AppointmentState.no_show
        assert appointment.room.state is RoomState.ended
        assert [e.action for e in audit.events(session, room_id=appointment.room.id)][-1] == "no_show"


def test_not_marked_before_the_grace_minutes(server: InProcess) -> None:
    _started_minutes_ago(server, 2)
    with _client(server) as client:
        _sign_in(client)
        page = client.get("/staff").text
        assert '<div class="not-arrived" hidden>' in page  # the page reveals it when the time comes


def test_only_staff_of_the_appointment_may_record_it(server: InProcess) -> None:
    from visitt import demo

    appointment_id = _started_minutes_ago(server, 7)
    with _client(server) as client:
        _sign_in(client, demo.PEOPLE[1][0])  # the other clinician
        response = client.post(f"/staff/appointments/{appointment_id}/no-show",
                               data={"csrf": _csrf(client, "/staff")}, headers={"Accept": "application/json"})
        assert response.status_code == 404
    assert server.get(f"{server.url}/staff", follow_redirects=False).status_code == 303
