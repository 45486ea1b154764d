"""The participant, room and appointment state machines: every legal move, every illegal one refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools

import pytest
import sqlalchemy
from sqlalchemy import select, text

from visitt import accounts, audit, rooms
from visitt.db import Database, GroupCommit
from visitt.errors import Forbidden, IllegalTransition
from visitt.models import (
    Appointment,
    AppointmentState,
    Department,
    Participant,
    ParticipantState,
    Role,
    Room,
    RoomState,
    utcnow,
)

from .conftest import PG_ADMIN_URL

P = ParticipantState
LEGAL_PARTICIPANT = {
    (P.invited, P.waiting), (P.waiting, P.admitted), (P.waiting, P.denied), (P.waiting, P.invited),
    (P.admitted, P.left), (P.admitted, P.removed), (P.denied, P.waiting), (P.left, P.waiting),
    (P.removed, P.waiting),
}
LEGAL_ROOM = {(RoomState.open, RoomState.locked), (RoomState.locked, RoomState.open),
              (RoomState.open, RoomState.ended), (RoomState.locked, RoomState.ended)}
A = AppointmentState
LEGAL_APPOINTMENT = {(A.booked, A.in_progress), (A.booked, A.no_show), (A.booked, A.cancelled),
                     (A.in_progress, A.completed), (A.in_progress, A.technical_failure)}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(P, P)))
def test_participant_moves(current: ParticipantState, target: ParticipantState) -> None:
    if (current, target) in LEGAL_PARTICIPANT:
        rooms.check_participant_move(current, target)
    else:
        with pytest.raises(IllegalTransition) as raised:
            rooms.check_participant_move(current, target)
        assert str(raised.value) == f"participant cannot go from {current.value!r} to {target.value!r}"
        assert raised.value.code == "illegal_transition" and raised.value.status == 409


@pytest.mark.parametrize(("current", "target"), list(itertools.product(RoomState, RoomState)))
def test_room_moves(current: RoomState, target: RoomState) -> None:
    if (current, target) in LEGAL_ROOM:
        rooms.check_room_move(current, target)
    else:
        with pytest.raises(IllegalTransition, match=f"room cannot go from '{current.value}' to '{target.value}'"):
            rooms.check_room_move(current, target)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(A, A)))
def test_appointment_moves(current: AppointmentState, target: AppointmentState) -> None:
    if (current, target) in LEGAL_APPOINTMENT:
        rooms.check_appointment_move(current, target)
    else:
        with pytest.raises(IllegalTransition, match="appointment cannot go from"):
            rooms.check_appointment_move(current, target)


def _room(database: Database) -> tuple[int, int]:
    with database.session() as session:
        department = Department(name="Poliklinikk")
        clinician = accounts.create_staff(session, email="lege@example.no", full_name="Lege", role=Role.clinician,
                                          password="a long password", department=department)
        appointment = Appointment(department=department, clinician_id=clinician.id, booked_by_id=clinician.id,
                                  starts_at=utcnow() + dt.timedelta(hours=1), duration_minutes=30,
                                  patient_name="Kari", patient_phone="+4741234567")
        room = Room(public_id="room-1", host_id=clinician.id, appointment=appointment)
        participant = Participant(public_id="p-1", room=room, token_hash="0" * 64, code="123456", phone="+4741234567")
        session.add_all([appointment, room, participant])
        session.flush()
        return room.id, participant.id


def test_moves_are_persisted_and_audited(database: Database) -> None:
    room_id, participant_id = _room(database)

    def move(function, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        with database.session() as session:
            function(session, *args, **kwargs)

    move(rooms.move_participant, participant_id, P.waiting, actor="participant:p-1", action="knock", name="Kari")
    move(rooms.move_participant, participant_id, P.admitted, actor="staff:1", action="admit")
    move(rooms.move_room, room_id, RoomState.locked, actor="staff:1", action="lock")
    with pytest.raises(IllegalTransition):
        move(rooms.move_participant, participant_id, P.denied, actor="staff:1", action="deny")
    move(rooms.move_room, room_id, RoomState.ended, actor="staff:1", action="end")
    with pytest.raises(IllegalTransition):
        move(rooms.move_room, room_id, RoomState.open, actor="staff:1", action="unlock")

    with database.session() as session:
        room = session.get(Room, room_id)
        assert room is not None and room.state is RoomState.ended and room.ended_at is not None
        assert room.appointment is not None and room.appointment.state is AppointmentState.completed
        assert room.participants[0].state is P.left and room.participants[0].display_name == "Kari"
        events = audit.events(session, room_id=room_id)
    # refused moves leave no row; ending moves the patient out, audited as the system's
    assert [(e.action, e.actor) for e in events] == [
        ("knock", "participant:p-1"), ("admit", "staff:1"), ("lock", "staff:1"), ("end", "staff:1"),
        ("leave", "system")]
    assert all(e.at.tzinfo is not None for e in events)
    assert events[1].actor == "staff:1" and events[1].subject == "participant:p-1"


def test_knocks_written_together_fail_alone(database: Database) -> None:
    """Knocks that reach the server at the same moment share a transaction; one refused knock (a link used
    too early, here) is refused to that patient only: the others are in the waiting room, audited once each."""
    room_id, first = _room(database)
    with database.session() as session:
        others = [Participant(public_id=f"p-{n}", room_id=room_id, token_hash=f"{n}" * 64, code="123456",
                              phone="+4741234567") for n in (2, 3)]
        session.add_all(others)
        session.flush()
        ids = [first, *(participant.id for participant in others)]

    def too_early(participant: rooms.Locked) -> None:
        if participant.public_id == "p-2":
            raise Forbidden("the link does not work yet", code="too_early")

    async def knock_at_once() -> list[object]:
        async with GroupCommit(database, rooms.lock_participants) as writes:
            return await asyncio.gather(*(writes.run(rooms.knock_participant, participant_id, "Kari", too_early,
                                                     locks=participant_id) for participant_id in ids),
                                        return_exceptions=True)

    outcomes = asyncio.run(knock_at_once())
    assert outcomes[0] is P.invited and outcomes[2] is P.invited
    assert isinstance(outcomes[1], Forbidden) and outcomes[1].code == "too_early"
    with database.session() as session:
        states = {p.public_id: p.state for p in session.scalars(select(Participant).order_by(Participant.id))}
        knocks = [event.subject for event in audit.events(session, room_id=room_id, action="knock")]
    assert states == {"p-1": P.waiting, "p-2": P.invited, "p-3": P.waiting}
    assert sorted(knocks) == ["participant:p-1", "participant:p-3"]


def test_knocks_and_leaves_arriving_together_each_land_once(database: Database) -> None:
    """Sixty patients knock at the same moment, leave and knock again: every move is written, in
    whichever transaction took it, and audited once."""
    room_id, first = _room(database)
    with database.session() as session:
        others = [Participant(public_id=f"p-{n}", room_id=room_id, token_hash=f"{n:064d}", code="123456",
                              phone="+4741234567") for n in range(2, 61)]
        session.add_all(others)
        session.flush()
        ids = [first, *(participant.id for participant in others)]

    async def knock_and_leave(writes: GroupCommit, participant_id: int) -> None:
        await writes.run(rooms.knock_participant, participant_id, "Kari", locks=participant_id)
        await writes.run(rooms.move_participant, participant_id, P.invited, actor="system", action="leave",
                         locks=participant_id)
        await writes.run(rooms.knock_participant, participant_id, "Kari Nordmann", locks=participant_id)

    async def everyone() -> None:
        async with GroupCommit(database, rooms.lock_participants) as writes:
            await asyncio.gather(*(knock_and_leave(writes, participant_id) for participant_id in ids))

    asyncio.run(everyone())
    with database.session() as session:
        rows = session.execute(select(Participant.state, Participant.display_name)).all()
        actions = [event.action for event in audit.events(session, room_id=room_id)]
    assert rows == [(P.waiting, "Kari Nordmann")] * 60
    assert sorted(actions) == ["knock"] * 120 + ["leave"] * 60


def test_a_transaction_that_moves_a_row_twice_ends_as_its_last_move_says_and_audits_each_in_order(
        database: Database) -> None:
    """Many moves in one transaction are written together (on PostgreSQL as one statement each for the
    rows and the audit trail): a patient who knocks and leaves in it ends invited, under the name they
    gave, and the trail keeps the order of what happened."""
    room_id, first = _room(database)
    with database.session() as session:
        other = Participant(public_id="p-2", room_id=room_id, token_hash="2" * 64, code="123456",
                            phone="+4741234567")
        session.add(other)
        session.flush()
        second = other.id
    with database.session() as session:
        rooms.lock_participants(session, [first, second])
        rooms.knock_participant(session, first, "Kari Nordmann")
        rooms.knock_participant(session, second, "Ola Nordmann")
        rooms.move_participant(session, first, P.invited, actor="participant:p-1", action="leave")
        audit.record(session, "system", "leave", room_id=room_id, subject="participant:p-2", reason="connection_lost")
    with database.session() as session:
        rows = session.execute(select(Participant.public_id, Participant.state, Participant.display_name)
                               .order_by(Participant.public_id)).all()
        trail = [(event.action, event.subject, event.detail) for event in audit.events(session, room_id=room_id)]
    assert rows == [("p-1", P.invited, "Kari Nordmann"), ("p-2", P.waiting, "Ola Nordmann")]
    assert trail == [("knock", "participant:p-1", {}), ("knock", "participant:p-2", {}),
                     ("leave", "participant:p-1", {}), ("leave", "participant:p-2", {"reason": "connection_lost"})]


@pytest.mark.skipif(not PG_ADMIN_URL, reason="needs PostgreSQL (VISITT_TEST_POSTGRES)")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has no server to close it
def test_after_the_database_server_closed_the_hubs_connection_the_next_knock_lands_all_the_same(
        database: Database, pg_admin: sqlalchemy.Engine) -> None:
    """PostgreSQL restarted, or ended an idle session, while the hub's writer held its connection: the
    next patient to knock is not told the service is unavailable, and is in the waiting room once."""
    room_id, first = _room(database)

    async def knock_leave_and_knock_again() -> None:
        async with GroupCommit(database, rooms.lock_participants) as writes:
            await writes.run(rooms.knock_participant, first, "Kari", locks=first)
            await writes.run(rooms.move_participant, first, P.invited, actor="system", action="leave", locks=first)
            with pg_admin.connect() as connection:
                closed = connection.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                            "WHERE datname = :name AND pid <> pg_backend_pid()"),
                                       {"name": database.engine.url.database}).scalar_one()
            assert closed >= 1
            assert await writes.run(rooms.knock_participant, first, "Kari Nordmann", locks=first) is P.invited

    asyncio.run(knock_leave_and_knock_again())
    with database.session() as session:
        assert session.scalars(select(Participant.state)).all() == [P.waiting]
        actions = [event.action for event in audit.events(session, room_id=room_id)]
    assert actions == ["knock", "leave", "knock"]
