"""Staff meetings (visitt/meetings.py, issue 20 §1): created over the API with colleagues by account and guests
by SMS or e-mail; no patient data anywhere; the title stays with staff; who may see a meeting (its host, the
colleagues invited) and who may not (a clinician of another department, a secretary, an administrator); every
decision audited; bad input a clear 422. And the live side: an invited colleague comes into the call without
knocking, a guest knocks and waits for the host."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from visitt import access, accounts, demo, meetings, retention
from visitt.store.models import AuditEvent, Department, Meeting, OutboxMessage, Participant, Role, Staff, utcnow
from visitt.testing import InProcess, LiveServer
from visitt.web import clock

from .browser import link_in
from .conftest import make_settings
from .peers import WsClient, run, staff_login

TITLE = "MDT lunge: pasient 14"  # what only staff may see
PATIENT_FIELDS = {"patient_name", "patient_phone", "national_id", "patient_email", "outcome", "copayment",
                  "exemption", "external_ref", "journal", "consent"}


def _api(node: InProcess | LiveServer, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
    return node.request(method, f"{node.url}/api/v1{path}", json=body, headers={"Authorization": f"Bearer {token}"})


def _staff(node: InProcess | LiveServer, email: str) -> int:
    with node.database.session() as session:
        found = session.scalar(select(Staff.id).where(Staff.email == email))
        assert found is not None
        return found


def _stranger(node: InProcess | LiveServer) -> str:
    """A trained clinician of another department; their API token."""
    with node.database.session() as session:
        department = Department(name="Ortopedisk poliklinikk", phone="+4769860001")
        session.add(department)
        session.flush()
        other = accounts.create_staff(session, email="ortoped@demo.visitt.no", full_name="Per Ortoped",
                                      role=Role.clinician, password=demo.PASSWORD, department=department)
        other.trained_at = utcnow()
    with node.database.session() as session:
        return accounts.create_api_token(session, "ortoped@demo.visitt.no")


def _token(node: InProcess | LiveServer, email: str) -> str:
    with node.database.session() as session:
        return accounts.create_api_token(session, email)


def _meeting(node: InProcess | LiveServer, **fields: Any) -> httpx.Response:
    body = {"title": TITLE, "duration_minutes": 45, "colleagues": [_staff(node, demo.PEOPLE[1][0])],
            "guests": [{"name": "Dr. Nils Lunde", "phone": "412 34 570", "language": "nb"},
                       {"name": "Dr. Anne Vik", "email": "anne.vik@example.no", "language": "en"}], **fields}
    return _api(node, "POST", "/meetings", node.token, body)


@pytest.fixture
def node(tmp_path: Path) -> Any:
    started = InProcess(make_settings(tmp_path)).start()
    yield started
    started.stop()


@pytest.mark.in_process
def test_a_meeting_invites_colleagues_and_guests_and_holds_no_patient_data(node: InProcess) -> None:
    created = _meeting(node)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["title"] == TITLE and body["state"] == "open" and body["uses_media_server"] is False
    assert not PATIENT_FIELDS & set(body)
    assert [(p["name"], p["cohost"]) for p in body["participants"]] == [
        ("Ola Hansen", True), ("Dr. Nils Lunde", False), ("Dr. Anne Vik", False)]
    invitations = body["invitations"]  # the guests', each with a link and a code of their own
    assert [i["name"] for i in invitations] == ["Dr. Nils Lunde", "Dr. Anne Vik"]
    assert len({i["code"] for i in invitations}) == 2 and all(len(i["code"]) == 6 for i in invitations)

    (sms,) = node.sms()
    assert sms["to"] == "+4741234570"
    assert sms["body"].startswith("Du er invitert til et videomøte") and link_in(sms["body"]) == invitations[0]["join_url"]
    assert invitations[0]["code"] in sms["body"] and "MDT" not in sms["body"]  # neutral: never the title
    (letter,) = node.mail()
    assert letter["To"] == "anne.vik@example.no" and letter["Subject"].startswith("Video meeting")
    text = letter.get_body(("plain",)).get_content()
    assert invitations[1]["join_url"] in text and "MDT" not in text and "overhear" in text

    with node.database.session() as session:
        meeting = session.scalar(select(Meeting))
        assert meeting is not None and meeting.room.appointment is None  # no patient record attached
        colleague = session.scalar(select(Participant).where(Participant.staff_id.is_not(None)))
        assert colleague is not None and colleague.code == ""  # by account: no link or code sent
        rows = [(event.action, event.actor) for event in session.scalars(
            select(AuditEvent).where(AuditEvent.room_id == meeting.room_id).order_by(AuditEvent.id))]
    host = f"staff:{_staff(node, demo.PEOPLE[0][0])}"
    assert rows == [("meeting_created", host), ("invite", host), ("invite", host), ("invite", host)]

    # the colleague invited by account sees it (list and one), with its title
    ola = _token(node, demo.PEOPLE[1][0])
    listed = _api(node, "GET", "/meetings", ola)
    assert [m["title"] for m in listed.json()] == [TITLE]
    assert _api(node, "GET", f"/meetings/{body['id']}", ola).json()["room"] == body["room"]


@pytest.mark.in_process
def test_nobody_else_sees_or_opens_a_meeting(node: InProcess) -> None:
    body = _meeting(node, colleagues=[]).json()
    stranger = _stranger(node)
    for token in (stranger, _token(node, demo.PEOPLE[1][0]), _token(node, demo.PEOPLE[2][0])):
        # another department's clinician, a colleague not invited, the department's secretary
        assert _api(node, "GET", "/meetings", token).json() == []
        refused = _api(node, "GET", f"/meetings/{body['id']}", token)
        assert refused.status_code == 404 and refused.json()["error"]["message"] == "No such meeting."
    with node.database.session() as session:
        meeting = session.get(Meeting, body["id"])
        assert meeting is not None
        admin = accounts.create_staff(session, email="it@demo.visitt.no", full_name="IT", role=Role.admin,
                                      password=demo.PASSWORD, department=None)
        other = session.scalar(select(Staff).where(Staff.email == "ortoped@demo.visitt.no"))
        assert other is not None
        for who in (other, admin):  # the one rule: a meeting is managed by its host alone
            assert not access.may(who, access.Action.manage, meeting.room)
            with pytest.raises(Exception, match="No such consultation"):
                access.room(session, who, meeting.room.public_id)
        guest = meeting.room.participants[0]
        assert not access.may(other, access.Action.cohost, guest)  # nor join on someone else's invitation


@pytest.mark.in_process
def test_bad_input_is_a_clear_422_and_creates_nothing(node: InProcess) -> None:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    host = _staff(node, demo.PEOPLE[0][0])
    refused = _meeting(node, title=" ", starts_at=past, duration_minutes=500, colleagues=[host, 999999],
                       guests=[{"name": "", "phone": "123"}, {"name": "Dr. X", "phone": "412 34 571", "email": "x@example.no"},
                               {"name": "Dr. Y", "email": "not an address"}, {"name": "Dr. Z", "language": "de"}])
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "validation_failed" and error["message"] == "The meeting could not be created."
    assert error["fields"] == {
        "title": "Give the meeting a title.",
        "starts_at": "Choose a time in the future.",
        "duration_minutes": "Choose between 5 and 240 minutes.",
        "colleagues.0": "Choose a clinician from the list.",
        "colleagues.1": "Choose a clinician from the list.",
        "guests.0.name": "Enter their full name.",
        "guests.0.phone": "This is not a valid phone number.",
        "guests.1.email": "Give a mobile number or an e-mail address, not both.",
        "guests.2.email": "Enter a valid e-mail address, for example kari.nordmann@example.no.",
        "guests.3.language": "Choose one of these languages: nb, nn, en, ar, pl, so, ur.",
        "guests.3.phone": "Enter a mobile number, for example 412 34 567.",
    }
    secretary = _api(node, "POST", "/meetings", _token(node, demo.PEOPLE[2][0]), {"title": "Møte"})
    assert secretary.status_code == 403
    with node.database.session() as session:
        assert session.scalar(select(Meeting)) is None


def test_a_colleague_comes_in_without_knocking_and_a_guest_waits_for_the_host(server: LiveServer) -> None:
    body = _meeting(server, guests=[{"name": "Dr. Nils Lunde", "phone": "412 34 570"}]).json()
    room, ola = body["room"], next(p for p in body["participants"] if p["cohost"])
    guest_link = body["invitations"][0]["join_url"]

    async def scenario() -> None:
        host = await WsClient.staff(server, staff_login(server, demo.PEOPLE[0][0]))
        await host.hello()
        colleague = await WsClient.open(server, f"/ws/cohost/{ola['id']}", cookie=staff_login(server, demo.PEOPLE[1][0]))
        await colleague.hello()
        await colleague.send({"type": "knock", "name": "ignored"})
        admitted = await colleague.expect("admitted")  # no waiting room for a colleague invited by account
        assert admitted["room"] == room and "group" not in admitted
        assert "waiting" not in colleague.types
        guest = await WsClient.guest(server, guest_link.rsplit("/", 1)[1])
        await guest.hello()
        await guest.send({"type": "knock", "name": "Nils Lunde"})
        await guest.expect("waiting")
        knock = await host.expect("knock")  # the guest waits: the host (and the co-host in the call) decide
        assert knock["participant"]["name"] == "Nils Lunde" and knock["participant"]["kind"] == "colleague"
        assert knock["participant"]["unscheduled"] is False
        await host.send({"type": "admit", "room": room, "participant": knock["participant"]["id"]})
        joined = await guest.expect("admitted")
        assert {p["name"] for p in joined["participants"]} == {"Dr. Ingrid Berg", "Ola Hansen"}
        for client in (host, colleague, guest):
            await client.close()

    run(scenario())
    with server.database.session() as session:
        actions = [(event.action, event.actor) for event in session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(("knock", "admit", "lock"))).order_by(AuditEvent.id))]
    ola_actor, host_actor = f"staff:{_staff(server, demo.PEOPLE[1][0])}", f"staff:{_staff(server, demo.PEOPLE[0][0])}"
    assert actions[0] == ("knock", f"participant:{ola['id']}") and actions[1] == ("admit", ola_actor)
    assert ("admit", host_actor) in actions and ("lock", host_actor) in actions
    assert meetings.uses_media_server(4, 5) is False and meetings.uses_media_server(5, 5) is True


@pytest.mark.in_process
def test_the_host_invites_another_guest_from_the_call(node: InProcess) -> None:
    body = _meeting(node, colleagues=[], guests=[]).json()
    with node.client(follow_redirects=False, headers={"Accept-Language": "en"}) as client:
        client.get("/staff/login")
        csrf = client.cookies["visitt_csrf"]
        client.post("/staff/login", data={"email": demo.PEOPLE[0][0], "password": demo.PASSWORD, "csrf": csrf})
        invited = client.post(f"/staff/rooms/{body['room']}/participants", data={
            "csrf": csrf, "name": "Dr. Berit Fjell", "kind": "colleague", "phone": "412 34 572"})
        assert invited.status_code == 201, invited.text
        page = client.get("/staff")
        assert TITLE in page.text and "Patient information is discussed in this meeting." in page.text
    (sms,) = node.sms()
    assert sms["to"] == "+4741234572" and sms["body"].startswith("Du er invitert til et videomøte")


@pytest.mark.in_process
def test_retention_removes_a_meetings_title_guests_and_messages(node: InProcess) -> None:
    body = _meeting(node).json()
    node.sms()
    (_letter,) = node.mail()
    with node.database.session() as session:
        meeting = session.get(Meeting, body["id"])
        assert meeting is not None
        room_id, end = meeting.room_id, meeting.starts_at + dt.timedelta(minutes=meeting.duration_minutes)
        sent = list(session.scalars(select(OutboxMessage).where(OutboxMessage.room_id == room_id)))
        assert {message.recipient for message in sent} == {"+4741234570", "anne.vik@example.no"}
    after = end + dt.timedelta(days=node.settings.retention_days)
    assert retention.run_once(node.database, node.settings, now=after - dt.timedelta(minutes=1)) == 0  # not yet
    assert retention.run_once(node.database, node.settings, now=after) == 1
    with node.database.session() as session:
        meeting = session.get(Meeting, body["id"])
        assert meeting is not None and meeting.title == ""
        assert {(p.display_name, p.phone, p.email) for p in meeting.room.participants} == {("", "", "")}
        assert {(m.recipient, m.body) for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.room_id == room_id))} == {("", "")}
    assert list((node.settings.data_dir / "mail").glob("*.eml")) == []


@pytest.mark.in_process
def test_a_meeting_larger_than_the_mesh_needs_the_media_server(tmp_path: Path) -> None:
    node = InProcess(make_settings(tmp_path, max_participants=3)).start()  # no Janus configured
    try:
        refused = _meeting(node)  # the host and three invitations: more than a mesh of three
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "media_server_unavailable"
        fits = _meeting(node, guests=[{"name": "Dr. Nils Lunde", "phone": "412 34 570"}])
        assert fits.status_code == 201 and fits.json()["uses_media_server"] is False
        with node.database.session() as session:
            assert session.query(Meeting).count() == 1  # the refused one left nothing behind
    finally:
        node.stop()


def _queued(node: InProcess) -> int:
    with node.database.session() as session:
        return session.query(OutboxMessage).count()


def _page_client(node: InProcess, email: str) -> Any:
    client = node.client(follow_redirects=False, headers={"Accept-Language": "en"})
    client.get("/staff/login")
    client.post("/staff/login", data={"email": email, "password": demo.PASSWORD, "csrf": client.cookies["visitt_csrf"]})
    return client


@pytest.mark.in_process
def test_the_host_moves_a_meeting_and_the_guests_are_told_neutrally(node: InProcess) -> None:
    starts = (utcnow() + dt.timedelta(days=2)).astimezone(dt.timezone.utc).replace(second=0, microsecond=0)
    body = _meeting(node, starts_at=starts.isoformat(),
                    guests=[{"name": "Dr. Nils Lunde", "phone": "412 34 570", "language": "pl"},
                            {"name": "Dr. Anne Vik", "email": "anne.vik@example.no", "language": "nn"}]).json()
    queued = _queued(node)
    ola, stranger = _token(node, demo.PEOPLE[1][0]), _stranger(node)
    path = f"/meetings/{body['id']}"
    later = (starts + dt.timedelta(days=1, hours=2)).isoformat()
    # only the host: the invited colleague (who sees it), a stranger and an administrator find no such meeting
    admin = _token(node, demo.ADMIN[0])
    for token in (ola, stranger, admin):
        refused = _api(node, "PATCH", path, token, {"starts_at": later})
        assert refused.status_code == 404 and refused.json()["error"]["message"] == "No such meeting."
        assert _api(node, "POST", f"{path}/cancel", token).status_code == 404
    # bad input: every problem named, nothing changed, nobody told
    bad = _api(node, "PATCH", path, node.token, {"title": " ", "starts_at": "2001-01-01T10:00", "duration_minutes": 1})
    assert bad.status_code == 422 and set(bad.json()["error"]["fields"]) == {"title", "starts_at", "duration_minutes"}
    assert _api(node, "PATCH", path, node.token, {"duration_minutes": "long"}).status_code == 422
    assert _queued(node) == queued

    # a new title only: staff see it, guests are told nothing
    renamed = _api(node, "PATCH", path, node.token, {"title": "MDT lunge, ny tittel"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "MDT lunge, ny tittel"
    longer = _api(node, "PATCH", path, node.token, {"duration_minutes": 90})  # a new length only: no move
    assert longer.status_code == 200 and longer.json()["duration_minutes"] == 90
    assert _queued(node) == queued
    moved = _api(node, "PATCH", path, node.token, {"starts_at": later, "duration_minutes": 30})
    assert moved.status_code == 200, moved.text
    assert moved.json()["duration_minutes"] == 30 and moved.json()["state"] == "open"
    moved_to = dt.datetime.fromisoformat(later)
    local = moved_to.astimezone(ZoneInfo(node.settings.timezone))
    day, hour = local.strftime("%d.%m.%Y"), local.strftime("%H:%M")
    sms = node.sms(count=2)[-1]  # in the guest's language, no title, no link (the old one still works)
    assert sms["to"] == "+4741234570" and sms["body"].startswith("Spotkanie wideo zostało przeniesione")
    assert day in sms["body"] and hour in sms["body"] and "MDT" not in sms["body"] and "http" not in sms["body"]
    letter = node.mail(count=2)[-1]
    assert letter["To"] == "anne.vik@example.no" and letter["Content-Language"] == "nn"
    assert letter["Subject"] == f"Flytta: videomøte {day} kl. {hour}"
    calendar = next(part for part in letter.iter_attachments()).get_content()
    assert "SEQUENCE:1" in calendar and "METHOD:REQUEST" in calendar and "MDT" not in letter.as_string()
    # the colleague's dashboard shows the new time; the guest's link still opens the meeting
    with _page_client(node, demo.PEOPLE[1][0]) as client:
        page = client.get("/staff")
        assert "MDT lunge, ny tittel" in page.text  # the new time as an English page writes it: "2:05 PM" after noon
        assert clock.when(moved_to, "en", node.settings.timezone) in page.text
    with node.database.session() as session:
        rows = [(event.action, event.detail) for event in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "meeting_changed").order_by(AuditEvent.id))]
    assert [detail["fields"] for _action, detail in rows] == [
        ["title"], ["duration_minutes"], ["starts_at", "duration_minutes"]]
    assert "MDT" not in str(rows)


@pytest.mark.in_process
def test_the_host_cancels_a_meeting_on_its_page_and_its_links_stop_working(node: InProcess) -> None:
    body = _meeting(node).json()
    guest_link = body["invitations"][0]["join_url"]
    colleague_invitation = next(p["id"] for p in body["participants"] if p["cohost"])
    with _page_client(node, demo.PEOPLE[1][0]) as colleague:  # invited, but not the host: no page to change it
        assert colleague.get(f"/staff/meetings/{body['id']}").status_code == 404
    with _page_client(node, demo.PEOPLE[0][0]) as client:
        page = client.get(f"/staff/meetings/{body['id']}")
        assert page.status_code == 200 and TITLE in page.text and "Cancel meeting and tell the guests" in page.text
        changed = client.post(f"/staff/meetings/{body['id']}", data={
            "csrf": client.cookies["visitt_csrf"], "title": "", "date": "", "time": "", "duration_minutes": "45"})
        assert changed.status_code == 422 and "Give the meeting a title." in changed.text
        assert client.post(f"/staff/meetings/{body['id']}/cancel", data={"csrf": "wrong"}).status_code == 403
        cancelled = client.post(f"/staff/meetings/{body['id']}/cancel", data={"csrf": client.cookies["visitt_csrf"]})
        assert cancelled.status_code == 303 and cancelled.headers["location"] == "/staff?meeting=cancelled"
        dashboard = client.get(cancelled.headers["location"])
        assert "Meeting cancelled. The guests have been told." in dashboard.text and TITLE not in dashboard.text
        assert "This meeting has been cancelled." in client.get(f"/staff/meetings/{body['id']}").text
    sms = node.sms(count=2)[-1]
    assert sms["to"] == "+4741234570" and sms["body"].startswith("Videomøtet") and "avlyst" in sms["body"]
    assert "MDT" not in sms["body"]
    letter = node.mail(count=2)[-1]
    assert letter["Subject"].startswith("Cancelled: video meeting") and "MDT" not in letter.as_string()
    assert "METHOD:CANCEL" in next(part for part in letter.iter_attachments()).get_content()
    # the links: the guest's says so, the colleague's too; the API says it is cancelled and refuses a second time
    with node.client(follow_redirects=False, headers={"Accept-Language": "en"}) as anonymous:
        opened = anonymous.get(guest_link.removeprefix(node.url))
        assert opened.status_code == 410 and "The meeting has been cancelled" in opened.text
        assert "consultation" not in opened.text.lower() and TITLE not in opened.text
    with _page_client(node, demo.PEOPLE[1][0]) as colleague:
        assert TITLE not in colleague.get("/staff").text  # gone from the colleague's dashboard
        refused = colleague.get(f"/staff/cohost/{colleague_invitation}")
        assert refused.status_code == 404 and "The meeting has been cancelled." in refused.text
    shown = _api(node, "GET", f"/meetings/{body['id']}", node.token).json()
    assert shown["cancelled"] is True and shown["state"] == "ended"
    again = _api(node, "POST", f"/meetings/{body['id']}/cancel", node.token)
    assert again.status_code == 409 and again.json()["error"]["message"] == "The meeting has been cancelled."
    assert _api(node, "PATCH", f"/meetings/{body['id']}", node.token, {"title": "x"}).status_code == 409
    with node.database.session() as session:
        host = f"staff:{_staff(node, demo.PEOPLE[0][0])}"
        rows = [(event.action, event.actor) for event in session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(("end", "meeting_cancelled"))).order_by(AuditEvent.id))]
    assert rows == [("end", host), ("meeting_cancelled", host)]


def test_a_guest_waiting_is_told_when_the_meeting_is_cancelled(server: LiveServer) -> None:
    """... and the invited colleague's open dashboard is told to fetch its meetings again, at each change."""
    body = _meeting(server, guests=[{"name": "Dr. Nils Lunde", "phone": "412 34 570"}]).json()
    guest_link = body["invitations"][0]["join_url"]

    async def scenario() -> None:
        host = await WsClient.staff(server, staff_login(server, demo.PEOPLE[0][0]))
        await host.hello()
        colleague = await WsClient.staff(server, staff_login(server, demo.PEOPLE[1][0]))
        await colleague.hello()
        renamed = await asyncio.to_thread(_api, server, "PATCH", f"/meetings/{body['id']}", server.token,
                                          {"title": "MDT lunge og hjerte"})
        assert renamed.status_code == 200, renamed.text
        told = await colleague.expect("meetings_changed")
        assert set(told) == {"type"}  # no title, no time on the socket
        guest = await WsClient.guest(server, guest_link.rsplit("/", 1)[1])
        await guest.hello()
        await guest.send({"type": "knock", "name": "Nils Lunde"})
        await guest.expect("waiting")
        await host.expect("knock")
        cancelled = await asyncio.to_thread(_api, server, "POST", f"/meetings/{body['id']}/cancel", server.token)
        assert cancelled.status_code == 200, cancelled.text
        ended = await guest.expect("ended")
        assert ended["reason"] == "cancelled"
        await colleague.expect("meetings_changed")
        assert "meetings_changed" not in host.types  # the host changed it: nothing to tell them
        for client in (host, colleague, guest):
            await client.close()

    run(scenario())


@pytest.mark.in_process
def test_the_host_invites_a_colleague_to_a_meeting_already_created(node: InProcess) -> None:
    body = _meeting(node, colleagues=[]).json()
    ola = _staff(node, demo.PEOPLE[1][0])
    ola_token = _token(node, demo.PEOPLE[1][0])
    assert _api(node, "GET", "/meetings", ola_token).json() == []  # not invited yet
    with _page_client(node, demo.PEOPLE[0][0]) as client:
        page = client.get(f"/staff/meetings/{body['id']}")
        assert "Invite colleagues with a staff account" in page.text and "Ola Hansen" in page.text
        assert "Dr. Nils Lunde" in page.text  # who is invited already
        path = f"/staff/meetings/{body['id']}/colleagues"
        assert client.post(path, data={"csrf": "wrong", "colleague": str(ola)}).status_code == 403
        none = client.post(path, data={"csrf": client.cookies["visitt_csrf"]})
        assert none.status_code == 422 and "Choose at least one clinician." in none.text
        invited = client.post(path, data={"csrf": client.cookies["visitt_csrf"], "colleague": str(ola)})
        assert invited.status_code == 303 and invited.headers["location"].endswith("?invited=1")
        page = client.get(invited.headers["location"])
        assert "Invited. They see the meeting on their dashboard." in page.text
        assert "Invite colleagues with a staff account" not in page.text  # nobody left to invite
        again = client.post(path, data={"csrf": client.cookies["visitt_csrf"], "colleague": str(ola)})
        assert again.status_code == 422 and "This clinician is already invited." in again.text
    assert [m["title"] for m in _api(node, "GET", "/meetings", ola_token).json()] == [TITLE]
    with _page_client(node, demo.PEOPLE[1][0]) as colleague:
        assert TITLE in colleague.get("/staff").text  # on the colleague's dashboard
        # invited, but not the host: cannot invite others
        assert colleague.post(f"/staff/meetings/{body['id']}/colleagues", data={
            "csrf": colleague.cookies["visitt_csrf"], "colleague": str(ola)}).status_code == 404
    assert len(node.sms()) == 1 and len(node.mail()) == 1  # only the guests' invitations: no message to a colleague

    # the API: the same rules, in the one error shape
    secretary = _staff(node, demo.PEOPLE[2][0])
    refused = _api(node, "POST", f"/meetings/{body['id']}/colleagues", node.token, {"colleagues": [secretary]})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"]["colleagues.0"] == "Choose a clinician from the list."
    assert _api(node, "POST", f"/meetings/{body['id']}/colleagues", node.token, {"colleagues": []}).status_code == 422
    assert _api(node, "POST", f"/meetings/{body['id']}/colleagues", _stranger(node),
                {"colleagues": [ola]}).status_code == 404  # another department's clinician: no such meeting
    with node.database.session() as session:
        host = f"staff:{_staff(node, demo.PEOPLE[0][0])}"
        rows = [(event.action, event.actor, event.detail.get("cohost")) for event in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "invite").order_by(AuditEvent.id))]
    assert rows[-1] == ("invite", host, True) and len(rows) == 3
    assert _api(node, "POST", f"/meetings/{body['id']}/cancel", node.token).status_code == 200
    ended = _api(node, "POST", f"/meetings/{body['id']}/colleagues", node.token, {"colleagues": [ola]})
    assert ended.status_code == 409 and ended.json()["error"]["message"] == "The meeting has been cancelled."


def test_a_colleague_invited_past_the_mesh_needs_the_media_server(tmp_path: Path) -> None:
    node = InProcess(make_settings(tmp_path, max_participants=3)).start()  # no Janus configured
    try:
        body = _meeting(node, colleagues=[]).json()  # the host and two guests: the mesh is full
        refused = _api(node, "POST", f"/meetings/{body['id']}/colleagues", node.token,
                       {"colleagues": [_staff(node, demo.PEOPLE[1][0])]})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "media_server_unavailable"
        assert len(_api(node, "GET", f"/meetings/{body['id']}", node.token).json()["participants"]) == 2
    finally:
        node.stop()

