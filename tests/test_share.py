"""Sharing a window, as the server sees it: the clinician may, a guest only when the clinic allows it
(``VISITT_PATIENTS_MAY_SHARE``), and everyone in the call sees who is sharing."""

from __future__ import annotations

from pathlib import Path

from visitt.testing import LiveServer

from .conftest import make_settings
from .peers import run
from .test_signaling import consultation


def test_the_clinician_shares_and_everyone_sees_it_but_a_patient_may_not(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await guest.send({"type": "share", "on": True})
            refused = await guest.expect_error("share_not_allowed")
            assert "clinician" in refused["message"]
            await host.sync()
            assert "updated" not in host.types

            await host.send({"type": "share", "on": True})
            for client in (host, guest):
                seen = (await client.expect("updated"))["participant"]
                assert (seen["id"], seen["sharing"]) == (host.id, True)
            await host.send({"type": "share", "on": False})
            for client in (host, guest):
                seen = (await client.expect("updated"))["participant"]
                assert (seen["id"], seen["sharing"]) == (host.id, False)

            # Stopping is never refused, whoever it is.
            await guest.send({"type": "share", "on": False})
            assert (await host.expect("updated"))["participant"]["sharing"] is False

    run(scenario())


def test_with_the_setting_a_patient_shares_too(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path, patients_may_share=True)).start()
    try:
        async def scenario() -> None:
            async with consultation(live) as call:
                host, guest = call.host, call.guest
                await guest.send({"type": "share", "on": True})
                seen = (await host.expect("updated"))["participant"]
                assert (seen["id"], seen["role"], seen["sharing"]) == (guest.id, "patient", True)
                assert (await guest.expect("updated"))["participant"]["sharing"] is True

        run(scenario())
    finally:
        live.stop()


def test_someone_outside_the_call_cannot_share(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server, admit=False) as call:
            await call.host.send({"type": "share", "on": True})
            await call.host.expect_error("not_in_call")

    run(scenario())
