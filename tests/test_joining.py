"""When the link works: its window, the pages for early and late visitors, the knock refused outside the
window, and the guest pass that code entry hands out."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from visitt import joining
from visitt.store.models import Appointment, Meeting, Participant, utcnow
from visitt.settings import Settings
from visitt.testing import LiveServer

from .conftest import make_settings
from .peers import WsClient, run
from .test_meetings import TITLE, _meeting

START = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
OSLO = ZoneInfo("Europe/Oslo")  # the clinic's time zone in the test settings


@pytest.fixture
def clinic(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    """A live server with the real link window: from 30 minutes before to 4 hours after."""
    live = LiveServer(make_settings(tmp_path, database_url, link_opens_minutes=30, link_closes_hours=4)).start()
    yield live
    live.stop()


def book(server: LiveServer, starts_in: dt.timedelta) -> tuple[int, str]:
    """Book an appointment for the first demo clinician; returns its id and the link's token."""
    starts_at = dt.datetime.now(dt.UTC) + starts_in
    response = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                          json={"patient_name": "Kari Nordmann", "patient_phone": "412 34 567",
                                "starts_at": starts_at.isoformat(), "duration_minutes": 30})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["join_url"].rsplit("/v/", 1)[1]


def move(server: LiveServer, appointment_id: int, starts_in: dt.timedelta) -> dt.datetime:
    with server.database.session() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None
        appointment.starts_at = dt.datetime.now(dt.UTC) + starts_in
        return appointment.starts_at


def test_window_opens_before_the_start_and_closes_hours_after_the_end() -> None:
    appointment = Appointment(starts_at=START, duration_minutes=30)
    window = joining.window(appointment, Settings(link_opens_minutes=30, link_closes_hours=4))
    assert window == joining.Window(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC),
                                    dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC))
    assert window.timing(window.opens_at - dt.timedelta(seconds=1)) is joining.Timing.early
    assert window.timing(window.opens_at) is joining.Timing.open
    assert window.timing(window.closes_at - dt.timedelta(seconds=1)) is joining.Timing.open
    assert window.timing(window.closes_at) is joining.Timing.late
    assert joining.window(None, Settings()) is None  # a room with no appointment has no window
    with pytest.raises(ValueError):
        joining.Window(START, START)


NORWEGIAN_MONTHS = ("januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober",
                    "november", "desember")


def _english_time(instant: dt.datetime) -> str:
    return f"{instant:%-I:%M %p}"


def _text(response: httpx.Response) -> str:
    """What the reader sees: tags out, every kind of space one plain space (CLDR puts a narrow one before PM)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.text))


def test_early_and_late_visitors_are_told_when_to_come_or_whom_to_call(clinic: LiveServer) -> None:
    appointment_id, token = book(clinic, dt.timedelta(days=2))
    link = f"{clinic.url}/v/{token}"
    starts = move(clinic, appointment_id, dt.timedelta(days=2)).astimezone(OSLO)
    opens = starts - dt.timedelta(minutes=30)
    early = httpx.get(link, headers={"Accept-Language": "en"})
    assert early.status_code == 403 and "It is too early to join" in early.text
    # dates with the month in words and times as each language writes them, on the clinic's clock
    assert (f"Your consultation is on {starts:%B} {starts.day}, {starts.year} at {_english_time(starts)}. The link "
            f"opens 30 minutes before, on {opens:%b} {opens.day}, {opens.year}, {_english_time(opens)}. Please come "
            "back then.") in _text(early)
    assert "Your full name" not in early.text
    norsk = httpx.get(link, headers={"Accept-Language": "nb"})
    assert norsk.status_code == 403
    assert (f"{starts.day}. {NORWEGIAN_MONTHS[starts.month - 1]} {starts.year} klokken {starts:%H:%M}. Lenken åpner 30 "
            "minutter før") in _text(norsk)

    soon = move(clinic, appointment_id, dt.timedelta(minutes=20)).astimezone(OSLO)
    lobby = httpx.get(link, headers={"Accept-Language": "en"})
    assert "Your full name" in lobby.text  # inside the window, and the lobby says when, the month in words
    assert f"{soon:%b} {soon.day}, {soon.year}, {_english_time(soon)}" in _text(lobby)

    starts = move(clinic, appointment_id, -dt.timedelta(hours=5)).astimezone(OSLO)  # the link closed 30 min ago
    late = httpx.get(link, headers={"Accept-Language": "en"})
    assert late.status_code == 410 and "This link no longer works" in late.text
    assert f"Your consultation was on {starts:%B} {starts.day}, {starts.year} at {_english_time(starts)}" in _text(late)
    # the department's phone (kept left to right inside any text: <bdi dir="ltr">)
    assert "Call the clinic at +47 69 86 00 00" in re.sub(r"<[^>]+>", "", late.text)


def knock(server: LiveServer, token: str, expect: str, name: str = "Kari Nordmann") -> None:
    """Knock on the socket with the link's ``token``; ``expect``: ``waiting``, or the error's code."""
    async def knocked() -> None:
        async with await WsClient.guest(server, token) as guest:
            await guest.hello()
            await guest.send({"type": "knock", "name": name})
            if expect == "waiting":
                await guest.expect("waiting")
            else:
                await guest.expect_error(expect)
    run(knocked())


def test_knock_outside_the_window_is_refused(clinic: LiveServer) -> None:
    appointment_id, token = book(clinic, dt.timedelta(days=2))
    knock(clinic, token, "too_early")
    move(clinic, appointment_id, -dt.timedelta(hours=5))
    knock(clinic, token, "too_late")
    move(clinic, appointment_id, dt.timedelta(minutes=10))  # moved: the window is read at each knock
    knock(clinic, token, "waiting")


def test_guest_pass_lasts_until_the_window_closes(clinic: LiveServer) -> None:
    appointment_id, _token = book(clinic, dt.timedelta(minutes=10))
    settings = clinic.settings
    with clinic.database.session() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None
        participant: Participant = appointment.room.participants[0]
        value, expires_at = joining.issue_pass(session, participant, settings)
        window = joining.window(appointment, settings)
        assert window is not None and expires_at == window.closes_at
    with clinic.database.session() as session:
        assert joining.participant_for_pass(session, value).id == participant.id  # type: ignore[union-attr]
        after = expires_at + dt.timedelta(seconds=1)
        assert joining.participant_for_pass(session, value, now=after) is None
        assert joining.participant_for_pass(session, "forged") is None
        assert joining.participant_for_pass(session, None) is None

    async def without_pass() -> None:
        with pytest.raises(InvalidStatus) as refused:
            await WsClient.open(clinic, "/ws/v")
        assert refused.value.response.status_code == 403

    run(without_pass())


def test_a_meeting_guests_link_works_only_around_the_meetings_time(clinic: LiveServer) -> None:
    """The link window of an appointment's invitations, for a meeting's: from 30 minutes before it to 4 hours after
    it ends, read at each page and each knock, so a moved meeting counts at once; in meeting words."""
    starts = (utcnow() + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    body = _meeting(clinic, colleagues=[], starts_at=starts.isoformat()).json()
    link = body["invitations"][0]["join_url"]
    token = link.rsplit("/", 1)[-1]

    def page() -> httpx.Response:
        return httpx.get(link, headers={"Accept-Language": "en"})

    def moved(to: dt.datetime) -> None:  # as if it had been held then: the API only moves into the future
        with clinic.database.session() as session:
            meeting = session.get(Meeting, body["id"])
            assert meeting is not None
            meeting.starts_at = to
            session.commit()

    early = page()
    assert early.status_code == 403 and "It is too early to join" in early.text
    assert "Your video meeting is on" in early.text and "consultation" not in early.text.lower()
    knock(clinic, token, "too_early", "Dr. Nils Lunde")

    moved(utcnow() - dt.timedelta(hours=6))  # ended 5 h ago: the link closed an hour ago
    late = page()
    assert late.status_code == 410 and "This link no longer works" in late.text
    assert "Your video meeting was on" in late.text and "Contact the person who invited you" in late.text
    assert TITLE not in late.text
    knock(clinic, token, "too_late", "Dr. Nils Lunde")

    moved(utcnow() + dt.timedelta(minutes=10))  # moved: the window is read at each page and knock
    assert "Your full name" in page().text
    knock(clinic, token, "waiting", "Dr. Nils Lunde")
