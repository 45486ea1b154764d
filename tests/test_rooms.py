"""The participant, room and appointment state machines, driven through the real operations on a real
database: a patient knocks, is admitted, denied, removed, leaves and comes back; a room is locked, paused
and ended; an appointment is started, marked no-show or cancelled. Each refused step raises
``illegal_transition`` (409) and changes nothing: no state, no audit row."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from visitt import accounts, appointments, rooms
from visitt.store import audit
from visitt.live import protocol
from visitt.store.db import Database, GroupCommit
from visitt.errors import Conflict, Forbidden, IllegalTransition
from visitt.store.models import (
    Appointment,
    AppointmentState,
    AuditEvent,
    Department,
    Participant,
    ParticipantState,
    Role,
    Room,
    RoomState,
    Staff,
    utcnow,
)

from .conftest import PG_ADMIN_URL

P = ParticipantState
A = AppointmentState


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


@dataclass
class Consultation:
    """One booked consultation with one patient, and the operations that move it, each its own transaction."""

    database: Database
    room_id: int
    patient_id: int

    @classmethod
    def booked(cls, database: Database) -> "Consultation":
        return cls(database, *_room(database))

    def run(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.database.session() as session:
            return operation(session, *args, **kwargs)

    # what the people involved do
    def knock(self, name: str = "Kari Nordmann") -> Any:
        return self.run(rooms.knock_participant, self.patient_id, name)

    def move(self, target: ParticipantState, action: str) -> None:
        self.run(rooms.move_participant, self.patient_id, target, actor="staff:1", action=action)

    def admit(self) -> None:
        self.move(P.admitted, "admit")

    def room(self, target: RoomState, action: str) -> None:
        self.run(rooms.move_room, self.room_id, target, actor="staff:1", action=action)

    def pause(self, on: bool) -> None:
        info = protocol.PauseInfo(by="staff-1", name="Lege", reason=None) if on else None
        self.run(rooms.set_paused, self.room_id, info, actor="staff:1")

    def no_show(self) -> None:
        self.run(lambda session: rooms.record_no_show(session, self._appointment(session), actor="staff:1"))

    def cancel(self) -> None:
        def cancel(session: Session) -> None:
            appointment = self._appointment(session)
            staff = session.get(Staff, appointment.clinician_id)
            assert staff is not None
            appointments.cancel(session, appointment, staff=staff, tz=ZoneInfo("Europe/Oslo"),
                                clinic_phone="+47 22 11 80 80")
        self.run(cancel)

    # what can be seen afterwards
    def _appointment(self, session: Session) -> Appointment:
        room = session.get(Room, self.room_id)
        assert room is not None and room.appointment is not None
        return room.appointment

    def states(self) -> tuple[ParticipantState, RoomState, AppointmentState, bool]:
        """The patient's, the room's and the appointment's state, and whether the consultation is paused."""
        with self.database.session() as session:
            room = session.get(Room, self.room_id)
            patient = session.get(Participant, self.patient_id)
            assert room is not None and patient is not None and room.appointment is not None
            return patient.state, room.state, room.appointment.state, room.paused_at is not None

    def trail(self) -> list[tuple[str, str]]:
        with self.database.session() as session:
            return [(event.action, event.actor) for event in audit.events(session, room_id=self.room_id)]

    def refused(self, step: Callable[[], Any]) -> str:
        """Run ``step``, which must be refused as an illegal transition leaving everything as it was; its message."""
        with self.database.session() as session:
            rows = session.scalar(select(func.count()).select_from(AuditEvent))
        before = self.states()
        with pytest.raises(IllegalTransition) as raised:
            step()
        assert raised.value.code == "illegal_transition" and raised.value.status == 409
        assert self.states() == before
        with self.database.session() as session:
            assert session.scalar(select(func.count()).select_from(AuditEvent)) == rows
        return str(raised.value)


def test_a_patient_knocks_is_admitted_leaves_and_comes_back(database: Database) -> None:
    consultation = Consultation.booked(database)
    assert consultation.states() == (P.invited, RoomState.open, A.booked, False)
    assert consultation.knock() is P.invited
    assert consultation.states()[0] is P.waiting
    consultation.admit()
    assert consultation.states() == (P.admitted, RoomState.open, A.in_progress, False)  # the consultation began
    consultation.move(P.left, "leave")
    assert consultation.knock() is P.left
    consultation.admit()
    assert consultation.states() == (P.admitted, RoomState.open, A.in_progress, False)
    assert [action for action, _ in consultation.trail()] == ["knock", "admit", "leave", "knock", "admit"]


@pytest.mark.parametrize(("target", "action"), [(P.admitted, "admit"), (P.denied, "deny"), (P.left, "leave"),
                                                (P.removed, "remove"), (P.invited, "leave")])
def test_an_invitee_who_has_not_knocked_can_only_knock(database: Database, target: ParticipantState,
                                                       action: str) -> None:
    consultation = Consultation.booked(database)
    assert consultation.refused(lambda: consultation.move(target, action)) == \
        f"participant cannot go from 'invited' to {target.value!r}"
    assert consultation.states()[2] is A.booked  # no admission, no consultation begun


def test_a_waiting_patient_is_admitted_or_denied_and_a_denied_one_must_knock_again(database: Database) -> None:
    consultation = Consultation.booked(database)
    consultation.knock()
    for target, action in ((P.removed, "remove"), (P.left, "leave"), (P.waiting, "knock")):
        consultation.refused(lambda: consultation.move(target, action))
    consultation.move(P.denied, "deny")
    assert consultation.refused(consultation.admit) == "participant cannot go from 'denied' to 'admitted'"
    consultation.knock()
    consultation.admit()
    assert consultation.states()[0] is P.admitted


def test_closing_the_page_in_the_waiting_room_ends_the_wait(database: Database) -> None:
    consultation = Consultation.booked(database)
    consultation.knock()
    consultation.move(P.invited, "leave")
    assert consultation.refused(consultation.admit) == "participant cannot go from 'invited' to 'admitted'"
    consultation.knock()
    consultation.admit()


def test_someone_in_the_call_leaves_or_is_removed_and_is_let_in_again_only_after_a_knock(
        database: Database) -> None:
    consultation = Consultation.booked(database)
    consultation.knock()
    consultation.admit()
    for target, action in ((P.admitted, "admit"), (P.denied, "deny"), (P.invited, "leave")):
        consultation.refused(lambda: consultation.move(target, action))
    consultation.move(P.removed, "remove")
    assert consultation.refused(consultation.admit) == "participant cannot go from 'removed' to 'admitted'"
    assert consultation.knock() is P.removed
    consultation.admit()
    assert consultation.states()[0] is P.admitted


def test_a_knock_from_someone_the_database_still_has_in_the_call_closes_that_first(database: Database) -> None:
    """The node holding the call died: the row still says admitted, and the patient knocks again."""
    consultation = Consultation.booked(database)
    consultation.knock()
    consultation.admit()
    assert consultation.knock() is P.admitted
    assert consultation.states()[0] is P.waiting
    assert consultation.trail()[-2:] == [("leave", "system"), ("knock", "participant:p-1")]


def test_the_host_locks_and_unlocks_and_ending_is_final(database: Database) -> None:
    consultation = Consultation.booked(database)
    consultation.room(RoomState.locked, "lock")
    assert consultation.refused(lambda: consultation.room(RoomState.locked, "lock")) == \
        "room cannot go from 'locked' to 'locked'"
    consultation.room(RoomState.open, "unlock")
    assert consultation.refused(lambda: consultation.room(RoomState.open, "unlock")) == \
        "room cannot go from 'open' to 'open'"
    consultation.knock()
    consultation.admit()
    consultation.room(RoomState.ended, "end")
    # everyone is out; no media was seen flowing, so never "completed" (visitt.outcomes)
    assert consultation.states() == (P.left, RoomState.ended, A.technical_failure, False)
    for target, action in ((RoomState.open, "unlock"), (RoomState.locked, "lock"), (RoomState.ended, "end")):
        assert consultation.refused(lambda: consultation.room(target, action)) == \
            f"room cannot go from 'ended' to {target.value!r}"
    assert consultation.refused(consultation.no_show) == "appointment cannot go from 'technical_failure' to 'no_show'"
    assert consultation.refused(consultation.cancel) == \
        "appointment cannot go from 'technical_failure' to 'cancelled'"
    with pytest.raises(Conflict) as ended:
        consultation.pause(True)
    assert ended.value.code == "room_ended"


def test_ending_a_room_sends_the_waiting_back_and_the_admitted_out(database: Database) -> None:
    consultation = Consultation.booked(database)
    with database.session() as session:
        waiting = Participant(public_id="p-2", room_id=consultation.room_id, token_hash="2" * 64, code="123456",
                              phone="+4741234568")
        session.add(waiting)
        session.flush()
        waiting_id = waiting.id
    consultation.knock()
    consultation.admit()
    consultation.run(rooms.knock_participant, waiting_id, "Ola Nordmann")
    consultation.room(RoomState.ended, "end")
    with database.session() as session:
        assert session.get(Participant, waiting_id).state is P.invited  # type: ignore[union-attr]
        left = [(e.subject, e.detail) for e in audit.events(session, room_id=consultation.room_id, action="leave")]
    assert consultation.states()[0] is P.left
    assert sorted(left) == [("participant:p-1", {"reason": "ended"}), ("participant:p-2", {"reason": "ended"})]


def test_the_privacy_pause_goes_on_and_off_once_each_whether_the_room_is_locked_or_not(
        database: Database) -> None:
    consultation = Consultation.booked(database)
    consultation.pause(True)
    assert consultation.refused(lambda: consultation.pause(True)) == \
        "consultation cannot go from 'paused' to 'paused'"
    consultation.room(RoomState.locked, "lock")  # lock and unlock go on working during a pause
    assert consultation.states()[1:] == (RoomState.locked, A.booked, True)
    consultation.pause(False)
    assert consultation.refused(lambda: consultation.pause(False)) == \
        "consultation cannot go from 'running' to 'running'"
    assert [action for action, _ in consultation.trail()] == ["pause", "lock", "resume"]


def test_a_patient_who_never_came_is_a_no_show_once(database: Database) -> None:
    consultation = Consultation.booked(database)
    consultation.no_show()
    assert consultation.states()[1:3] == (RoomState.ended, A.no_show)
    assert consultation.refused(consultation.no_show) == "appointment cannot go from 'no_show' to 'no_show'"
    assert consultation.refused(consultation.cancel) == "appointment cannot go from 'no_show' to 'cancelled'"


def test_a_cancelled_appointment_stays_cancelled(database: Database) -> None:
    consultation = Consultation.booked(database)
    consultation.room(RoomState.locked, "lock")
    consultation.cancel()
    assert consultation.states()[1:3] == (RoomState.ended, A.cancelled)
    assert consultation.refused(consultation.cancel) == "appointment cannot go from 'cancelled' to 'cancelled'"
    assert consultation.refused(consultation.no_show) == "appointment cannot go from 'cancelled' to 'no_show'"
    assert consultation.refused(lambda: consultation.room(RoomState.open, "unlock")) == \
        "room cannot go from 'ended' to 'open'"


def test_once_the_patient_was_admitted_it_is_neither_a_no_show_nor_cancellable(database: Database) -> None:
    consultation = Consultation.booked(database)
    consultation.knock()
    consultation.admit()
    assert consultation.refused(consultation.no_show) == "appointment cannot go from 'in_progress' to 'no_show'"
    assert consultation.refused(consultation.cancel) == "appointment cannot go from 'in_progress' to 'cancelled'"
    consultation.move(P.left, "leave")
    consultation.knock()
    consultation.admit()  # a second admission does not start it again
    assert consultation.states()[2] is A.in_progress


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
        # no media was seen flowing: Visitt's suggestion is a technical failure, unconfirmed (visitt.outcomes)
        assert room.appointment is not None and room.appointment.state is AppointmentState.technical_failure
        assert room.appointment.outcome == "technical_failure" and not room.appointment.outcome_confirmed
        assert room.participants[0].state is P.left and room.participants[0].display_name == "Kari"
        events = audit.events(session, room_id=room_id)
    # refused moves leave no row; ending moves the patient out, audited as the system's
    assert [(e.action, e.actor) for e in events] == [
        ("knock", "participant:p-1"), ("admit", "staff:1"), ("lock", "staff:1"), ("end", "staff:1"),
        ("leave", "system")]
    # the end's row names the outcome Visitt suggested
    assert (events[3].detail["outcome"], events[3].detail["failure"]) == ("technical_failure", "no_connection")
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
