"""Moving and cancelling: the patient is told by SMS, the old link shows the new time or that the
consultation was cancelled, and someone already waiting is told at once."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from visitt.store import audit
from visitt import demo
from visitt.store.models import Appointment, AppointmentState, RoomState
from visitt.testing import InProcess, LiveServer

from .peers import WsClient, run
from .test_web_staff import _client, _csrf, _sign_in


def _api(server: LiveServer | InProcess, method: str, path: str, **kwargs: object) -> httpx.Response:
    return server.request(method, f"{server.url}/api/v1{path}", headers={"Authorization": f"Bearer {server.token}"},
                          **kwargs)  # type: ignore[arg-type]


def _book(server: LiveServer | InProcess) -> dict[str, str]:
    starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).isoformat()
    response = _api(server, "POST", "/appointments", json={"patient_name": "Kari Nordmann",
                                                           "patient_phone": "41234567", "starts_at": starts,
                                                           "language": "en"})
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.in_process
def test_move_through_the_api(pg_server: InProcess) -> None:
    booked = _book(pg_server)
    moved = _api(pg_server, "PATCH", f"/appointments/{booked['id']}", json={"starts_at": "2031-05-06T14:45"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["starts_at"].startswith("2031-05-06T12:45")  # 14:45 in Oslo, summer time
    sms = pg_server.sms(count=2)[-1]
    assert sms["body"].startswith("Your video consultation has been moved to 06.05.2031 at 14:45.")
    page = pg_server.get(booked["join_url"], headers={"Accept-Language": "en"})
    # the old link shows the new time (here on the "too early" page: the link opens shortly before)
    assert page.status_code == 403 and "May 6, 2031 at 2:45\u202fPM" in page.text
    past = _api(pg_server, "PATCH", f"/appointments/{booked['id']}", json={"starts_at": "2020-01-01T10:00"})
    assert past.status_code == 422 and "starts_at" in past.json()["error"]["fields"]
    with pg_server.database.session() as session:
        appointment = session.get(Appointment, int(booked["id"]))
        assert appointment is not None
        assert [e.action for e in audit.events(session, room_id=appointment.room.id)] == ["booking", "move"]


def test_cancel_through_the_api_tells_the_patient_and_closes_the_link(server: LiveServer) -> None:
    booked = _book(server)

    async def waiting_when_cancelled() -> None:
        token = booked["join_url"].rsplit("/", 1)[1]
        async with await WsClient.guest(server, token) as guest:
            await guest.hello()
            await guest.send({"type": "knock", "name": "Kari Nordmann"})
            await guest.expect("waiting")
            response = await asyncio.to_thread(_api, server, "POST", f"/appointments/{booked['id']}/cancel")
            assert response.status_code == 200 and response.json()["state"] == "cancelled"
            assert (await guest.expect("ended"))["reason"] == "cancelled"

    run(waiting_when_cancelled())
    sms = server.sms(count=2)[-1]
    assert "has been cancelled" in sms["body"] and "+47 69 86 00 00" in sms["body"]
    page = server.get(booked["join_url"], headers={"Accept-Language": "en"})
    assert page.status_code == 410 and "The consultation has been cancelled" in page.text
    again = _api(server, "POST", f"/appointments/{booked['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"
    moved = _api(server, "PATCH", f"/appointments/{booked['id']}", json={"starts_at": "2031-05-06T14:45"})
    assert moved.status_code == 409
    # the cancellation ended the room the one way every ending goes: she left the waiting room, audited
    with server.database.session() as session:
        appointment = session.get(Appointment, int(booked["id"]))
        assert appointment is not None
        (patient,) = appointment.room.participants
        assert patient.state.value == "invited"
        trail = [(e.action, e.detail.get("reason")) for e in audit.events(session, room_id=appointment.room.id)]
    assert trail[-3:] == [("end", "cancelled"), ("leave", "ended"), ("cancel", None)]


@pytest.mark.in_process
def test_secretary_moves_and_cancels_in_the_staff_ui(server: InProcess) -> None:
    booked = _book(server)
    with _client(server) as client:
        _sign_in(client, demo.PEOPLE[2][0])
        page = client.get(f"/staff/appointments/{booked['id']}")
        assert page.status_code == 200 and "Move to another time" in page.text
        csrf = _csrf(client, f"/staff/appointments/{booked['id']}")
        bad = client.post(f"/staff/appointments/{booked['id']}/move",
                          data={"csrf": csrf, "date": "2020-01-01", "time": "10:00", "duration_minutes": "30"})
        assert bad.status_code == 422 and "Choose a time in the future." in bad.text
        moved = client.post(f"/staff/appointments/{booked['id']}/move",
                            data={"csrf": csrf, "date": "2031-01-07", "time": "08:15", "duration_minutes": "45"})
        assert moved.status_code == 303
        assert "Moved. The patient gets an SMS" in client.get(moved.headers["location"]).text
        cancelled = client.post(f"/staff/appointments/{booked['id']}/cancel", data={"csrf": csrf})
        assert cancelled.status_code == 303
    with server.database.session() as session:
        appointment = session.get(Appointment, int(booked["id"]))
        assert appointment is not None and appointment.state is AppointmentState.cancelled
        assert appointment.duration_minutes == 45 and appointment.room.state is RoomState.ended
    bodies = [sms["body"] for sms in server.sms(count=3)]
    assert "moved to 07.01.2031 at 08:15" in bodies[1] and "cancelled" in bodies[2]


@pytest.mark.in_process
def test_other_clinicians_cannot_touch_it(server: InProcess) -> None:
    booked = _book(server)
    with _client(server) as client:
        _sign_in(client, demo.PEOPLE[1][0])
        assert client.get(f"/staff/appointments/{booked['id']}", headers={"Accept": "application/json"}).status_code == 404
