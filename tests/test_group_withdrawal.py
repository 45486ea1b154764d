"""A patient of a group consultation withdrawing from video (visitt/consent.py, issue 20 §2): only their part
ends. Recorded by staff on the appointment page, which makes them choose the patient: that patient's socket is
told the video has ended (``withdrawn``, the page's translated message), they leave the call and Janus, the
clinician is told, and the others see them leave and go on receiving each other through Janus. The same from
the patient's own page. Audited; the booked patient's record is not marked for another patient's withdrawal."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

from sqlalchemy import select

from visitt.live.janus import Janus, VideoRoomAdmin
from visitt.store.models import Appointment, AuditEvent, ConsentEvent, Participant, ParticipantState, RoomState
from visitt.testing import LiveServer

from .conftest import make_settings
from .janus import SECRET, JanusServer
from .peers import WsClient, run, staff_login
from .test_sfu import BLUE, GREEN, ORANGE, GroupPeer, janus_rooms, sees

PURPLE = (200, 40, 160)
OTHERS = (("Per Hansen", "412 35 001"), ("Aisha Ali", "412 35 002"))


def book(server: LiveServer, others: tuple[tuple[str, str], ...] = OTHERS,
         starts_in: dt.timedelta = dt.timedelta(days=1)) -> tuple[int, list[str]]:
    """A group consultation: Kari (the booked patient) and ``others`` (Per and Aisha), starting in ``starts_in``; its
    id and the patients' tokens."""
    owner = {"Authorization": f"Bearer {server.token}"}
    starts_at = (dt.datetime.now(dt.UTC) + starts_in).replace(microsecond=0)
    booked = server.post(f"{server.url}/api/v1/appointments", headers=owner, json={
        "patient_name": "Kari Nordmann", "patient_phone": "412 34 567", "starts_at": starts_at.isoformat(),
        "duration_minutes": 90, "group": True})
    assert booked.status_code == 201, booked.text
    links = [booked.json()["join_url"]]
    for name, phone in others:
        invited = server.post(f"{server.url}/api/v1/appointments/{booked.json()['id']}/participants", headers=owner,
                              json={"name": name, "kind": "patient", "phone": phone})
        assert invited.status_code == 201, invited.text
        links.append(invited.json()["join_url"])
    return booked.json()["id"], [link.rsplit("/v/", 1)[1] for link in links]


def record_withdrawal(server: LiveServer, cookie: str, appointment_id: int, participant: str) -> tuple[int, str]:
    """The secretary records on the appointment page that ``participant`` phoned (the status and the page)."""
    with server.client(cookies={"visitt_session": cookie}, headers={"Accept-Language": "en"},
                       follow_redirects=True) as http:
        page = http.get(f"/staff/appointments/{appointment_id}")
        assert "Which patient" in page.text
        answer = http.post(f"/staff/appointments/{appointment_id}/withdraw",
                           data={"csrf": http.cookies["visitt_csrf"], "how": "phone_to_secretary",
                                 "participant": participant})
        return answer.status_code, answer.text


async def group_withdrawal(server: LiveServer, janus: JanusServer) -> None:
    appointment_id, tokens = book(server)
    cookie = staff_login(server)
    with server.database.session() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None and appointment.room is not None
        invitations = {p.phone: p.public_id for p in appointment.room.participants}
        per_invitation = invitations["+4741235001"]
    async with await WsClient.staff(server, cookie) as host, await WsClient.guest(server, tokens[0]) as kari, \
            await WsClient.guest(server, tokens[1]) as per, await WsClient.guest(server, tokens[2]) as aisha, \
            Janus(janus.url, SECRET) as observer:
        admin = await VideoRoomAdmin.attach(observer)
        sockets = (host, kari, per, aisha)
        ids = [(await socket.hello())["id"] for socket in sockets]
        for guest, name in ((kari, "Kari Nordmann"), (per, "Per Hansen"), (aisha, "Aisha Ali")):
            await guest.send({"type": "knock", "name": name, "language": "pl" if guest is per else "nb"})
            knock = await host.expect("knock")
            await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
            await guest.expect("admitted")
        room = knock["room"]
        peers = [GroupPeer(socket, colour) for socket, colour in zip(sockets, (BLUE, ORANGE, GREEN, PURPLE))]
        try:
            for peer in peers:
                await peer.publish()
            await asyncio.gather(*(peer.wait_for_feeds(set(ids) - {own}) for peer, own in zip(peers, ids)))
            assert sorted((await janus_rooms(admin)).popitem()[1]) == sorted(ids)

            # without choosing the patient, nothing is recorded; with Per chosen, only Per's video ends
            status, text = await asyncio.to_thread(record_withdrawal, server, cookie, appointment_id, "")
            assert status == 422 and "Choose the patient who does not want video." in text
            status, text = await asyncio.to_thread(record_withdrawal, server, cookie, appointment_id, per_invitation)
            assert status == 200 and "Video has ended for Per Hansen; the others in the group go on." in text
            assert (await per.expect("ended"))["reason"] == "withdrawn"  # his page: the withdrawn message
            notice = await host.expect("withdrawn")
            assert (notice["room"], notice["participant"], notice["name"]) == (room, ids[2], "Per")
            for other in (host, kari, aisha):
                assert (await other.expect("left"))["participant"] == ids[2]
            withdrawn_at = time.monotonic()
            while ids[2] in (await janus_rooms(admin)).popitem()[1]:
                assert time.monotonic() - withdrawn_at < 10, "still in Janus after his withdrawal"
                await asyncio.sleep(0.05)
            # the others go on: Aisha receives Kari and the clinician through Janus afterwards
            tracks = [await peers[3].subscribe(other) for other in (ids[0], ids[1])]
            await asyncio.gather(sees(tracks[0]["video"], BLUE), sees(tracks[1]["video"], ORANGE))
            for other in (host, kari, aisha):
                assert "ended" not in other.types

            # Aisha withdraws from her own page: the same, for her only
            await aisha.send({"type": "withdraw"})
            assert (await aisha.expect("ended"))["reason"] == "withdrawn"
            assert (await host.expect("withdrawn"))["participant"] == ids[3]
            assert (await kari.expect("left"))["participant"] == ids[3]
            assert "ended" not in kari.types and "ended" not in host.types
        finally:
            await asyncio.gather(*(peer.close() for peer in peers))

    with server.database.session() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None and appointment.room is not None
        assert appointment.room.state is not RoomState.ended and appointment.state.value == "in_progress"
        states = {p.public_id: p.state for p in session.scalars(select(Participant))}
        assert states[per_invitation] is ParticipantState.left
        trail = [(e.actor.split(":")[0], e.subject, e.detail) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "withdraw").order_by(AuditEvent.id))]
        assert trail == [("staff", f"participant:{per_invitation}", {"how": "phone_to_secretary"}),
                         ("participant", f"participant:{invitations['+4741235002']}", {"how": "patient_page"})]
        # neither is the booked patient: her record is not marked, and no withdrawal is hers
        assert appointment.patient is not None and appointment.patient.withdrew_video_at is None
        assert [e.kind for e in session.scalars(select(ConsentEvent))] == ["given"]  # Kari's knock only


def test_a_patient_withdrawing_in_a_group_ends_only_their_part(janus: JanusServer, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    try:
        run(group_withdrawal(server, janus))
    finally:
        server.stop()
