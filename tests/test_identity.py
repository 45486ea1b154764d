"""Identity checks over real sockets: the clinician records how each participant was identified,
it is stored and audited (the method only), everyone sees the badge, and the patient can ask the
clinician to show ID."""

from __future__ import annotations

from sqlalchemy import select

from visitt.store import audit
from visitt.store.models import IdentityCheck, IdentityMethod
from visitt.testing import LiveServer

from .peers import WsClient, run
from .test_signaling import _token_of, clinician_id, consultation, room_row


def checks(server: LiveServer) -> list[tuple[str, IdentityMethod, str, int]]:
    with server.database.session() as session:
        rows = session.scalars(select(IdentityCheck).order_by(IdentityCheck.id))
        return [(row.method.value, row.method, row.note, row.checked_by_id) for row in rows]


def identify_events(server: LiveServer, public_id: str, action: str = "identify") -> list[tuple[str, str, dict]]:
    room_id, _state = room_row(server, public_id)
    with server.database.session() as session:
        return [(event.actor, event.subject, event.detail) for event in audit.events(session, room_id=room_id,
                                                                                      action=action)]


def test_the_clinician_records_photo_id_and_everyone_sees_it(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await host.send({"type": "identify", "participant": guest.id, "method": "photo_id"})
            for client in (host, guest):
                updated = (await client.expect("updated"))["participant"]
                assert (updated["id"], updated["identified"]) == (guest.id, "photo_id")
            staff = clinician_id(server)
            assert checks(server) == [("photo_id", IdentityMethod.photo_id, "", staff)]
            assert identify_events(server, call.room) == [
                (f"staff:{staff}", f"participant:{guest.id}", {"method": "photo_id"})]

    run(scenario())


def test_other_needs_a_note_that_stays_out_of_the_audit_trail(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await host.send({"type": "identify", "participant": guest.id, "method": "other", "note": "   "})
            await host.expect_error("note_required")
            await host.send({"type": "identify", "participant": guest.id, "method": "other", "note": "x" * 201})
            await host.expect_error("malformed")
            note = "Bank ID   on the  phone, shown on camera"
            await host.send({"type": "identify", "participant": guest.id, "method": "other", "note": note})
            updated = (await guest.expect("updated"))["participant"]
            assert updated["identified"] == "other" and "note" not in updated
            assert [(method, stored) for method, _m, stored, _by in checks(server)] == [
                ("other", "Bank ID on the phone, shown on camera")]
            events = identify_events(server, call.room)
            assert [detail for _actor, _subject, detail in events] == [{"method": "other"}]
            assert "Bank" not in str(guest.received) + str(host.received[-3:])

    run(scenario())


def test_a_guest_cannot_record_identity_and_nobody_can_be_identified_outside_the_call(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await guest.send({"type": "identify", "participant": host.id, "method": "known"})
            await guest.expect_error("forbidden")
            await guest.send({"type": "identify", "participant": guest.id, "method": "known"})
            await guest.expect_error("forbidden")
            await host.send({"type": "identify", "participant": host.id, "method": "known"})
            await host.expect_error("unknown_peer")
            await host.send({"type": "identify", "participant": "nobody-here", "method": "known"})
            await host.expect_error("unknown_peer")
            await host.send({"type": "identify", "participant": guest.id, "method": "passport"})
            await host.expect_error("malformed")
            await host.sync()
            assert "updated" not in host.types + guest.types
            assert checks(server) == [] and identify_events(server, call.room) == []

    run(scenario())


def test_the_check_follows_the_participant_back_into_the_call(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await host.expect("joined")  # the patient's first entry
            await host.send({"type": "identify", "participant": guest.id, "method": "known"})
            await host.expect("updated")
            await host.send({"type": "identify", "participant": guest.id, "method": "photo_id"})  # newest counts
            await host.expect("updated")
            await guest.send({"type": "leave"})
            await host.expect("left")
            async with await WsClient.guest(server, _token_of(server, guest.id)) as back:
                await back.hello()
                await back.send({"type": "knock", "name": "Kari Nordmann"})
                await host.expect("knock")
                await host.send({"type": "admit", "room": call.room, "participant": guest.id})
                joined = (await host.expect("joined"))["participant"]
                assert joined["identified"] == "photo_id"
                admitted = await back.expect("admitted")
                assert admitted["participants"][0]["identified"] is None  # the clinician is not checked

    run(scenario())


def test_the_patient_asks_the_clinician_to_show_id(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await guest.send({"type": "request_id"})
            assert await host.expect("id_requested") == {"type": "id_requested", "participant": guest.id}
            await guest.sync()
            assert "id_requested" not in guest.types
            assert identify_events(server, call.room, "id_requested") == [(f"participant:{guest.id}", "", {})]

            await host.send({"type": "request_id"})
            await host.expect_error("forbidden")
            await host.send({"type": "leave"})
            await host.expect("bye")
            await guest.send({"type": "request_id"})
            await guest.expect_error("host_absent")

    run(scenario())
