"""The clinician removes someone from the call: they are out at once, the others see them leave,
and their link leads only to the waiting room again - even when the room is open."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from visitt.testing import LiveServer

from .browser import call_between
from .peers import run
from .test_signaling import audit_trail, consultation


def test_removed_guest_is_out_and_waits_to_come_back(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await guest.send({"type": "remove", "room": call.room, "participant": host.id})
            await guest.expect_error("forbidden")
            await host.send({"type": "unlock", "room": call.room})  # open room: still no way straight back
            await host.expect("room")
            await host.send({"type": "remove", "room": call.room, "participant": host.id})
            await host.expect_error("unknown_peer")
            await host.send({"type": "remove", "room": call.room, "participant": guest.id})
            await guest.expect("removed")
            assert (await host.expect("left"))["participant"] == guest.id
            await guest.send({"type": "signal", "to": host.id, "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}})
            await guest.expect_error("not_in_call")
            await guest.send({"type": "rejoin", "key": guest.key})  # her own page: out all the same
            await guest.expect_error("not_resumable")
            await guest.send({"type": "knock", "name": "Kari Nordmann"})
            await guest.expect("waiting")
            assert (await host.expect("knock"))["participant"]["id"] == guest.id
        assert ("remove", "staff:1") in audit_trail(server, call.room)

    run(scenario())


@pytest.mark.browser
def test_removed_in_the_browser(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(server, browser) as (host, patient):
        host.locator("#checks li", has_text="Kari Nordmann").get_by_role("button", name="Remove from call").click()
        expect(patient.get_by_text("The clinician has taken you out of the call.")).to_be_visible()
        expect(patient.locator("#call")).to_be_hidden()
        expect(host.get_by_text("Kari Nordmann left the consultation.")).to_be_visible()
        patient.get_by_role("button", name="Join").click()  # knocking again
        expect(host.locator("#waiting li", has_text="Kari Nordmann")).to_be_visible()
