"""The portal over real HTTP and a real database: departments → listed clinicians → a visit of one's own,
which leads to the ordinary patient page and socket, knocks as an unscheduled visitor, and is limited
per client address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from visitt import accounts, demo
from visitt.store import audit
from visitt.store.models import Department, Participant, Role, Room, RoomState, Staff
from visitt.testing import InProcess, LiveServer

from .conftest import make_settings, settings_from
from .peers import WsClient, book, run, staff_login

INGRID, OLA, SARA = (email for email, _role, _name in demo.PEOPLE)


def ids(server: LiveServer | InProcess) -> dict[str, int]:
    with server.database.session() as session:
        found = {staff.email: staff.id for staff in session.scalars(select(Staff))}
        found["department"] = session.scalar(select(Department.id).where(Department.name == demo.DEPARTMENT[0]))
        return found


@contextmanager
def visitor(server: LiveServer | InProcess, path: str = "/portal") -> Iterator[httpx.Client]:
    """Someone on the portal's first page, with the CSRF cookie a browser would get there."""
    with server.client(headers={"Accept-Language": "en"}) as client:
        assert client.get(path).status_code == 200
        yield client


def visit(client: httpx.Client, door: str, name: str, address: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post(door, data={"name": name, "csrf": client.cookies["visitt_csrf"]}, headers=headers)


def door(server: LiveServer | InProcess, email: str = INGRID) -> str:
    found = ids(server)
    return f"/portal/{found['department']}/{found[email]}"


def token_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/v/([A-Za-z0-9_-]{43})", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


@pytest.mark.in_process
def test_the_portal_lists_departments_and_clinicians_who_take_visitors(server: InProcess) -> None:
    found = ids(server)
    with server.database.session() as session:  # a department with nobody on the portal is not listed
        accounts.create_staff(session, email="hud@example.no", full_name="Per Hud", role=Role.clinician,
                              password=demo.PASSWORD, department=Department(name="Hudavdelingen"))
    front = server.get(server.url + "/", headers={"Accept-Language": "en"})
    assert 'href="/portal"' in front.text

    with visitor(server) as client:
        listing = client.get("/portal")
        assert demo.DEPARTMENT[0] in listing.text and "Hudavdelingen" not in listing.text
        assert f'href="/portal/{found["department"]}"' in listing.text

        department = client.get(f"/portal/{found['department']}")
        assert department.status_code == 200
        assert "Dr. Ingrid Berg" in department.text
        assert "Ola Hansen" not in department.text and "Sara Lie" not in department.text  # not on the portal

        page = client.get(door(server))
        assert page.status_code == 200 and "Video consultation with Dr. Ingrid Berg" in page.text
        assert 'name="name"' in page.text and 'autocomplete="name"' in page.text


@pytest.mark.in_process
@pytest.mark.in_process
@pytest.mark.parametrize("path", ["/portal/999999", "/portal/abc", "/portal/{department}/{ola}",
                                  "/portal/{department}/{sara}", "/portal/{department}/999999",
                                  "/portal/{department}/x", "/portal/999999/{ingrid}"])
def test_unknown_and_unlisted_ids_get_the_same_not_found_page(server: InProcess, path: str) -> None:
    found = ids(server)
    url = path.format(department=found["department"], ola=found[OLA], sara=found[SARA], ingrid=found[INGRID])
    with visitor(server) as client:
        response = client.get(url)
        assert response.status_code == 404
        assert "We could not find that page" in response.text and 'href="/portal"' in response.text
        if url.count("/") == 3:  # a door: posting to it opens nothing either
            assert visit(client, url, "Kari Nordmann").status_code == 404
    with server.database.session() as session:
        assert session.scalars(select(Participant)).all() == []


def test_the_name_is_required_and_checked(server: InProcess) -> None:
    with visitor(server) as client:
        empty = visit(client, door(server), "   ")
        assert empty.status_code == 422
        assert "Enter your full name." in empty.text and 'aria-invalid="true"' in empty.text
        long = visit(client, door(server), "K" * 201)
        assert long.status_code == 422 and "too long" in long.text
        assert client.post(door(server), data={"name": "Kari Nordmann"}).status_code == 403  # no CSRF token
        norwegian = client.post(door(server), data={"name": "", "csrf": client.cookies["visitt_csrf"]},
                                headers={"Accept-Language": "nb"})
        assert norwegian.status_code == 422 and "Skriv inn hele navnet ditt." in norwegian.text
    with server.database.session() as session:
        assert session.scalars(select(Participant)).all() == []


def test_a_visit_leads_to_the_patient_page_and_knocks_as_unscheduled(pg_server: LiveServer) -> None:
    server = pg_server
    with visitor(server) as client:
        response = visit(client, door(server), "  Kari   Nordmann ")
        token = token_of(response)
        assert "Kari" not in response.headers["location"]
        page = client.get(f"/v/{token}")
        assert page.status_code == 200 and 'id="knock-form"' in page.text
        assert 'value="Kari Nordmann"' in page.text  # the name they typed, ready for the knock
        assert "+47 69 86 00 00" in page.text  # the clinician's department's number
    _join_url, booked_token = book(server, "Ola Nordmann")

    with server.database.session() as session:
        (arrival,) = audit.events(session, action="portal_visit")
        room = session.get(Room, arrival.room_id)
        assert room is not None and room.appointment is None and room.host.email == INGRID
        (guest,) = room.participants
        assert arrival.subject == arrival.actor == f"participant:{guest.public_id}"
        assert arrival.detail == {"clinician": room.host_id}
        assert guest.display_name == "Kari Nordmann" and guest.code == "" and guest.phone == ""
        assert "Kari" not in str(arrival.detail)

    async def scenario() -> None:
        cookie = staff_login(server)
        async with await WsClient.staff(server, cookie) as host, \
                await WsClient.guest(server, token) as visiting, await WsClient.guest(server, booked_token) as booked:
            await host.hello()
            await visiting.hello()
            await visiting.send({"type": "knock", "name": "Kari Nordmann"})
            await visiting.expect("waiting")
            knock = await host.expect("knock")
            assert knock["participant"]["unscheduled"] is True and knock["participant"]["starts_at"] is None
            await booked.hello()
            await booked.send({"type": "knock", "name": "Ola Nordmann"})
            knock = await host.expect("knock")
            assert knock["participant"]["unscheduled"] is False
            lobby = await host.expect("lobby")
            while len(lobby["waiting"]) < 2:
                lobby = await host.expect("lobby")
            assert {(entry["name"], entry["unscheduled"]) for entry in lobby["waiting"]} == {
                ("Kari Nordmann", True), ("Ola Nordmann", False)}

    run(scenario())
    with server.database.session() as session:
        first_knock = audit.events(session, action="knock")[0]
        assert first_knock.subject == arrival.subject


def test_an_ended_visit_does_not_block_the_next_visitor(server: LiveServer) -> None:
    with visitor(server) as client:
        first = token_of(visit(client, door(server), "Kari Nordmann"))
        second = token_of(visit(client, door(server), "Per Olsen"))

    async def scenario() -> None:
        cookie = staff_login(server)
        async with await WsClient.staff(server, cookie) as host, await WsClient.guest(server, first) as kari:
            await host.hello()
            await kari.hello()
            await kari.send({"type": "knock", "name": "Kari Nordmann"})
            knock = await host.expect("knock")
            await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
            await kari.expect("admitted")
            await host.send({"type": "end", "room": knock["room"]})
            await kari.expect("ended")
            async with await WsClient.guest(server, second) as per:
                await per.hello()
                await per.send({"type": "knock", "name": "Per Olsen"})
                await per.expect("waiting")  # a room of their own: open, and nobody else's consultation
                knock = await host.expect("knock")
                assert knock["participant"]["name"] == "Per Olsen" and knock["participant"]["unscheduled"]
                await host.send({"type": "admit", "room": knock["room"], "participant": knock["participant"]["id"]})
                admitted = await per.expect("admitted")
                assert [peer["name"] for peer in admitted["participants"]] == ["Dr. Ingrid Berg"]

    run(scenario())
    ended = server.get(f"{server.url}/v/{first}", headers={"Accept-Language": "en"})
    assert ended.status_code == 410 and "start a new visit on the portal" in ended.text
    assert 'href="/portal"' in ended.text
    with server.database.session() as session:
        states = {room.participants[0].display_name: room.state for room in session.scalars(select(Room))}
        assert states == {"Kari Nordmann": RoomState.ended, "Per Olsen": RoomState.locked}


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path, portal_visits_per_address=2)).start()
    yield live
    live.stop()


def test_visits_are_limited_per_address(strict: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    with visitor(strict) as client:
        for name in ("Kari Nordmann", "Kari Nordmann"):
            token_of(visit(client, door(strict), name, address="203.0.113.7"))
        refused = visit(client, door(strict), "Kari Nordmann", address="203.0.113.7")
        assert refused.status_code == 429 and "Too many visits" in refused.text
        token_of(visit(client, door(strict), "Per Olsen", address="203.0.113.8"))  # another address
        assert visit(client, door(strict), "   ", address="203.0.113.7").status_code == 422  # not counted: invalid
    assert "203.0.113.7" not in caplog.text
    with strict.database.session() as session:
        assert len(audit.events(session, action="portal_visit")) == 3


def test_the_portal_path_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from(monkeypatch, VISITT_PORTAL_PATH="/besok/").portal_path == "/besok"
    assert settings_from(monkeypatch, VISITT_PORTAL_PATH="").portal_path == ""
    for taken in ("/staff", "/v/x", "/Besok", "besok", "/api", "/static/portal"):
        with pytest.raises(ValueError, match="VISITT_PORTAL_PATH"):
            settings_from(monkeypatch, VISITT_PORTAL_PATH=taken)
    monkeypatch.delenv("VISITT_PORTAL_PATH")  # the servers below are given their settings

    live = InProcess(make_settings(tmp_path, portal_path="/besok")).start()
    try:
        assert live.get(live.url + "/besok").status_code == 200
        assert live.get(live.url + "/portal").status_code == 404
        with visitor(live, "/besok") as client:
            found = ids(live)
            page = client.get(f"/besok/{found['department']}")
            assert f'href="/besok/{found["department"]}/{found[INGRID]}"' in page.text
            token_of(visit(client, f"/besok/{found['department']}/{found[INGRID]}", "Kari Nordmann"))
        live.stop()
        live = InProcess(live.settings.but(portal_path="")).start()
        assert live.get(live.url + "/portal").status_code == 404
        assert "/portal" not in live.get(live.url + "/").text
    finally:
        live.stop()
