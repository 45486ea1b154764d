"""The waiting room over time: "running late" from the clinician, and the 15-minute limit (001, 002)
with an injected clock - the patient is sent home with a plain message, the same link puts them
back in the queue, and the clinician sees who gave up waiting."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from playwright.sync_api import expect

from visitt.store.models import utcnow
from visitt.testing import LiveServer

from .browser import DESK, PHONE, sign_in
from .peers import WsClient, book, run, staff_login
from .test_signaling import audit_trail, consultation


def _expire(server: LiveServer, minutes: float) -> int:
    hub = server.app.state.hub
    return server.call(hub.lobby.expire_waiting(now=utcnow() + dt.timedelta(minutes=minutes)))


def test_waiting_longer_than_the_limit_sends_the_guest_home(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server, admit=False) as call:
            host, guest, room, token = call.host, call.guest, call.room, call.token
            assert await _async(_expire, server, 14) == 0  # 14 minutes: still waiting
            assert await _async(_expire, server, 15) == 1
            assert (await guest.expect("wait_expired"))["minutes"] == 15
            await host.sync()
            lobby = [m for m in host.received if m["type"] == "lobby"][-1]
            assert lobby["waiting"] == []
            assert [(entry["id"], entry["name"]) for entry in lobby["gave_up"]] == [(guest.id, "Kari Nordmann")]
            # The same link, a knock: back in the queue, and off the gave-up list.
            async with await WsClient.guest(server, token) as again:
                await again.hello()
                await again.send({"type": "knock", "name": "Kari Nordmann"})
                await again.expect("waiting")
                await host.expect("knock")
                await host.sync()
                assert [m for m in host.received if m["type"] == "lobby"][-1]["gave_up"] == []
            assert ("leave", "system") in audit_trail(server, room)

    run(scenario())


async def _async(function, *args):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(function, *args)  # the server runs in another thread


def test_running_late_reaches_everyone_waiting_and_later_knocks(server: LiveServer) -> None:
    async def scenario() -> None:
        _url, first_token = book(server, "Kari Nordmann")
        _url, second_token = book(server, "Ola Normann")
        async with await WsClient.staff(server, staff_login(server)) as host, \
                await WsClient.guest(server, first_token) as first:
            await host.hello()
            await first.hello()
            await first.send({"type": "late", "minutes": 5})
            await first.expect_error("forbidden")
            await first.send({"type": "knock", "name": "Kari Nordmann"})
            await first.expect("waiting")
            await host.send({"type": "late", "minutes": 20})
            assert (await first.expect("late"))["minutes"] == 20
            async with await WsClient.guest(server, second_token) as second:
                await second.hello()
                await second.send({"type": "knock", "name": "Ola Normann"})
                await second.expect("waiting")
                assert (await second.expect("late"))["minutes"] == 20
            await host.send({"type": "late", "minutes": 0})
            assert (await first.expect("late"))["minutes"] == 0
            await host.send({"type": "late", "minutes": 999})
            await host.expect_error("malformed")

    run(scenario())


@pytest.mark.browser
def test_sent_home_then_back_through_the_same_link(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    clinic = browser.new_context(**DESK)
    phone = browser.new_context(**PHONE)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        join_url, _token = book(server)
        patient = phone.new_page()
        patient.goto(join_url)
        patient.get_by_label("Your full name").fill("Kari Nordmann")
        patient.get_by_role("button", name="Join").click()
        expect(host.locator("#waiting li", has_text="Kari Nordmann")).to_be_visible()
        host.get_by_label("Tell waiting patients I am running late by").select_option("10")
        host.get_by_role("button", name="Tell waiting patients").click()
        expect(patient.get_by_text("The clinician is running about 10 minutes late.")).to_be_visible()
        assert _expire(server, 16) == 1
        expect(patient.get_by_text("You have waited 15 minutes: the clinician is delayed.")).to_be_visible()
        expect(host.locator("#gave-up li", has_text="Kari Nordmann")).to_be_visible()
        expect(host.locator("#waiting li")).to_have_count(0)
        patient.get_by_role("link", name="Back in the queue").click()
        patient.get_by_label("Your full name").fill("Kari Nordmann")
        patient.get_by_role("button", name="Join").click()
        # back in the queue, and told at once that the clinician is still running late
        expect(patient.get_by_text("The clinician is running about 10 minutes late.")).to_be_visible()
        expect(host.locator("#waiting li", has_text="Kari Nordmann")).to_be_visible()
        expect(host.locator("#gave-up-section")).to_be_hidden()
    finally:
        clinic.close()
        phone.close()
