"""Six-digit codes are unique among open invitations by the database's own constraint (visitt/codes.py):
bookings drawing the same code at the same moment, on PostgreSQL and SQLite, end with one holder and
the others drawing again; an ended room's code, or one whose window has closed, may be drawn again."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import select

from visitt import accounts, codes, rooms
from visitt.store.db import Database
from visitt.store.models import ActiveCode, Appointment, Department, Role, Room, RoomState, utcnow

from .conftest import make_settings

WANTED = "424242"
BOOKINGS = 6


def _host(database: Database) -> int:
    with database.session() as session:
        department = Department(name="Poliklinikk")
        session.add(department)
        return accounts.create_staff(session, email=f"{secrets.token_hex(4)}@example.no", full_name="Ingrid Berg",
                                     role=Role.clinician, password="a long passphrase", department=department).id


def _wanted_first() -> Callable[[], str]:
    """A draw that offers :data:`WANTED` first, then random codes."""
    offered = iter([WANTED])
    return lambda: next(offered, None) or codes.random_code()


def test_bookings_drawing_one_code_at_once_get_one_each(database: Database) -> None:
    host_id = _host(database)
    ready = threading.Barrier(BOOKINGS)
    drawn: dict[int, str] = {}
    failures: list[BaseException] = []

    def book(number: int) -> None:
        try:
            with database.session() as session:
                ready.wait(timeout=30)  # all at once; on PostgreSQL the inserts truly overlap
                room = Room(public_id=secrets.token_urlsafe(12), host_id=host_id)
                drawn[number] = codes.draw(session, room, pick=_wanted_first())
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=book, args=(number,)) for number in range(BOOKINGS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert len(drawn) == BOOKINGS and len(set(drawn.values())) == BOOKINGS
    assert list(drawn.values()).count(WANTED) == 1
    with database.session() as session:
        held = session.execute(select(ActiveCode.code, ActiveCode.room_id)).all()
        assert sorted(code for code, _room in held) == sorted(drawn.values())
        assert len({room for _code, room in held}) == BOOKINGS


def test_a_code_is_free_again_once_its_room_ends_or_its_window_closes(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    host_id = _host(database)
    settings = make_settings(tmp_path, link_closes_hours=4.0)
    with database.session() as session:
        ended = Room(public_id=secrets.token_urlsafe(12), host_id=host_id)
        assert codes.draw(session, ended, pick=lambda: WANTED) == WANTED
    with database.session() as session:
        again = Room(public_id=secrets.token_urlsafe(12), host_id=host_id)
        assert codes.draw(session, again, pick=_wanted_first()) != WANTED  # held
        rooms.move_room(session, ended.id, RoomState.ended, actor="system", action="end")
    with database.session() as session:
        later = Room(public_id=secrets.token_urlsafe(12), host_id=host_id)
        assert codes.draw(session, later, pick=lambda: WANTED) == WANTED  # freed by the end

    # a room that never ended: its code is held until the appointment's link window has closed
    starts = utcnow() - dt.timedelta(hours=5)
    with database.session() as session:
        later_room = session.get(Room, later.id)
        assert later_room is not None
        appointment = Appointment(department_id=1, clinician_id=host_id, booked_by_id=host_id, starts_at=starts,
                                  duration_minutes=30, patient_name="", patient_phone="")
        session.add(appointment)
        later_room.appointment = appointment
    with database.session() as session:
        assert codes.sweep(session, settings, starts + dt.timedelta(hours=4)) == 0  # still open
    with database.session() as session:
        assert codes.sweep(session, settings, starts + dt.timedelta(hours=4, minutes=31)) == 1
        assert session.scalar(select(ActiveCode).where(ActiveCode.code == WANTED)) is None


def test_no_free_code_is_an_error_not_a_loop(database: Database) -> None:
    host_id = _host(database)
    with database.session() as session:
        codes.draw(session, Room(public_id=secrets.token_urlsafe(12), host_id=host_id), pick=lambda: WANTED)
    with database.session() as session:
        with pytest.raises(codes.CodesExhausted):
            codes.draw(session, Room(public_id=secrets.token_urlsafe(12), host_id=host_id), pick=lambda: WANTED,
                       tries=3)
