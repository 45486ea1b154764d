"""The waiting room over time: "running late" from the clinician, and the 15-minute limit (001, 002)
with an injected clock - the patient is sent home with a plain message, the same link puts them
back in the queue, and the clinician sees who gave up waiting. A running-late notice moves the limit
of those it told, and of no one else."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from visitt.store.models import utcnow
from visitt.testing import LiveServer

from .browser import DESK, PHONE, sign_in
from .peers import WsClient, book, run, staff_login
from .test_signaling import audit_trail, consultation

OSLO = ZoneInfo("Europe/Oslo")  # the clinic's zone by default (VISITT_TIMEZONE)


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


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_running_late_moves_the_limit_of_those_told_and_no_one_else(server: LiveServer) -> None:
    """The notice says "stay on this page": whoever was told is not sent home before the clinician's new
    time plus the usual limit; whoever knocks later is neither told nor kept longer."""
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
            before = utcnow()
            await host.send({"type": "late", "minutes": 20})
            notice = await first.expect("late")
            after = utcnow()
            assert notice["minutes"] == 20
            expected, until = _instant(notice["expected"]), _instant(notice["until"])
            assert before + dt.timedelta(minutes=20) <= expected <= after + dt.timedelta(minutes=20)
            assert until == expected + dt.timedelta(minutes=15)  # the usual limit, counted from the new time
            async with await WsClient.guest(server, second_token) as second:
                await second.hello()
                await second.send({"type": "knock", "name": "Ola Normann"})
                await second.expect("waiting")
                await host.expect("knock")
                await second.sync()
                assert "late" not in second.types  # another patient's news
                await host.send({"type": "late", "minutes": 0})  # on time again: nobody's limit shrinks
                assert await first.expect("late") == {"type": "late", "minutes": 0, "expected": None, "until": None}
                await second.sync()
                assert "late" not in second.types  # nothing to take back from who was never told
                assert await _async(_expire, server, 16) == 1  # the later patient keeps the usual limit
                assert (await second.expect("wait_expired"))["minutes"] == 15
                assert "wait_expired" not in first.types
            assert await _async(_expire, server, 34) == 0
            assert await _async(_expire, server, 36) == 1
            assert (await first.expect("wait_expired"))["minutes"] == 35
            for minutes in (121, 999, -1):
                await host.send({"type": "late", "minutes": minutes})
                await host.expect_error("malformed")

    run(scenario())


def test_nobody_waits_longer_than_the_cap_past_the_usual_limit(server: LiveServer) -> None:
    """However late the clinician says they are, the page is not kept more than 120 minutes past the usual
    limit, and the time it shows is never after the time it is sent home."""
    async def scenario() -> None:
        before = utcnow()
        async with consultation(server, admit=False) as call:
            await call.host.send({"type": "late", "minutes": 120})
            notice = await call.guest.expect("late")
            until, expected = _instant(notice["until"]), _instant(notice["expected"])
            assert expected <= until <= before + dt.timedelta(minutes=15 + 120) + dt.timedelta(seconds=30)
            await call.host.send({"type": "late", "minutes": 120})  # again: nothing more
            assert _instant((await call.guest.expect("late"))["until"]) == until
            assert await _async(_expire, server, 134) == 0
            assert await _async(_expire, server, 136) == 1
            assert (await call.guest.expect("wait_expired"))["minutes"] == 135

    run(scenario())


def test_a_page_taking_its_place_back_is_told_again(server: LiveServer) -> None:
    """A reload while waiting brings back the place in the queue and the running-late notice with it."""
    async def scenario() -> None:
        async with consultation(server, admit=False) as call:
            await call.host.send({"type": "late", "minutes": 10})
            notice = await call.guest.expect("late")
            async with await WsClient.guest(server, call.token) as reloaded:
                await reloaded.hello()
                await reloaded.send({"type": "rejoin", "key": call.guest.key})
                await reloaded.expect("waiting")
                assert await reloaded.expect("late") == notice
            assert await _async(_expire, server, 24) == 0  # the moved limit holds across the reload

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
        told = utcnow()
        host.get_by_role("button", name="Tell waiting patients").click()
        # the new time on the clinic's clock (Europe/Oslo), within the minute the notice was sent
        # (this page is in English: a 12-hour clock)
        times = {(told + dt.timedelta(minutes=10, seconds=s)).astimezone(OSLO).strftime("%-I:%M") for s in (0, 30)}
        status = patient.locator("#status")
        expect(status).to_contain_text("The clinician is running late and expects to let you in at about")
        assert any(time in status.inner_text() for time in times), (status.inner_text(), times)
        assert _expire(server, 16) == 0  # told to stay: not sent home at the usual limit
        assert _expire(server, 26) == 1
        expect(patient.get_by_text("You have waited 25 minutes: the clinician is delayed.")).to_be_visible()
        expect(host.locator("#gave-up li", has_text="Kari Nordmann")).to_be_visible()
        expect(host.locator("#waiting li")).to_have_count(0)
        patient.get_by_role("link", name="Back in the queue").click()
        patient.get_by_label("Your full name").fill("Kari Nordmann")
        patient.get_by_role("button", name="Join").click()
        # back in the queue, a new wait: the notice was for the wait that ended
        expect(patient.get_by_text("The clinician has been notified that you are waiting.")).to_be_visible()
        expect(host.locator("#waiting li", has_text="Kari Nordmann")).to_be_visible()
        expect(host.locator("#gave-up-section")).to_be_hidden()
    finally:
        clinic.close()
        phone.close()
