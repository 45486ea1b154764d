"""Consent to video and its withdrawal over the signaling socket (visitt/consent.py): the patient's knock
records consent with the text's version and the page's language; their withdrawal, in the call, tells the
clinician at once, ends video for everyone, and is recorded with who, when and how."""

from __future__ import annotations

from sqlalchemy import select

from visitt import consent
from visitt.store import audit
from visitt.store.models import Appointment, ConsentEvent, Room
from visitt.testing import LiveServer

from .peers import WsClient, book, run, staff_login


def test_knocking_consents_and_withdrawing_in_the_call_tells_the_clinician(server: LiveServer) -> None:
    async def scenario() -> str:
        _url, token = book(server)
        _url, other_token = book(server, "Ola Nordmann")  # booked first: the scenario below only talks on sockets
        host = await WsClient.staff(server, staff_login(server))
        patient = await WsClient.guest(server, token)
        await host.hello()
        await patient.hello()
        await patient.send({"type": "knock", "name": "Kari Nordmann", "language": "pl"})
        room = (await host.expect("knock"))["room"]
        await host.send({"type": "admit", "room": room, "participant": patient.id})
        await patient.expect("admitted")
        await patient.send({"type": "withdraw"})
        notice = await host.expect("withdrawn")
        assert (notice["room"], notice["participant"], notice["name"]) == (room, patient.id, "Kari Nordmann")
        assert (await host.expect("ended"))["reason"] == "withdrawn"
        assert (await patient.expect("ended"))["reason"] == "withdrawn"
        await patient.send({"type": "knock", "name": "Kari Nordmann"})  # video has ended for this appointment
        assert (await patient.expect("error"))["code"] == "room_ended"
        await patient.close()
        # another patient withdraws from the lobby, before knocking: their page and the dashboard are told
        async with await WsClient.guest(server, other_token) as other:
            await other.hello()
            await other.send({"type": "withdraw"})
            assert (await other.expect("ended"))["reason"] == "withdrawn"
            assert (await host.expect("withdrawn"))["room"] != room
        await host.close()
        return str(room)

    room = run(scenario())
    with server.database.session() as session:
        row = session.scalar(select(Room).where(Room.public_id == room))
        assert row is not None and row.appointment is not None
        appointment: Appointment = row.appointment
        events = list(session.scalars(select(ConsentEvent).where(ConsentEvent.appointment_id == appointment.id)
                                      .order_by(ConsentEvent.id)))
        assert [(e.kind, e.language, e.text_version, e.recorded_by, e.how, e.appointment_id) for e in events] == [
            ("given", "pl", consent.TEXT_VERSION, "patient", "knock", appointment.id),
            ("withdrawn", "pl", consent.TEXT_VERSION, "patient", "patient_page", appointment.id)]
        assert appointment.patient is not None and appointment.patient.withdrew_video_at is not None
        assert (appointment.state.value, appointment.outcome, appointment.outcome_confirmed) == (
            "cancelled", "patient_withdrew", False)
        trail = audit.events(session, room_id=row.id)
    actions = [event.action for event in trail]
    knock = trail[actions.index("knock")]
    assert knock.detail == {"consent": consent.TEXT_VERSION, "language": "pl"}  # the knock is consent
    assert actions.index("knock") < actions.index("withdraw") < actions.index("end")
    assert trail[actions.index("withdraw")].detail == {"how": "patient_page"}

