"""Ask to unmute: the clinician asks, the participant's page is told and its user decides; a guest
cannot ask anyone."""

from __future__ import annotations

from visitt.testing import LiveServer

from .peers import run
from .test_signaling import audit_trail, clinician_id, consultation


def test_the_clinicians_ask_reaches_the_muted_patient_only_as_a_request(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await guest.send({"type": "media", "audio": False, "video": True})
            assert (await host.expect("updated"))["participant"]["audio"] is False

            await host.send({"type": "ask_unmute", "to": guest.id})
            assert await guest.expect("unmute_requested") == {"type": "unmute_requested", "from": host.id}
            # Nothing changed by itself: the microphone stays off until the patient turns it on.
            await host.sync()
            assert host.types.count("updated") == 1

            await guest.send({"type": "media", "audio": True, "video": True})
            assert (await host.expect("updated"))["participant"]["audio"] is True
            assert ("ask_unmute", f"staff:{clinician_id(server)}") in audit_trail(server, call.room)

            await host.send({"type": "ask_unmute", "to": "nobody-here"})
            await host.expect_error("unknown_peer")
            await host.send({"type": "ask_unmute", "to": host.id})
            await host.expect_error("unknown_peer")

    run(scenario())


def test_a_guest_cannot_ask_anyone_to_unmute(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await guest.send({"type": "ask_unmute", "to": host.id})
            await guest.expect_error("forbidden")
            await host.sync()
            assert "unmute_requested" not in host.types

    run(scenario())
