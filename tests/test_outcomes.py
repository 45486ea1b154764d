"""Visitt's suggested outcome when a call ends (visitt/outcomes.py), from what the live room saw: real aiortc
peers send sound and picture both ways, the host's side reports it (as host.js does), the patient's
connection drops, the clinician ends - and the record says technical failure, dropped, with no co-payment.
A call whose media never flowed is never recorded as completed."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from visitt.copayment import copayment_for
from visitt.store.models import Appointment, Room
from visitt.testing import LiveServer

from .peers import CallPeer, WsClient, book, in_call, run, staff_login

BLUE, ORANGE = (20, 60, 220), (240, 140, 20)


def _appointment(server: LiveServer, room: str) -> tuple[Appointment, str, bool, str | None]:
    with server.database.session() as session:
        row = session.scalar(select(Room).where(Room.public_id == room))
        assert row is not None and row.appointment is not None
        decision = copayment_for(session, row.appointment)
        session.expunge(row.appointment)
        return row.appointment, str(decision.amount_nok), decision.exempt, decision.reason


async def _media_both_ways(media: CallPeer, other: str) -> None:
    for kind in ("video", "audio"):
        track = await media.remote_track(other, kind, timeout=15)
        await asyncio.wait_for(track.recv(), 10)


def test_a_dropped_then_ended_call_is_a_technical_failure_with_no_copayment(server: LiveServer) -> None:
    async def scenario() -> str:
        _url, token = book(server)
        cookie = staff_login(server)
        async with await WsClient.staff(server, cookie) as host:
            patient = await WsClient.guest(server, token)
            host_id = (await host.hello())["id"]
            patient_id = (await patient.hello())["id"]
            await patient.send({"type": "knock", "name": "Kari Nordmann", "language": "nb"})
            knock = await host.expect("knock")
            room = knock["room"]
            async with CallPeer(host, colour=BLUE) as host_media:
                patient_media = CallPeer(patient, colour=ORANGE)
                try:
                    await host.send({"type": "admit", "room": room, "participant": patient_id})
                    await host.expect("admitted")
                    await patient_media.join(await patient.expect("admitted"))
                    await asyncio.gather(_media_both_ways(host_media, patient_id),
                                         _media_both_ways(patient_media, host_id))
                    await host.send({"type": "flowing", "room": room})  # what host.js reports once it sees it
                    await host.sync()
                finally:
                    await patient_media.close()
                await patient.socket.close()  # the patient's phone loses its connection: no leave
                assert (await host.expect("away"))["participant"] == patient_id
                await host.send({"type": "end", "room": room})
                await host.expect("ended")
            await patient.close()
        return str(room)

    room = run(scenario())
    appointment, amount, exempt, reason = _appointment(server, room)
    assert (appointment.state.value, appointment.outcome, appointment.failure_reason) == (
        "technical_failure", "technical_failure", "dropped")
    assert appointment.media_flowed and not appointment.outcome_confirmed
    assert appointment.started_at is not None and appointment.ended_at is not None
    assert (amount, exempt, reason) == ("0.00", True, "technical_failure")


def test_a_call_whose_media_never_flowed_is_never_completed(server: LiveServer) -> None:
    async def scenario() -> tuple[str, int]:
        _url, token = book(server)
        host, guest, room = await in_call(server, staff_login(server), token)
        await host.send({"type": "end", "room": room})
        await host.expect("ended")
        await guest.close()
        await host.close()
        return room, 0

    room, _ = run(scenario())
    appointment, amount, _exempt, _reason = _appointment(server, room)
    assert (appointment.state.value, appointment.outcome, appointment.failure_reason) == (
        "technical_failure", "technical_failure", "no_connection")
    assert amount == "0.00"
    refused = server.post(f"{server.url}/api/v1/appointments/{appointment.id}/outcome", json={"outcome": "completed"},
                          headers={"Authorization": f"Bearer {server.token}"})
    assert refused.status_code == 422 and "cannot be recorded as completed" in refused.text
    # the clinician says the call went on by phone: charged as in person, confirmed, one click
    confirmed = server.post(f"{server.url}/api/v1/appointments/{appointment.id}/outcome",
                            json={"outcome": "continued_by_phone", "follow_up": False},
                            headers={"Authorization": f"Bearer {server.token}"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "completed" and confirmed.json()["copayment_nok"] == "375.00"
