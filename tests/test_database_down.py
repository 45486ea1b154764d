"""The database going away while Visitt runs, and coming back: PostgreSQL behind a proxy the test cuts.

Pages answer 503 with a clear message, the API its error shape with ``database_unavailable``,
``/readyz`` is not ready; a new signaling socket closes with 1013 (try again later); nobody is let
in on the live room alone, while people already in a call go on talking. Restored, everything
works again by itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from playwright.sync_api import expect
from websockets.asyncio.client import connect

from visitt.store.db import CONNECT_TIMEOUT
from visitt.store.models import utcnow
from visitt.testing import LiveServer

from .browser import DESK, PHONE, sign_in
from .conftest import PG_ADMIN_URL, make_settings
from .peers import TIMEOUT, WsClient, book, in_call, run, staff_login, ws_url
from .proxy import Proxy
from .test_signaling import audit_trail

pytestmark = [
    pytest.mark.skipif(not PG_ADMIN_URL, reason="needs PostgreSQL (VISITT_TEST_POSTGRES)"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]
UNAVAILABLE_NB = "Tjenesten er midlertidig utilgjengelig. Prøv igjen om noen minutter."
UNAVAILABLE_EN = "The service is temporarily unavailable. Please try again in a few minutes."
WAITING = "The clinician has been notified that you are waiting."


@pytest.fixture
def proxy(pg_admin_url: str) -> Iterator[Proxy]:
    admin = sqlalchemy.make_url(pg_admin_url)
    cut = Proxy(admin.host or "127.0.0.1", admin.port or 5432).start()
    yield cut
    cut.close()


@pytest.fixture
def server(tmp_path: Path, database_url: str, proxy: Proxy) -> Iterator[LiveServer]:
    """A live server whose every database connection goes through ``proxy``."""
    url = sqlalchemy.make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    live = LiveServer(make_settings(tmp_path, url.render_as_string(hide_password=False), reconnect_grace=5.0)).start()
    yield live
    proxy.restore()  # the server's shutdown and the fixtures' clean-up need the database
    live.stop()


def test_pages_and_the_api_say_the_service_is_unavailable_until_the_database_is_back(
        server: LiveServer, proxy: Proxy) -> None:
    _url, token = book(server)
    with (httpx.Client(base_url=server.url, cookies={"visitt_session": staff_login(server)}) as staff,
          httpx.Client(base_url=server.url) as front):
        csrf = front.get("/").cookies["visitt_csrf"]  # the front page needs no database
        bearer = {"Authorization": f"Bearer {server.token}"}
        proxy.cut()

        page = server.get(f"{server.url}/v/{token}")  # Norwegian unless asked otherwise
        assert page.status_code == 503
        assert UNAVAILABLE_NB in page.text and server.settings.clinic_phone in page.text
        assert page.headers["Retry-After"] == "30" and '<meta http-equiv="refresh" content="30">' in page.text
        english = server.get(f"{server.url}/v/{token}", headers={"Accept-Language": "en"})
        assert english.status_code == 503 and UNAVAILABLE_EN in english.text
        for response in (front.post("/", data={"code": "123 456", "csrf": csrf}), staff.get("/staff"),
                         server.get(f"{server.url}/portal")):
            assert response.status_code == 503 and UNAVAILABLE_NB in response.text

        api = server.get(f"{server.url}/api/v1/appointments", headers=bearer)
        assert api.status_code == 503
        assert api.json() == {"error": {"code": "database_unavailable", "message": UNAVAILABLE_EN}}
        assert api.headers["Retry-After"] == "30"
        ready = server.get(f"{server.url}/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"

        proxy.restore()
        assert server.get(f"{server.url}/v/{token}").status_code == 200
        assert server.get(f"{server.url}/api/v1/appointments", headers=bearer).status_code == 200
        assert server.get(f"{server.url}/readyz").status_code == 200
        assert staff.get("/staff").status_code == 200


def test_a_database_that_hangs_is_given_up_on_within_seconds(server: LiveServer, proxy: Proxy) -> None:
    _url, token = book(server)
    proxy.cut(silent=True)  # connections are accepted and never answered
    started = time.monotonic()
    page = server.get(f"{server.url}/v/{token}", timeout=30)
    assert page.status_code == 503 and UNAVAILABLE_NB in page.text
    assert time.monotonic() - started < CONNECT_TIMEOUT + 3
    ready = server.get(f"{server.url}/readyz", timeout=30)
    assert ready.status_code == 503 and ready.json()["error"]["message"] == "the database did not answer within 2 s"
    proxy.restore()
    assert server.get(f"{server.url}/v/{token}").status_code == 200


def test_nobody_is_admitted_or_knocks_without_the_database(server: LiveServer, proxy: Proxy) -> None:
    async def scenario() -> None:
        _url, token = book(server, "Kari Nordmann")
        _url, other_token = book(server, "Ola Nordmann")
        async with (await WsClient.staff(server, staff_login(server)) as host,
                    await WsClient.guest(server, token) as guest,
                    await WsClient.guest(server, other_token) as other):
            for client in (host, guest, other):
                await client.hello()
            await guest.send({"type": "knock", "name": "Kari Nordmann"})
            await guest.expect("waiting")
            room = (await host.expect("knock"))["room"]
            proxy.cut()

            await host.send({"type": "admit", "room": room, "participant": guest.id})
            await host.expect_error("database_unavailable")
            await host.send({"type": "deny", "room": room, "participant": guest.id})
            await host.expect_error("database_unavailable")
            sweep = server.app.state.hub.lobby.expire_waiting(now=utcnow() + dt.timedelta(minutes=20))
            with pytest.raises(sqlalchemy.exc.OperationalError):  # the waiting-room limit cannot be recorded either
                await asyncio.to_thread(server.call, sweep)
            await other.send({"type": "knock", "name": "Ola Nordmann"})  # cannot be recorded: not in the queue
            await other.expect_error("database_unavailable")
            await guest.sync()
            await host.sync()
            assert not {"admitted", "denied", "wait_expired"} & set(guest.types) and "waiting" not in other.types
            lobby = [message for message in host.received if message["type"] == "lobby"][-1]
            assert [entry["id"] for entry in lobby["waiting"]] == [guest.id]

            proxy.restore()
            await host.send({"type": "admit", "room": room, "participant": guest.id})
            await guest.expect("admitted")
            await other.send({"type": "knock", "name": "Ola Nordmann"})  # the page tries again
            await other.expect("waiting")
        assert [action for action, _ in audit_trail(server, room)].count("admit") == 1

    run(scenario())


def test_a_call_goes_on_while_the_database_is_away(server: LiveServer, proxy: Proxy) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        host, guest, _room = await in_call(server, staff_login(server), token)
        async with host, guest:
            proxy.cut()
            await guest.send({"type": "signal", "to": host.id,
                              "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}})
            assert (await host.expect("signal"))["from"] == guest.id
            await host.send({"type": "chat", "phrase": "cant_hear"})
            assert (await guest.expect("chat"))["phrase"] == "cant_hear"
            await guest.send({"type": "media", "audio": False, "video": True})
            assert (await host.expect("updated"))["participant"]["audio"] is False

    run(scenario())


def test_someone_whose_socket_drops_comes_back_to_the_call_without_the_database(
        server: LiveServer, proxy: Proxy) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        cookie = staff_login(server)
        host, guest, room = await in_call(server, cookie, token)
        proxy.cut()
        await guest.close()  # the phone changes networks; this node saw her socket open a moment ago
        await host.expect("away")
        async with await WsClient.guest(server, token) as back:
            await back.hello()
            await back.send({"type": "rejoin", "key": guest.key})
            assert (await back.expect("admitted"))["resumed"] is True
            assert (await host.expect("back"))["participant"]["id"] == guest.id
            await host.close()  # and the clinician's too
            await back.expect("away")
            async with await WsClient.staff(server, cookie) as desk:
                await desk.hello()
                await desk.send({"type": "enter", "room": room})
                assert [peer["id"] for peer in (await desk.expect("admitted"))["participants"]] == [guest.id]
                await back.expect("back")
                proxy.restore()

    run(scenario())


def test_a_place_that_lapses_while_the_database_is_away_is_not_taken_again_and_its_leave_is_written_later(
        server: LiveServer, proxy: Proxy) -> None:
    """Her socket drops during the outage and stays away past the grace period: she has left, though
    the database could not be told. Once it is back, her page is told her place has lapsed (not let
    in because the database still said admitted), and she knocks like anyone else at the locked room."""
    async def scenario() -> None:
        _url, token = book(server)
        cookie = staff_login(server)
        host, guest, room = await in_call(server, cookie, token)  # admitting her locked the room
        proxy.cut()
        await guest.close()
        await host.expect("away")
        assert (await host.expect("left", timeout=15))["participant"] == guest.id  # the grace (5 s) ran out
        async with connect(ws_url(server, f"/ws/v/{token}"), open_timeout=TIMEOUT) as socket:  # her page tries
            await asyncio.wait_for(socket.wait_closed(), TIMEOUT)
            assert socket.close_code == 1013
        proxy.restore()
        async with await WsClient.guest(server, token) as back:  # the database still says admitted
            await back.hello()
            await back.send({"type": "rejoin", "key": guest.key})  # her own page: still too late
            await back.expect_error("not_resumable")
            await back.send({"type": "knock", "name": "Kari Nordmann"})
            await back.expect("waiting")
            assert (await host.expect("knock"))["participant"]["id"] == guest.id
            assert "admitted" not in back.types
            trail = [action for action, _ in audit_trail(server, room)]
            assert trail[trail.index("admit"):] == ["admit", "leave", "knock"]
        await host.close()

    run(scenario())


def test_a_leave_owed_since_the_outage_is_let_go_when_ending_the_consultation_has_written_it(
        server: LiveServer, proxy: Proxy) -> None:
    """The clinician ends the consultation once the database is back, before the sweep writes the
    leave owed since the outage: the end writes her leave, and the owed one is let go, not tried
    again and again."""
    async def scenario() -> None:
        _url, token = book(server)
        host, guest, room = await in_call(server, staff_login(server), token)
        proxy.cut()
        await guest.close()
        await host.expect("left", timeout=15)  # the grace ran out; her leave is owed
        proxy.restore()
        await host.send({"type": "end", "room": room})
        await host.expect("ended")
        hub = server.app.state.hub
        await asyncio.to_thread(server.call, hub.presence.settle_owed())
        assert not hub.presence.owed
        assert [action for action, _ in audit_trail(server, room)][-3:] == ["admit", "end", "leave"]
        await host.close()

    run(scenario())


def test_a_new_socket_is_told_to_try_again_later_until_the_database_is_back(
        server: LiveServer, proxy: Proxy) -> None:
    async def scenario() -> None:
        _url, token = book(server)
        cookie = staff_login(server)
        async with await WsClient.staff(server, cookie) as dashboard:  # seen lately, but in no call
            await dashboard.hello()
        proxy.cut()
        for path, headers in ((f"/ws/v/{token}", None), ("/ws/staff", {"Cookie": f"visitt_session={cookie}"})):
            async with connect(ws_url(server, path), additional_headers=headers, open_timeout=TIMEOUT) as socket:
                await asyncio.wait_for(socket.wait_closed(), TIMEOUT)
                assert (socket.close_code, socket.close_reason) == (1013, "try again later")
        proxy.restore()
        async with await WsClient.guest(server, token) as guest, await WsClient.staff(server, cookie) as host:
            assert (await guest.hello())["state"] == "ready"
            assert (await host.hello())["role"] == "host"

    run(scenario())


@pytest.mark.browser
def test_the_patients_page_waits_out_the_outage_and_knocks_once_it_is_over(  # type: ignore[no-untyped-def]
        server: LiveServer, proxy: Proxy, browser) -> None:
    clinic, mobile = browser.new_context(**DESK), browser.new_context(**PHONE)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        join_url, _token = book(server)
        patient = mobile.new_page()
        patient.goto(join_url)
        proxy.cut()  # the page is open; the database goes away before the patient knocks
        patient.locator("#name").fill("Kari Nordmann")
        patient.locator("#join").click()
        # The page opens its socket as it loads: if that was before the cut, the knock is refused and she is told
        # to stay; if not, the socket is turned away (1013) and the page says it is reconnecting. Either way it
        # keeps trying, and is never given up.
        trying = re.compile("Reconnecting…|The service is temporarily unavailable. Please stay on this page")
        expect(patient.locator("#status")).to_have_text(trying)
        patient.wait_for_timeout(3000)
        expect(patient.locator("#status")).to_have_text(trying)
        expect(patient.locator("#done")).to_be_hidden()
        expect(host.locator("#waiting li")).to_have_count(0)
        proxy.restore()
        expect(patient.locator("#status")).to_contain_text(WAITING, timeout=10_000)
        host.locator("#waiting li", has_text="Kari Nordmann").locator(".admit").click()
        expect(patient.locator("#call")).to_be_visible()

        host.locator("#checks li .remove-peer").click()  # back to the door, on the same socket
        expect(patient.locator("#join")).to_be_enabled()
        proxy.cut()
        patient.locator("#join").click()  # the knock cannot be recorded: she is told, and the page tries again
        expect(patient.locator("#status")).to_have_text(
            "The service is temporarily unavailable. Please stay on this page: we keep trying.")
        expect(host.locator("#waiting li")).to_have_count(0)
        proxy.restore()
        expect(patient.locator("#status")).to_contain_text(WAITING, timeout=10_000)
        expect(host.locator("#waiting li", has_text="Kari Nordmann")).to_have_count(1)

        proxy.cut()  # the clinician admits her while the database is away: she is not let in
        host.locator("#waiting li", has_text="Kari Nordmann").locator(".admit").click()
        expect(host.locator("#lobby-status")).to_have_text("The service is temporarily unavailable: nobody can be "
                                                           "let in right now. Please try again in a few minutes.")
        expect(patient.locator("#status")).to_contain_text(WAITING)
        expect(patient.locator("#call")).to_be_hidden()
        proxy.restore()
        host.locator("#waiting li", has_text="Kari Nordmann").locator(".admit").click()
        expect(patient.locator("#call")).to_be_visible()
    finally:
        clinic.close()
        mobile.close()
